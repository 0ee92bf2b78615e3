"""One person's data on request, and every case's personal data after the retention period
(UU 27/2022 on Personal Data Protection: Pasal 7 access, Pasal 8 and 16 erasure, retention).

A person is a contact: one citizen on one channel (`Contact`), found by the channel and its
platform user id, or by the phone number they gave. Three operations, each inside the caller's
transaction:

- `export_person`: everything laporbot keeps about them, as JSON-ready data: the contact, their
  conversations, the cases and complaints they made, the messages they sent (inbox) and the
  messages sent to them (outbox). Each case and complaint exported records it in its case's
  audit log.
- `erase_person`: they are forgotten. The contact keeps its row (so the records that count
  cases stay whole) but loses its platform ids, chat, phone and language and is marked erased;
  their conversations, their inbound updates and every message to them (sent or waiting) are
  deleted; their cases and complaints are unlinked from them, so no reminder, survey or
  officer's question can reach them again. What they reported about someone else (a child's
  case) is the office's record of that child and stays, under the retention rule below; the
  case's audit log records the erasure.
- `purge_expired`: once a case or complaint has been closed for `retention_days`, the personal
  data in it is removed (the protected person's description, the exact place and pin, the
  photo, a complaint's words and its answer); what is left (number, office, category, area,
  dates, status, rating) still counts for the office's statistics. Contacts with nothing open
  and silent for that long are erased as above.
- `purge_transport`: what only carried messages (finished conversations, processed inbound
  updates, sent messages, web chat photos no case shows) is deleted after
  `transport_retention_days` (90), so the raw traffic of a person is never kept for years.

`purge_all` runs the last two as the hourly `retention` sweep and `laporbot privacy purge` do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.cases import append_event
from laporbot.db.models import (
    Case,
    Complaint,
    Contact,
    ConversationSession,
    InboxItem,
    NumberCounter,
    OutboxMessage,
)
from laporbot.errors import LaporbotError
from laporbot.photos import UPLOAD_PREFIX, upload_path
from laporbot.reminders.queue import sequence_name
from laporbot.settings import Settings

#: Cases and complaints that are over: their personal data is kept `retention_days` more.
CLOSED_CASE = ("resolved", "rejected", "closed")
CLOSED_COMPLAINT = ("closed",)
#: What a purged complaint's words read.
PURGED_TEXT = "-"
# Keys of a platform payload whose value names a person or their chat.
_ID_KEYS = frozenset(
    {"id", "user_id", "wa_id", "from", "recipient_id", "recipient_user_id", "client_id", "chat_id"}
)
_BATCH = 500
#: Keys of `Case.details` that hold personal data: the reporter's answers to officers'
#: questions and the officers' attachments (documents about the person). The rest (served,
#: channel, checklist, milestones, referrals, rating) is casework the statistics keep.
_PERSONAL_DETAILS = ("questions", "attachments")


class PersonNotFound(LaporbotError):
    """No contact matches what was asked for."""


@dataclass
class Erasure:
    """What `erase_person` (or the retention sweep) removed or unlinked."""

    contacts: int = 0
    sessions: int = 0
    inbox: int = 0
    outbox: int = 0
    cases_unlinked: list[str] = field(default_factory=list)
    complaints_unlinked: list[str] = field(default_factory=list)


@dataclass
class Purge:
    """What `purge_expired`, `purge_transport` or `purge_all` removed (`photos`: references;
    of files deleted, for `purge_all`)."""

    cases: list[str] = field(default_factory=list)
    complaints: list[str] = field(default_factory=list)
    photos: list[str] = field(default_factory=list)
    erasure: Erasure = field(default_factory=Erasure)
    sessions: int = 0
    inbox: int = 0
    outbox: int = 0


async def find_contacts(
    session: AsyncSession,
    *,
    channel: str | None = None,
    user_id: str | None = None,
    phone: str | None = None,
) -> list[Contact]:
    """The contacts of one person: by channel and platform user id (or chat id), or by the
    phone number they gave (any channel). Erased contacts are never found. Raises
    `PersonNotFound` when none matches."""
    query = select(Contact).where(Contact.erased_at.is_(None)).order_by(Contact.id)
    if phone is not None:
        digits = "".join(ch for ch in phone if ch.isdecimal())
        if not digits:
            raise PersonNotFound(f"not a phone number: {phone!r}")
        # Stored as typed in the flow, normalised to 62...; match the national form too.
        forms = {digits, "62" + digits[1:] if digits.startswith("0") else digits}
        query = query.where(
            or_(Contact.phone.in_(sorted(forms)), Contact.platform_user_id.in_(sorted(forms)))
        )
    elif channel is not None and user_id is not None:
        query = query.where(
            Contact.channel == channel,
            or_(Contact.platform_user_id == user_id, Contact.chat_id == user_id),
        )
    else:
        raise PersonNotFound("give a channel and a user id, or a phone number")
    found = list((await session.scalars(query)).all())
    if not found:
        raise PersonNotFound("no such person in this database")
    return found


def _mentions(payload: Any, ids: frozenset[str]) -> bool:
    """Whether a platform payload names one of `ids` under a key that holds a person's or a
    chat's id (Telegram's `from.id` and `chat.id`, WhatsApp's `wa_id` and `user_id`, the web
    chat's `client_id`)."""
    stack: list[tuple[str | None, Any]] = [(None, payload)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.items())
        elif isinstance(value, list):
            stack.extend((key, item) for item in value)
        elif key in _ID_KEYS and value is not None and str(value) in ids:
            return True
    return False


