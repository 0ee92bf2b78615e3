"""Free text where a button was expected."""

from __future__ import annotations

import pytest

from laporbot.flows.matching import match_option

OPTIONS = [
    ("anak_terlantar", ["Anak terlantar", "Abandoned child"]),
    ("lansia_terlantar", ["Lansia terlantar", "Abandoned elderly person"]),
    ("anak_jalanan", ["Anak jalanan", "Street child"]),
    ("anak_korban_napza", ["Anak korban NAPZA", "Child affected by drugs (NAPZA)"]),
    ("other", ["Lainnya", "Other"]),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2", "lansia_terlantar"),
        (" 5 ", "other"),
        ("6", None),
        ("0", None),
        ("Lansia Terlantar!", "lansia_terlantar"),
        ("lansia", "lansia_terlantar"),
        ("elderly", "lansia_terlantar"),
        ("street", "anak_jalanan"),
        ("napza", "anak_korban_napza"),
        ("anak terlantr", "anak_terlantar"),
        ("anak", None),  # three options start with it: ask again rather than guess
        ("terlantar", None),
        ("pisang goreng", None),
        ("", None),
        ("other", "other"),
        ("²", None),  # a superscript is a digit to str.isdigit but not a number
    ],
)
def test_match_option(text: str, expected: str | None) -> None:
    assert match_option(text, OPTIONS) == expected


@pytest.mark.parametrize("text", ["+62 812 3456 ⁷⁸⁹⁰", "0812345678⁹"])
def test_phone_refuses_non_ascii_digits(text: str) -> None:
    from laporbot.flows.steps.phone import normalize_phone

    assert normalize_phone(text) is None
