"""What a citizen may send as a photo: a JPEG, PNG or WebP image, told by its first bytes (not
its name), of at most 5 MB (a phone photo). The web chat's upload route and `laporbot chat`'s
`/photo PATH` apply the same check.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from laporbot.settings import Settings

MAX_PHOTO_BYTES = 5 * 1024 * 1024
#: A web chat photo's reference: stored under `<data_dir>/uploads/` by its SHA-256.
UPLOAD_PREFIX = "web-upload:"
# What a photo's first bytes must be. WebP is a RIFF container, checked apart.
_IMAGE_MAGIC = ((b"\xff\xd8\xff", "jpg"), (b"\x89PNG\r\n\x1a\n", "png"))

#: Why a file is not taken as a photo.
PhotoProblem = Literal["missing", "too_big", "not_image"]


def image_extension(data: bytes) -> str | None:
    """ "jpg", "png" or "webp" when `data` starts as such an image does; None otherwise."""
    for magic, extension in _IMAGE_MAGIC:
        if data.startswith(magic):
            return extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_photo_file(path: Path) -> PhotoProblem | None:
    """None when `path` is a photo a citizen may send; else what is wrong with it. Reads at
    most the first bytes of the file, whatever its size."""
    try:
        if not path.is_file():
            return "missing"
        if path.stat().st_size > MAX_PHOTO_BYTES:
            return "too_big"
        with path.open("rb") as file:
            head = file.read(16)
    except OSError:  # unreadable (permissions, a vanished file): as good as missing
        return "missing"
    return None if image_extension(head) is not None else "not_image"


def upload_path(settings: Settings, ref: str) -> Path | None:
    """The file a web chat photo reference names, or None when `ref` is not one."""
    if not ref.startswith(UPLOAD_PREFIX):
        return None
    name = ref.removeprefix(UPLOAD_PREFIX)
    if not re.fullmatch(r"[0-9a-f]{64}\.(jpg|png|webp)", name):
        return None
    return settings.data_dir / "uploads" / name
