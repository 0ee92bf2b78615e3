"""What may never reach a group chat: a child's identity (UU 11/2012 Pasal 19, UU 35/2014).

A group message about a case carries its number, category, area (kecamatan), priority and
times; never the protected person's name or description, a photo, the exact address or the
reporter's phone. The officer side refuses such a message (`check_group_message` raises before
it queues), and every outbox row addressed to a group, whatever made it (officers, reminder
sweep, daily digest, any future path), passes `screen_group_messages` where the row is created
(`laporbot.db.outbox.enqueue`, `laporbot.reminders.queue.enqueue_many`): checked against the
cases it is about (its case id and every case number its text names), with anything protected
cut out. The test suite also runs `check_group_message` on every group message any test queues,
against every case (tests/officers/privacy_guard.py).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.util import identity_key

from laporbot.db._sql import prebuilt
from laporbot.db.models import Case, Contact, OfficerGroup
from laporbot.db.numbers import CASE_PREFIX
from laporbot.errors import LaporbotError
from laporbot.messages import OutboundMessage

log = logging.getLogger(__name__)

# Keys of `Case.subject` / `Case.details` that hold identifying words.
_IDENTIFYING_KEYS = ("name", "nama", "child_name", "full_name", "address", "alamat")
# Free-text descriptions are checked only when long enough to be specific: "anak" must not
# count as a leak of a condition written as "anak".
_MIN_FREE_TEXT = 12
_MIN_EXACT = 4
#: What stands where protected words were cut out of a group message.
CUT = "[…]"
# A case number as people see it (`LPR-2026-000123`).
_CASE_NUMBER = re.compile(rf"\b{CASE_PREFIX}-\d{{4}}-\d+\b", re.IGNORECASE)


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


def _cut(text: str, fragments: Sequence[tuple[str, str]]) -> tuple[str, list[str]]:
    """`text` with every fragment cut out (case-insensitive); what was cut."""
    cut: list[str] = []
    # Longest first: an address that contains a name is cut whole.
    for what, fragment in sorted(fragments, key=lambda item: -len(item[1])):
        text, count = re.subn(re.escape(fragment), CUT, text, flags=re.IGNORECASE)
        if count:
            cut.append(what)
    return text, cut


def sanitise_group_message(
    message: OutboundMessage, cases: Iterable[tuple[Case, str | None]]
) -> tuple[OutboundMessage, list[str]]:
    """`message` without a photo and without any protected data of `cases` ((case, reporter's
    phone) pairs) in its text or button labels; what was removed ("the address of case
    LPR-..."). Raises `PrivacyViolation` if the result would still disclose something."""
    removed: list[str] = []
    text = message.text
    buttons = list(message.buttons)
    photo = message.photo
    if photo is not None:
        photo = None
        removed.append("a photo")
    checked: list[Case] = []
    for case, phone in cases:
        fragments = protected_fragments(case, phone)
        text, cut = _cut(text, fragments)
        for index, button in enumerate(buttons):
            label, cut_label = _cut(button.label, fragments)
            if cut_label:
                buttons[index] = dataclasses.replace(button, label=label)
                cut.extend(cut_label)
        removed.extend(f"{what} of case {case.number}" for what in dict.fromkeys(cut))
        checked.append(case)
    clean = (
        dataclasses.replace(message, text=text or CUT, buttons=tuple(buttons), photo=photo)
        if removed
        else message
    )
    check_group_message(clean, checked)  # what cutting missed or could not fix is refused
    return clean, removed


async def group_chats(
    session: AsyncSession, chats: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which of the (channel, chat id) pairs are group chats: a Telegram group (negative id) or
    a chat registered as an office's group.

    Only a Telegram group can be registered (an invite is redeemed from a group message, which
    only Telegram has), and a person's Telegram chat has a positive id: a citizen's turn, which
    queues to their own private chat, asks the database nothing."""
    wanted = set(chats)
    found = {chat for chat in wanted if is_group_chat(*chat)}
    unknown = {
        chat_id
        for channel, chat_id in wanted - found
        if channel == "telegram" and not chat_id.isdecimal()
    }
    if unknown:
        stmt = prebuilt(session, "privacy.group_chats", _registered_groups)
        rows = await session.scalars(stmt, {"chat_ids": sorted(unknown)})
        found |= {("telegram", chat_id) for chat_id in rows.all()}
    return found


def _registered_groups(_dialect: str) -> Select[str]:
    # Asked for every group-like chat queued to: built once; (channel, chat_id) leads the
    # unique index.
    return select(OfficerGroup.chat_id).where(
        OfficerGroup.channel == "telegram",
        OfficerGroup.chat_id.in_(bindparam("chat_ids", expanding=True)),
    )


def _held_cases(session: AsyncSession, ids: Iterable[int]) -> dict[int, Case]:
    """The cases of `ids` this session holds with every column loaded (by id); the others
    are read from the database."""
    held: dict[int, Case] = {}
    sync = session.sync_session
    for case_id in ids:
        found = sync.identity_map.get(identity_key(Case, case_id))
        if isinstance(found, Case) and found not in sync.deleted and not inspect(found).unloaded:
            held[case_id] = found
    return held


def _numbers_in(message: OutboundMessage) -> set[str]:
    """The case numbers a message's text and button labels name, upper-cased."""
    texts = (message.text, *(button.label for button in message.buttons))
    return {number.upper() for text in texts for number in _CASE_NUMBER.findall(text)}


async def screen_group_messages(
    session: AsyncSession,
    items: Sequence[tuple[OutboundMessage, int | None]],
    *,
    drop_refused: bool = False,
    strict: bool = False,
) -> list[OutboundMessage | None]:
    """The messages of `items` ((message, id of the case it is about)) as they may be queued:
    one addressed to a group loses its photo and any protected data of its case and of every
    case its text names, logged (without the data) as an error; the others are unchanged.

    Called where outbox rows are created, so no path can skip it. When cutting cannot make a
    message safe it raises `PrivacyViolation` (the caller's transaction then rolls back), or,
    with `drop_refused` (a batch of reminders, whose other messages must still go), that
    message is None, logged as an error. `strict` (the officer side, whose group messages are
    written to carry no protected data) refuses a message that would need any cut at all.
    """
    messages: list[OutboundMessage | None] = [message for message, _case in items]
    groups = await group_chats(session, {(m.channel, m.chat_id) for m, _case in items})
    if not groups:
        return messages
    to_group = [
        (index, message, case_id, _numbers_in(message))
        for index, (message, case_id) in enumerate(items)
        if (message.channel, message.chat_id) in groups
    ]
    ids = {case_id for _i, _m, case_id, _n in to_group if case_id is not None}
    numbers = set().union(*(named for _i, _m, _c, named in to_group))
    # A case this transaction holds (just opened, or changed) is checked as it holds it: a
    # query would hand back the same object, unrefreshed, so it is not asked again.
    about = _held_cases(session, ids)
    ids -= about.keys()
    numbers -= {case.number.upper() for case in about.values()}
    phones: dict[int, str | None] = {}
    if ids or numbers:
        # The reporters' phones come with the cases: one query.
        query = (
            select(Case, Contact.phone)
            .outerjoin(Contact, Contact.id == Case.reporter_contact_id)
            .where(Case.id.in_(sorted(ids)) | Case.number.in_(sorted(numbers)))
        )
        for case, phone in (await session.execute(query)).all():
            about[case.id] = case
            if case.reporter_contact_id:
                phones[case.reporter_contact_id] = phone
    contact_ids = {
        c.reporter_contact_id for c in about.values() if c.reporter_contact_id
    } - phones.keys()
    if contact_ids:
        # Read from the database, not from a contact object: the phone may have been
        # changed by a statement that left the object as it was.
        rows = await session.execute(
            select(Contact.id, Contact.phone).where(Contact.id.in_(sorted(contact_ids)))
        )
        phones.update({contact_id: phone for contact_id, phone in rows.all()})
    for index, message, case_id, named in to_group:
        cases = [c for c in about.values() if c.id == case_id or c.number.upper() in named]
        try:
            clean, removed = sanitise_group_message(
                message,
                [(case, phones.get(case.reporter_contact_id or 0)) for case in cases],
            )
        except PrivacyViolation as exc:
            if not drop_refused:
                raise
            log.error(
                "group message to %s %s not queued: %s", message.channel, message.chat_id, exc
            )
            messages[index] = None
            continue
        if removed and strict:
            raise PrivacyViolation(message.chat_id, removed[0])
        if removed:
            log.error(
                "group message to %s %s would have disclosed %s; cut out",
                message.channel,
                message.chat_id,
                ", ".join(removed),
            )
            messages[index] = clean
    return messages
