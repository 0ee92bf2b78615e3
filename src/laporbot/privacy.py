"""What may never reach a group chat: a child's identity (UU 11/2012 Pasal 19, UU 35/2014).

A group message about a case carries its number, category, area (kecamatan), priority and
times; never the protected person's name or description, a photo, the exact address or the
reporter's phone. Every message laporbot addresses to a group passes `check_group_message`
before it is queued, and the test suite runs the same check on every group message any test
queues (tests/officers/privacy_guard.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from laporbot.db.models import Case
from laporbot.errors import LaporbotError
from laporbot.messages import OutboundMessage

# Keys of `Case.subject` / `Case.details` that hold identifying words.
_IDENTIFYING_KEYS = ("name", "nama", "child_name", "full_name", "address", "alamat")
# Free-text descriptions are checked only when long enough to be specific: "anak" must not
# count as a leak of a condition written as "anak".
_MIN_FREE_TEXT = 12
_MIN_EXACT = 4


class PrivacyViolation(LaporbotError):
    """A message meant for a group would disclose a protected person's identity."""

    def __init__(self, chat_id: str, what: str) -> None:
        self.chat_id = chat_id
        self.what = what
        super().__init__(f"group message to {chat_id} would disclose {what}")


def is_group_chat(channel: str, chat_id: str) -> bool:
    """Telegram groups and supergroups have negative chat ids; private chats positive ones."""
    return channel == "telegram" and chat_id.startswith("-")


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def protected_fragments(case: Case, phone: str | None = None) -> list[tuple[str, str]]:
    """(what, text) pairs that must not appear in a group message about `case`."""
    found: list[tuple[str, str]] = []
    # The area (kecamatan, kabupaten) is shown on purpose; an "address" that is only the area
    # name is no secret.
    areas = {(name or "").strip().casefold() for name in (case.kecamatan, case.kabupaten)}
    address = (case.address or "").strip()
    if len(address) >= _MIN_EXACT and address.casefold() not in areas:
        found.append(("the address", address))
    subject = case.subject or {}
    for key in _IDENTIFYING_KEYS:
        for text in _strings(subject.get(key)):
            if len(text.strip()) >= _MIN_EXACT:
                found.append((f"the subject's {key}", text.strip()))
    condition = subject.get("condition")
    for text in _strings(condition):
        if len(text.strip()) >= _MIN_FREE_TEXT:
            found.append(("the subject's description", text.strip()))
    if case.photo_ref:
        found.append(("the photo", case.photo_ref))
    if phone and len(phone) >= _MIN_EXACT:
        found.append(("the reporter's phone", phone))
    if case.latitude is not None and case.longitude is not None:
        found.append(("the exact location", f"{case.latitude:.4f}"))
        found.append(("the exact location", f"{case.longitude:.4f}"))
    return found


def leaks(text: str, fragments: Iterable[tuple[str, str]]) -> list[str]:
    """What of `fragments` occurs in `text` (case-insensitive)."""
    lowered = text.casefold()
    return [what for what, fragment in fragments if fragment.casefold() in lowered]


def check_group_message(message: OutboundMessage, cases: Iterable[Case]) -> None:
    """Raise `PrivacyViolation` when a group message carries a photo or any protected data of
    `cases`. Button labels count as text: they are shown in the group too."""
    if message.photo is not None:
        raise PrivacyViolation(message.chat_id, "a photo")
    shown = "\n".join([message.text, *(button.label for button in message.buttons)])
    for case in cases:
        found = leaks(shown, protected_fragments(case))
        if found:
            raise PrivacyViolation(message.chat_id, f"{found[0]} of case {case.number}")
