"""The reminder sweep: claim due reminders and turn them into outbox messages, once.

Each batch is ONE transaction: `db.reminders.claim_due` (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, the single writer on SQLite), the outbox rows, `mark_sent`/cancel and the next
occurrence of a repeating reminder. A crash rolls the batch back as a whole and the next sweep
takes it again; two workers never hold the same row, so any number may sweep.

A reminder whose time passed while the service was down is sent on the next sweep, oldest
first, with `late` set and a line saying when it was due. One that no longer applies is
cancelled instead: its deadline was met or cancelled, its case closed or complaint answered
(citizen follow-ups still go: they tell the citizen exactly that), its citizen erased.

APScheduler only calls `run_once` every `sweep_interval_seconds`; the database, not the
scheduler, holds what is due.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.clock import Clock
from laporbot.db import reminders as reminder_rows
from laporbot.db.models import (
    Case,
    Complaint,
    Contact,
    Deadline,
    Officer,
    OfficerGroup,
    Reminder,
)
from laporbot.errors import NotFound
from laporbot.i18n import Translator
from laporbot.messages import Button, Channel, OutboundMessage
from laporbot.reminders.planner import next_occurrence
from laporbot.reminders.plans import Audience, parse_offset
from laporbot.reminders.queue import Queued, enqueue_many
from laporbot.reminders.render import Context, render, survey_buttons
from laporbot.reminders.service import CLOSED_CASE_STATUSES, split_kind
from laporbot.settings import Settings
from laporbot.standards.models import ServiceStandard
from laporbot.standards.registry import StandardsRegistry

log = logging.getLogger(__name__)

CLOSED_COMPLAINT_STATUSES = frozenset({"answered", "closed"})
SETTLED_DEADLINE_STATUSES = frozenset({"met", "cancelled"})
WHATSAPP_WINDOW = timedelta(hours=24)
SURVEY_KEYS = frozenset({"survey", "survey_reminder"})


@dataclass(slots=True)
class SweepResult:
    """What one sweep did."""

    sent: int = 0
    late: int = 0
    cancelled: int = 0
    messages: int = 0
    sent_ids: list[int] = field(default_factory=list)

    def add(self, other: SweepResult) -> None:
        """Fold another batch's counts into this one."""
        self.sent += other.sent
        self.late += other.late
        self.cancelled += other.cancelled
        self.messages += other.messages
        self.sent_ids.extend(other.sent_ids)


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where one copy of a reminder goes and in which language."""

    channel: str
    chat_id: str
    locale: str
    contact: Contact | None = None


def outside_whatsapp_window(contact: Contact | None, now: datetime) -> bool:
    """True when WhatsApp allows only a template: no message from the citizen in 24 hours."""
    if contact is None or contact.last_inbound_at is None:
        return True
    return now - contact.last_inbound_at >= WHATSAPP_WINDOW


def officer_locale(settings: Settings, officer: Officer) -> str:
    """The language of an officer's private reminders: their own when the deployment speaks
    it, else the default."""
    own = officer.locale
    return own if own is not None and own in settings.locales else settings.default_locale


def late_after(settings: Settings) -> timedelta:
    """How far past its time a reminder counts as late: a few sweep ticks, at least 5 minutes,
    so an ordinary tick's delay is never called late."""
    return max(timedelta(minutes=5), timedelta(seconds=4 * settings.sweep_interval_seconds))