async def _inbox_of(session: AsyncSession, contacts: Sequence[Contact]) -> list[InboxItem]:
    """The stored updates that came from these contacts: a text match narrows the search, the
    payload's id fields decide."""
    found: list[InboxItem] = []
    for contact in contacts:
        ids = frozenset({contact.platform_user_id, contact.chat_id})
        text = cast(InboxItem.payload, String)
        query = (
            select(InboxItem)
            .where(
                InboxItem.channel == contact.channel,
                or_(*(text.contains(value) for value in sorted(ids))),
            )
            .order_by(InboxItem.id)
        )
        found.extend(
            item for item in (await session.scalars(query)).all() if _mentions(item.payload, ids)
        )
    return found


def _chats(contacts: Sequence[Contact]) -> list[tuple[str, str]]:
    """Every (channel, id) a person is reached or known by: a WhatsApp citizen's messages go
    to their phone number or to their scoped user id, whichever laporbot knew then."""
    return sorted(
        {(c.channel, value) for c in contacts for value in (c.chat_id, c.platform_user_id)}
    )


def _outbox_filter(contacts: Sequence[Contact]) -> Any:
    return or_(
        *(
            (OutboxMessage.channel == channel) & (OutboxMessage.chat_id == chat)
            for channel, chat in _chats(contacts)
        )
    )


def _sessions_filter(contacts: Sequence[Contact]) -> Any:
    return or_(
        *(
            (ConversationSession.channel == channel)
            & or_(ConversationSession.user_id == chat, ConversationSession.chat_id == chat)
            for channel, chat in _chats(contacts)
        )
    )


def _reporter_answers(case: Case) -> list[dict[str, Any]]:
    """The reporter's answers to officers' questions on `case` (`details["questions"]`)."""
    questions = (case.details or {}).get("questions") or []
    return [
        {"question": q.get("question"), "answer": q.get("answer"), "at": q.get("answered_at")}
        for q in questions
        if isinstance(q, dict) and "answer" in q
    ]


def _scrub_reporter_answers(case: Case) -> None:
    """Blank the reporter's answers (the questions stay answered, so none is asked again)."""
    details = dict(case.details or {})
    questions = details.get("questions")
    if not isinstance(questions, list):
        return
    details["questions"] = [
        {**q, "answer": PURGED_TEXT} if isinstance(q, dict) and "answer" in q else q
        for q in questions
    ]
    case.details = details


