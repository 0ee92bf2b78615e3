"""`laporbot chat`'s `/photo PATH`: only an existing JPEG, PNG or WebP file of at most 5 MB goes
out as a photo; anything else gets a friendly line and the conversation goes on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from laporbot.cli import main
from laporbot.cli.chat import photo_problem
from laporbot.clock import FixedClock
from laporbot.photos import MAX_PHOTO_BYTES, check_photo_file, image_extension
from laporbot.settings import Settings

NOW = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + bytes(64)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(64)


def test_the_shared_check_reads_the_bytes_not_the_name(tmp_path: Path) -> None:
    assert [image_extension(data) for data in (JPEG, PNG, WEBP)] == ["jpg", "png", "webp"]
    assert image_extension(b"RIFF\x24\x00\x00\x00WAVEfmt ") is None
    assert image_extension(b"hostname\n") is None
    disguised = tmp_path / "foto.jpg"
    disguised.write_text("laporbot-host\n")
    assert check_photo_file(disguised) == "not_image"
    assert check_photo_file(tmp_path / "nowhere.jpg") == "missing"
    assert check_photo_file(tmp_path) == "missing"  # a folder is no photo
    huge = tmp_path / "huge.jpg"
    with huge.open("wb") as file:
        file.write(JPEG)
        file.truncate(MAX_PHOTO_BYTES + 1)
    assert check_photo_file(huge) == "too_big"
    exact = tmp_path / "exact.png"
    with exact.open("wb") as file:
        file.write(PNG)
        file.truncate(MAX_PHOTO_BYTES)
    assert check_photo_file(exact) is None
    assert photo_problem(f"/photo {exact}") is None
    assert photo_problem("halo") is None


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("hostname", b"laporbot-host\n", "bukan foto"),
        ("missing.jpg", None, "tidak ditemukan"),
    ],
)
def test_a_bad_photo_is_refused_and_the_conversation_goes_on(
    tmp_path: Path, name: str, content: bytes | None, expected: str
) -> None:
    settings = Settings(data_dir=tmp_path)
    bad = tmp_path / name
    if content is not None:
        bad.write_bytes(content)
    good = tmp_path / "anak.webp"
    good.write_bytes(WEBP)
    lines = ["halo", f"/photo {bad}", f"/photo {good}", ""]
    result = CliRunner().invoke(
        main,
        ["chat", "--user", "t1"],
        input="\n".join(lines),
        obj={"settings": settings, "clock": FixedClock(NOW)},
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    after_bad = result.output.split(f"you: /photo {bad}\n", 1)[1]
    refusal, rest = after_bad.split("\n", 1)
    assert expected in refusal
    assert not refusal.startswith("bot:")
    # The good photo after it reaches the bot and is answered.
    assert rest.startswith(f"you: /photo {good}\nbot: ")