class ReminderSweep:
    """Sends due reminders; `run_once` is what the scheduler ticks."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        registry: StandardsRegistry,
        translator: Translator,
        settings: Settings,
        clock: Clock,
        *,
        worker: str = "sweep",
        batch_size: int = 200,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.registry = registry
        self.translator = translator
        self.settings = settings
        self.clock = clock
        self.worker = worker
        self.batch_size = batch_size
        self.late_after = late_after(settings)

    async def run_once(self) -> SweepResult:
        """Send everything due now, batch by batch, each batch in its own transaction."""
        total = SweepResult()
        while True:
            async with self.sessionmaker() as session, session.begin():
                now = self.clock.now()
                rows = await reminder_rows.claim_due(session, self.batch_size, self.worker, now)
                if not rows:
                    break
                total.add(await self._process(session, rows, now))
            if len(rows) < self.batch_size:
                break
        return total

    # -- one batch -------------------------------------------------------------------------

    async def _process(
        self, session: AsyncSession, rows: Sequence[Reminder], now: datetime
    ) -> SweepResult:
        result = SweepResult()
        loaded = await _Loaded.load(session, rows)
        cancelled: list[int] = []
        sent: dict[bool, list[int]] = {True: [], False: []}
        outgoing: list[Queued] = []
        broken: list[tuple[int, dict[str, Any]]] = []
        for row in rows:
            ctx = self._context(row, loaded)
            recipients = (
                None if ctx is None or self._obsolete(ctx) else self._recipients(ctx, loaded)
            )
            if ctx is None or recipients is None:
                cancelled.append(row.id)
                continue
            if not recipients:
                # Nobody to tell (no group, no supervisor, no reachable citizen): recorded, so
                # an administrator sees the office needs people, instead of retried forever.
                broken.append((row.id, {**row.payload, "error": "no recipient"}))
                continue
            late = now - row.due_at > self.late_after
            unassigned = row.audience == Audience.OFFICER.value and ctx.officer is None
            try:
                messages = [
                    self._message(ctx, recipient, now, late=late, unassigned=unassigned)
                    for recipient in recipients
                ]
                following = self._next_in_chain(row, ctx, now)
            except Exception as exc:
                # A row that cannot be worded (a message id missing from the catalogs, a broken
                # repeat) must not block every reminder behind it, tick after tick: it is set
                # aside with the reason, for an administrator to see.
                log.exception("reminder %d cannot be sent; cancelled", row.id)
                broken.append((row.id, {**row.payload, "error": f"{type(exc).__name__}: {exc}"}))
                continue
            case_id = ctx.case.id if ctx.case is not None else None
            for message in messages:
                dedup = f"reminder:{row.id}:{message.channel}:{message.chat_id}"
                outgoing.append(Queued(message, dedup, case_id))
            sent[late].append(row.id)
            result.sent += 1
            result.late += int(late)
            result.sent_ids.append(row.id)
            if following is not None:
                session.add(following)
        refused: list[Queued] = []
        await enqueue_many(session, outgoing, now, refused=refused)
        result.messages += len(outgoing) - len(refused)
        for item in refused:
            # Recorded on the reminder for an administrator: the group was not told.
            reminder_id = int(item.dedup_key.split(":")[1])
            reminder = await session.get(Reminder, reminder_id)
            if reminder is not None:
                chats = [*reminder.payload.get("refused_by_privacy", []), item.message.chat_id]
                reminder.payload = {**reminder.payload, "refused_by_privacy": chats}
        for late, ids in sent.items():
            if ids:
                await session.execute(
                    update(Reminder)
                    .where(Reminder.id.in_(ids))
                    .values(
                        status="sent", sent_at=now, late=late, claimed_by=None, claimed_until=None
                    )
                )
        for reminder_id, payload in broken:
            await session.execute(
                update(Reminder)
                .where(Reminder.id == reminder_id)
                .values(status="cancelled", claimed_by=None, claimed_until=None, payload=payload)
            )
        result.cancelled += len(broken)
        if cancelled:
            await session.execute(
                update(Reminder)
                .where(Reminder.id.in_(cancelled))
                .values(status="cancelled", claimed_by=None, claimed_until=None)
            )
            result.cancelled += len(cancelled)
        return result

    def _context(self, row: Reminder, loaded: _Loaded) -> Context | None:
        case = loaded.cases.get(row.case_id) if row.case_id is not None else None
        complaint = (
            loaded.complaints.get(row.complaint_id) if row.complaint_id is not None else None
        )
        if case is None and complaint is None:
            return None
        if complaint is not None and complaint.case_id is not None and case is None:
            case = loaded.cases.get(complaint.case_id)
        agency_code = complaint.agency_code if complaint is not None else case.agency_code  # type: ignore[union-attr]
        standard: ServiceStandard | None = None
        if case is not None:
            try:
                standard = self.registry.standard(case.standard_code)
            except NotFound:
                standard = None
        try:
            agency = self.registry.agency(agency_code)
            office, zone = agency.name, agency.time_zone
        except NotFound:
            office, zone = agency_code, "Asia/Jakarta"
        if complaint is not None:
            officer_id = complaint.handler_officer_id
        else:
            officer_id = case.assigned_officer_id if case is not None else None
        officer = loaded.officers.get(officer_id) if officer_id is not None else None
        deadline = loaded.deadlines.get(row.deadline_id) if row.deadline_id is not None else None
        return Context(
            reminder=row,
            case=case,
            complaint=complaint,
            deadline=deadline,
            standard=standard,
            office=office,
            time_zone=zone,
            officer=officer,
        )

    def _obsolete(self, ctx: Context) -> bool:
        row = ctx.reminder
        if ctx.deadline is not None and ctx.deadline.status in SETTLED_DEADLINE_STATUSES:
            return True
        if row.audience != Audience.CITIZEN.value:
            if ctx.complaint is not None:
                return ctx.complaint.status in CLOSED_COMPLAINT_STATUSES
            return ctx.case is not None and ctx.case.status in CLOSED_CASE_STATUSES
        _, key = split_kind(row.kind)
        if key in SURVEY_KEYS and ctx.complaint is not None:
            return ctx.complaint.rating is not None
        return False

    def _recipients(self, ctx: Context, loaded: _Loaded) -> list[Recipient]:
        row = ctx.reminder
        groups_locale = self.settings.default_locale
        agency = ctx.complaint.agency_code if ctx.complaint is not None else ctx.case.agency_code  # type: ignore[union-attr]
        if row.audience == Audience.CITIZEN.value:
            contact_id = (
                ctx.complaint.contact_id
                if ctx.complaint is not None
                else ctx.case.reporter_contact_id  # type: ignore[union-attr]
            )
            contact = loaded.contacts.get(contact_id) if contact_id is not None else None
            if contact is None or contact.erased_at is not None:
                return []
            locale = contact.locale or (
                ctx.complaint.locale if ctx.complaint is not None else ctx.case.locale  # type: ignore[union-attr]
            )
            return [Recipient(contact.channel, contact.chat_id, locale, contact)]
        if row.audience == Audience.OFFICER.value and ctx.officer is not None:
            return [
                Recipient(
                    "telegram",
                    ctx.officer.telegram_user_id,
                    officer_locale(self.settings, ctx.officer),
                )
            ]
        if row.audience == Audience.SUPERVISOR.value:
            supervisors = loaded.supervisors.get(agency, [])
            if supervisors:
                return [
                    Recipient(
                        "telegram", officer.telegram_user_id, officer_locale(self.settings, officer)
                    )
                    for officer in supervisors
                ]
        # The group: a reminder for an officer nobody is yet, or a supervisor the office has
        # not invited, still reaches the people who can act on it.
        purpose = "complaints" if ctx.complaint is not None else "triage"
        groups = loaded.groups.get(agency, [])
        chosen = [g for g in groups if g.purpose == purpose] or groups[:1]
        return [Recipient(g.channel, g.chat_id, groups_locale) for g in chosen]

    def _message(
        self, ctx: Context, recipient: Recipient, now: datetime, *, late: bool, unassigned: bool
    ) -> OutboundMessage:
        text = render(self.translator, ctx, recipient.locale, now, late=late, unassigned=unassigned)
        _, key = split_kind(ctx.reminder.kind)
        buttons: tuple[Button, ...] = ()
        if key in SURVEY_KEYS:
            buttons = survey_buttons(self.translator, ctx, recipient.locale)
        template: str | None = None
        params: tuple[str, ...] = ()
        if (
            recipient.channel == "whatsapp"
            and recipient.contact is not None
            and outside_whatsapp_window(recipient.contact, now)
        ):
            # Outside the 24-hour window WhatsApp delivers only approved templates: the
            # follow-up template carries the case number and the text as its two parameters
            # (newlines are not allowed in a template parameter).
            template = (
                self.settings.whatsapp_reminder_template
                if key == "survey_reminder"
                else self.settings.whatsapp_followup_template
            )
            params = (ctx.number, " ".join(text.split()))
        return OutboundMessage(
            channel=_channel(recipient.channel),
            chat_id=recipient.chat_id,
            text=text,
            buttons=buttons,
            template=template,
            template_params=params,
        )

    def _next_in_chain(self, row: Reminder, ctx: Context, now: datetime) -> Reminder | None:
        repeat = row.payload.get("repeat")
        if not isinstance(repeat, str) or self._obsolete(ctx):
            return None
        every = parse_offset(repeat)
        first_text = row.payload.get("first")
        first = datetime.fromisoformat(first_text) if isinstance(first_text, str) else row.due_at
        agency = ctx.complaint.agency_code if ctx.complaint is not None else ctx.case.agency_code  # type: ignore[union-attr]
        calendar = self.registry.calendar(agency)
        # Occurrences missed while the service was down are not sent one after another: the
        # late one just sent says it all; the chain resumes at the next future moment.
        following = next_occurrence(first, max(row.due_at, now), every, calendar)
        payload: dict[str, Any] = {**row.payload, "first": first.isoformat()}
        return Reminder(
            deadline_id=row.deadline_id,
            case_id=row.case_id,
            complaint_id=row.complaint_id,
            kind=row.kind,
            audience=row.audience,
            due_at=following,
            status="pending",
            late=False,
            payload=payload,
        )


def _channel(name: str) -> Channel:
    if name in ("telegram", "whatsapp", "web", "terminal"):
        return name  # type: ignore[return-value]
    raise ValueError(f"unknown channel {name!r}")


@dataclass(slots=True)
class _Loaded:
    """The rows a batch of reminders refers to, loaded with a handful of IN queries."""

    cases: dict[int, Case]
    complaints: dict[int, Complaint]
    deadlines: dict[int, Deadline]
    contacts: dict[int, Contact]
    officers: dict[int, Officer]
    supervisors: dict[str, list[Officer]]
    groups: dict[str, list[OfficerGroup]]

    @classmethod
    async def load(cls, session: AsyncSession, rows: Iterable[Reminder]) -> _Loaded:
        rows = list(rows)
        complaints = await _by_id(
            session, Complaint, {r.complaint_id for r in rows if r.complaint_id is not None}
        )
        case_ids = {r.case_id for r in rows if r.case_id is not None}
        case_ids |= {c.case_id for c in complaints.values() if c.case_id is not None}
        cases = await _by_id(session, Case, case_ids)
        deadlines = await _by_id(
            session, Deadline, {r.deadline_id for r in rows if r.deadline_id is not None}
        )
        contact_ids = {c.reporter_contact_id for c in cases.values()} | {
            c.contact_id for c in complaints.values()
        }
        contacts = await _by_id(session, Contact, {i for i in contact_ids if i is not None})
        agencies = {c.agency_code for c in cases.values()} | {
            c.agency_code for c in complaints.values()
        }
        officer_rows = (
            await session.scalars(
                select(Officer).where(Officer.agency_code.in_(agencies), Officer.active.is_(True))
            )
        ).all()
        officers = {o.id: o for o in officer_rows}
        supervisors: dict[str, list[Officer]] = {}
        for officer in sorted(officer_rows, key=lambda o: o.id):
            if officer.role == "supervisor" and officer.revoked_at is None:
                supervisors.setdefault(officer.agency_code, []).append(officer)
        group_rows = (
            await session.scalars(
                select(OfficerGroup)
                .where(OfficerGroup.agency_code.in_(agencies))
                .order_by(OfficerGroup.id)
            )
        ).all()
        groups: dict[str, list[OfficerGroup]] = {}
        for group in group_rows:
            groups.setdefault(group.agency_code, []).append(group)
        return cls(cases, complaints, deadlines, contacts, officers, supervisors, groups)


async def _by_id(session: AsyncSession, model: Any, ids: set[int]) -> dict[int, Any]:
    if not ids:
        return {}
    result = await session.scalars(select(model).where(model.id.in_(sorted(ids))))
    return {row.id: row for row in result.all()}