def _scrub_complaint(complaint: Complaint) -> None:
    """A complaint without its words: what it said, what it was about, the answer."""
    complaint.text = PURGED_TEXT
    complaint.about = None
    complaint.answer = None
    complaint.contact_id = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def export_person(
    session: AsyncSession, contacts: Sequence[Contact], now: datetime, actor: str
) -> dict[str, Any]:
    """Everything kept about the person of `contacts`, JSON-ready; the export is recorded in
    the audit log of each case it shows (`personal_data_exported`, by `actor`)."""
    ids = [contact.id for contact in contacts]
    cases = (
        await session.scalars(
            select(Case).where(Case.reporter_contact_id.in_(ids)).order_by(Case.id)
        )
    ).all()
    complaints = (
        await session.scalars(
            select(Complaint).where(Complaint.contact_id.in_(ids)).order_by(Complaint.id)
        )
    ).all()
    sessions = (
        await session.scalars(
            select(ConversationSession)
            .where(_sessions_filter(contacts))
            .order_by(ConversationSession.id)
        )
    ).all()
    sent = (
        await session.scalars(
            select(OutboxMessage).where(_outbox_filter(contacts)).order_by(OutboxMessage.id)
        )
    ).all()
    received = await _inbox_of(session, contacts)
    for case in cases:
        await append_event(
            session,
            case.id,
            at=now,
            actor_kind="system",
            actor_id=actor,
            kind="personal_data_exported",
        )
    return {
        "exported_at": now.isoformat(),
        "contacts": [
            {
                "channel": c.channel,
                "user_id": c.platform_user_id,
                "chat_id": c.chat_id,
                "phone": c.phone,
                "locale": c.locale,
                "consent_at": _iso(c.consent_at),
                "first_seen_at": _iso(c.created_at),
                "last_message_at": _iso(c.last_inbound_at),
            }
            for c in contacts
        ],
        "cases": [
            {
                "number": case.number,
                "agency": case.agency_code,
                "category": case.category,
                "status": case.status,
                "received_at": case.received_at.isoformat(),
                "due_at": _iso(case.due_at),
                "anonymous": case.anonymous,
                "place": {
                    "province": case.province,
                    "kabupaten": case.kabupaten,
                    "kecamatan": case.kecamatan,
                    "address": case.address,
                    "latitude": case.latitude,
                    "longitude": case.longitude,
                },
                "subject": case.subject,
                "photo": case.photo_ref,
                "outcome": case.outcome,
                "answers_to_officers": _reporter_answers(case),
            }
            for case in cases
        ],
        "complaints": [
            {
                "number": c.number,
                "agency": c.agency_code,
                "about": c.about,
                "text": c.text,
                "status": c.status,
                "received_at": c.received_at.isoformat(),
                "answer": c.answer,
                "answered_at": _iso(c.answered_at),
                "rating": c.rating,
            }
            for c in complaints
        ],
        "conversations": [
            {
                "flow": s.flow,
                "step": s.step,
                "status": s.status,
                "started_at": s.started_at.isoformat(),
                "updated_at": s.updated_at.isoformat(),
                "answers": s.answers,
            }
            for s in sessions
        ],
        "messages_received": [
            {"at": item.received_at.isoformat(), "update": item.payload} for item in received
        ],
        "messages_sent": [
            {
                "at": row.created_at.isoformat(),
                "status": row.status,
                "text": row.payload.get("text", ""),
            }
            for row in sent
        ],
    }


