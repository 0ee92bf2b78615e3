"""Where the shipped data folders live: beside the source tree, or inside an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The shipped folder `name` (standards, conversations, locales).

    An editable install or a checkout reads the folder at the repository top; a wheel carries
    a copy under `laporbot/_data/`.
    """
    checkout = _PACKAGE.parents[1] / name
    if checkout.is_dir():
        return checkout
    return _PACKAGE / "_data" / name