async def erase_person(
    session: AsyncSession,
    contacts: Sequence[Contact],
    now: datetime,
    actor: str,
    *,
    scan_inbox: bool = True,
) -> Erasure:
    """Forget the person of `contacts` (see the module docstring); the erasure is recorded in
    the audit log of each case they had made (`reporter_erased`, by `actor`). `scan_inbox`
    False skips the search of their inbound updates: the retention sweep erases people silent
    for `retention_days`, whose updates `purge_transport` deleted long before."""
    done = Erasure()
    if not contacts:
        return done
    ids = [contact.id for contact in contacts]
    received = await _inbox_of(session, contacts) if scan_inbox else []
    if received:
        await session.execute(delete(InboxItem).where(InboxItem.id.in_([i.id for i in received])))
    done.inbox = len(received)
    # Each chat's outbox order is a counter named after the chat: a phone number, for WhatsApp.
    # Deleted first: on PostgreSQL this waits for a transaction queueing to the chat right now,
    # so the rows it adds are seen, and deleted, by the next statement.
    series = [sequence_name(channel, chat) for channel, chat in _chats(contacts)]
    await session.execute(delete(NumberCounter).where(NumberCounter.name.in_(series)))
    outbox = await session.execute(delete(OutboxMessage).where(_outbox_filter(contacts)))
    done.outbox = int(outbox.rowcount or 0)  # type: ignore[attr-defined]
    sessions = await session.execute(delete(ConversationSession).where(_sessions_filter(contacts)))
    done.sessions = int(sessions.rowcount or 0)  # type: ignore[attr-defined]

    cases = (await session.scalars(select(Case).where(Case.reporter_contact_id.in_(ids)))).all()
    for case in cases:
        case.reporter_contact_id = None
        _scrub_reporter_answers(case)
        await append_event(
            session, case.id, at=now, actor_kind="system", actor_id=actor, kind="reporter_erased"
        )
        done.cases_unlinked.append(case.number)
    complaints = (
        await session.scalars(select(Complaint).where(Complaint.contact_id.in_(ids)))
    ).all()
    for complaint in complaints:
        _scrub_complaint(complaint)
        if complaint.case_id is not None:
            await append_event(
                session,
                complaint.case_id,
                at=now,
                actor_kind="system",
                actor_id=actor,
                kind="complainant_erased",
                data={"complaint": complaint.number},
            )
        done.complaints_unlinked.append(complaint.number)
    for contact in contacts:
        forgotten = f"erased:{contact.id}"
        contact.platform_user_id = forgotten
        contact.chat_id = forgotten
        contact.phone = None
        contact.locale = None
        contact.last_inbound_at = None
        contact.erased_at = now
    done.contacts = len(contacts)
    await session.flush()
    return done


async def purge_expired(
    session: AsyncSession,
    now: datetime,
    retention_days: int,
    *,
    actor: str = "retention",
    limit: int = _BATCH,
) -> Purge:
    """Remove the personal data the retention period no longer allows (see the module
    docstring), at most `limit` cases, complaints and contacts per call (call again while it
    finds work; `purge_all` does).

    A web chat photo's file is deleted once no case refers to it any more; the caller deletes
    `Purge.photos` after its commit (`delete_photos`), so a rolled-back purge loses nothing.
    """
    cutoff = now - timedelta(days=retention_days)
    purged = Purge()
    cases = (
        await session.scalars(
            select(Case)
            .where(
                Case.status.in_(CLOSED_CASE),
                Case.closed_at.is_not(None),
                Case.closed_at < cutoff,
                or_(
                    Case.address.is_not(None),
                    Case.latitude.is_not(None),
                    Case.photo_ref.is_not(None),
                    Case.outcome.is_not(None),
                    func.length(cast(Case.subject, String)) > 2,  # not "{}"
                    *(cast(Case.details, String).contains(f'"{key}"') for key in _PERSONAL_DETAILS),
                ),
            )
            .order_by(Case.id)
            .limit(limit)
            .with_for_update(skip_locked=True)  # workers purge side by side
        )
    ).all()
    photos: set[str] = set()
    for case in cases:
        if case.photo_ref is not None:
            photos.add(case.photo_ref)
        case.address = None
        case.latitude = None
        case.longitude = None
        case.subject = {}
        case.photo_ref = None
        case.outcome = None
        case.details = {k: v for k, v in (case.details or {}).items() if k not in _PERSONAL_DETAILS}
        await append_event(
            session,
            case.id,
            at=now,
            actor_kind="system",
            actor_id=actor,
            kind="personal_data_purged",
            data={"retention_days": retention_days},
        )
        purged.cases.append(case.number)
    complaints = (
        await session.scalars(
            select(Complaint)
            .where(
                Complaint.status.in_(CLOSED_COMPLAINT),
                Complaint.closed_at.is_not(None),
                Complaint.closed_at < cutoff,
                or_(Complaint.text != PURGED_TEXT, Complaint.answer.is_not(None)),
            )
            .order_by(Complaint.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for complaint in complaints:
        _scrub_complaint(complaint)
        purged.complaints.append(complaint.number)
    await session.flush()
    if photos:
        still = set(
            (await session.scalars(select(Case.photo_ref).where(Case.photo_ref.in_(photos)))).all()
        )
        purged.photos = sorted(photos - still)
    # Contacts with nothing open who have not written since the cutoff.
    open_case = select(Case.id).where(
        Case.reporter_contact_id == Contact.id, Case.status.not_in(CLOSED_CASE)
    )
    open_complaint = select(Complaint.id).where(
        Complaint.contact_id == Contact.id, Complaint.status.not_in(CLOSED_COMPLAINT)
    )
    silent = (
        await session.scalars(
            select(Contact)
            .where(
                Contact.erased_at.is_(None),
                func.coalesce(Contact.last_inbound_at, Contact.created_at) < cutoff,
                ~open_case.exists(),
                ~open_complaint.exists(),
            )
            .order_by(Contact.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    purged.erasure = await erase_person(session, list(silent), now, actor, scan_inbox=False)
    return purged


async def purge_transport(session: AsyncSession, now: datetime, days: int) -> Purge:
    """Delete what only carried messages and is older than `days`
    (`transport_retention_days`): finished conversations, processed inbound updates, sent or
    failed outbound messages. The cases, complaints and audit log keep what happened."""
    cutoff = now - timedelta(days=days)
    purged = Purge()
    ended = await session.execute(
        delete(ConversationSession).where(
            ConversationSession.status != "active", ConversationSession.updated_at < cutoff
        )
    )
    purged.sessions = int(ended.rowcount or 0)  # type: ignore[attr-defined]
    inbox = await session.execute(
        delete(InboxItem).where(InboxItem.status != "pending", InboxItem.received_at < cutoff)
    )
    purged.inbox = int(inbox.rowcount or 0)  # type: ignore[attr-defined]
    # A message about a case still open stays: the office group's post of it is edited as the
    # case moves, and its platform id is learnt from its row.
    still_open = select(Case.id).where(
        Case.id == OutboxMessage.case_id, Case.status.not_in(CLOSED_CASE)
    )
    outbox = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.status.in_(("sent", "failed")),
            OutboxMessage.created_at < cutoff,
            ~still_open.exists(),
        )
    )
    purged.outbox = int(outbox.rowcount or 0)  # type: ignore[attr-defined]
    return purged


async def orphan_uploads(session: AsyncSession, settings: Settings, now: datetime) -> list[str]:
    """Web chat photos no case shows, uploaded more than `transport_retention_days` ago (a
    report given up before it was sent, an erased person's): their references, to delete."""
    folder = settings.data_dir / "uploads"
    if not folder.is_dir():
        return []
    cutoff = (now - timedelta(days=settings.transport_retention_days)).timestamp()
    old = {
        UPLOAD_PREFIX + path.name: path
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and path.stat().st_mtime < cutoff
    }
    if not old:
        return []
    shown = set(
        await session.scalars(select(Case.photo_ref).where(Case.photo_ref.in_(sorted(old))))
    )
    return sorted(set(old) - shown)


async def purge_all(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, now: datetime
) -> Purge:
    """Everything retention asks for at `now`, as the hourly sweep and `laporbot privacy
    purge` run it: the transport rows once, then the personal data a batch per transaction
    until none is left; photo files are deleted after the commit that let go of them."""
    async with sessions() as db, db.begin():
        total = await purge_transport(db, now, settings.transport_retention_days)
        orphans = await orphan_uploads(db, settings, now)
    total.photos += delete_photos(settings, orphans)
    while True:
        async with sessions() as db, db.begin():
            done = await purge_expired(db, now, settings.retention_days)
        total.photos += delete_photos(settings, done.photos)
        total.cases += done.cases
        total.complaints += done.complaints
        total.erasure.contacts += done.erasure.contacts
        total.erasure.inbox += done.erasure.inbox
        total.erasure.outbox += done.erasure.outbox
        total.erasure.sessions += done.erasure.sessions
        if not (done.cases or done.complaints or done.erasure.contacts):
            return total


def delete_photos(settings: Settings, refs: Iterable[str]) -> list[str]:
    """Delete the web chat photo files of `refs` (others are platform references: nothing to
    delete here); returns the references whose file was deleted."""
    gone: list[str] = []
    for ref in refs:
        path = upload_path(settings, ref)
        if path is not None and path.is_file():
            path.unlink()
            gone.append(ref)
    return gone


def dumps(data: dict[str, Any]) -> str:
    """An export as people read it: indented UTF-8 JSON."""
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False)
