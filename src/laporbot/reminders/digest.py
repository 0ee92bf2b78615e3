"""The daily digest: each morning, an office's supervisors get the day's view.

At `settings.digest_time` (default 07:30) in each office's own time zone, every supervisor of
the office (the office group when it has none) gets one message: what is overdue, what falls
due today, which cases nobody has claimed, and each officer's open and overdue load.

`run_due` is called on every scheduler tick, like the sweep. It is idempotent: each digest is
queued with the dedup key `digest:<office>:<local date>:<chat>`, so a restart, a second tick or
a second worker queues nothing twice; a service that was down at 07:30 sends the day's digest
when it comes back, the same day.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.clock import Clock
from laporbot.db.models import Case, Complaint, Deadline, Officer, OfficerGroup, OutboxMessage
from laporbot.db.outbox import enqueue
from laporbot.i18n import Translator
from laporbot.messages import OutboundMessage
from laporbot.reminders.service import CLOSED_CASE_STATUSES
from laporbot.reminders.sweep import CLOSED_COMPLAINT_STATUSES, officer_locale
from laporbot.settings import Settings
from laporbot.standards.models import Agency
from laporbot.standards.registry import StandardsRegistry

log = logging.getLogger(__name__)

# A digest is one chat message (Telegram allows 4096 characters): long sections are cut.
MAX_ITEMS = 15
OPEN_DEADLINE_STATUSES = ("open", "breached")


def parse_digest_time(text: str) -> time:
    """ "07:30" -> time(7, 30); raises ValueError for anything else."""
    hours, _, minutes = text.strip().partition(":")
    return time(int(hours), int(minutes or 0))


@dataclass(frozen=True, slots=True)
class DueItem:
    """A case or complaint with an open deadline."""

    subject: str  # "case" or "complaint"
    number: str
    due_at: datetime
    officer_id: int | None


@dataclass(frozen=True, slots=True)
class DigestData:
    """What one office's digest says, before it is worded."""

    overdue: list[DueItem]
    due_today: list[DueItem]
    unclaimed: list[Case]
    by_officer: dict[int | None, tuple[int, int]]  # officer id -> (open, overdue)


class DailyDigest:
    """Queues each office's digest once a day; `run_due` is what the scheduler ticks."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        registry: StandardsRegistry,
        translator: Translator,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.registry = registry
        self.translator = translator
        self.settings = settings
        self.clock = clock
        self.at = parse_digest_time(settings.digest_time)

    async def run_due(self) -> int:
        """Queue the digests whose time has come today and are not queued yet; how many."""
        queued = 0
        for agency in self.registry.agencies:
            now = self.clock.now()
            local = now.astimezone(ZoneInfo(agency.time_zone))
            if local.time() < self.at:
                continue
            try:
                async with self.sessionmaker() as session, session.begin():
                    queued += await self._office(session, agency, local.date(), now)
            except Exception:
                # One office's broken digest must not keep the others' from going out; it is
                # tried again on the next tick.
                log.exception("daily digest of %s failed", agency.code)
        return queued

    async def _office(self, session: AsyncSession, agency: Agency, day: date, now: datetime) -> int:
        prefix = f"digest:{agency.code}:{day.isoformat()}:"
        already = await session.scalar(
            select(OutboxMessage.id).where(OutboxMessage.dedup_key.like(f"{prefix}%")).limit(1)
        )
        if already is not None:
            return 0
        recipients = await self._recipients(session, agency.code)
        if not recipients:
            return 0
        data = await collect(session, agency, day, now)
        officers = {
            officer.id: officer.display_name
            for officer in (
                await session.scalars(select(Officer).where(Officer.agency_code == agency.code))
            ).all()
        }
        texts: dict[str, str] = {}
        for channel, chat_id, locale in recipients:
            # Worded once per language: supervisors read it in their own.
            if locale not in texts:
                texts[locale] = word(self.translator, locale, agency, day, now, data, officers)
            text = texts[locale]
            await enqueue(
                session,
                OutboundMessage(channel=channel, chat_id=chat_id, text=text),  # type: ignore[arg-type]
                now,
                dedup_key=f"{prefix}{channel}:{chat_id}",
            )
        return len(recipients)

    async def _recipients(
        self, session: AsyncSession, agency_code: str
    ) -> list[tuple[str, str, str]]:
        """(channel, chat id, language) of each reader: the supervisors, else one group."""
        supervisors = (
            await session.scalars(
                select(Officer)
                .where(
                    Officer.agency_code == agency_code,
                    Officer.role == "supervisor",
                    Officer.active.is_(True),
                    Officer.revoked_at.is_(None),
                )
                .order_by(Officer.id)
            )
        ).all()
        if supervisors:
            return [
                ("telegram", officer.telegram_user_id, officer_locale(self.settings, officer))
                for officer in supervisors
            ]
        group = await session.scalar(
            select(OfficerGroup)
            .where(OfficerGroup.agency_code == agency_code)
            .order_by(OfficerGroup.purpose != "triage", OfficerGroup.id)
            .limit(1)
        )
        default = self.settings.default_locale
        return [(group.channel, group.chat_id, default)] if group is not None else []


async def collect(session: AsyncSession, agency: Agency, day: date, now: datetime) -> DigestData:
    """The digest's facts for one office on its local `day`."""
    zone = ZoneInfo(agency.time_zone)
    end_of_day = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    case_rows = (
        await session.execute(
            select(Deadline, Case)
            .join(
                Case,
                and_(Deadline.subject_kind == "case", Deadline.subject_id == Case.id),
            )
            .where(
                Case.agency_code == agency.code,
                Deadline.kind == "completion",
                Deadline.status.in_(OPEN_DEADLINE_STATUSES),
                Case.status.not_in(CLOSED_CASE_STATUSES),
            )
            .order_by(Deadline.due_at)
        )
    ).all()
    complaint_rows = (
        await session.execute(
            select(Deadline, Complaint)
            .join(
                Complaint,
                and_(Deadline.subject_kind == "complaint", Deadline.subject_id == Complaint.id),
            )
            .where(
                Complaint.agency_code == agency.code,
                Deadline.kind == "complaint_answer",
                Deadline.status.in_(OPEN_DEADLINE_STATUSES),
                Complaint.status.not_in(CLOSED_COMPLAINT_STATUSES),
            )
            .order_by(Deadline.due_at)
        )
    ).all()
    items = [
        DueItem("case", case.number, deadline.due_at, case.assigned_officer_id)
        for deadline, case in case_rows
    ] + [
        DueItem("complaint", complaint.number, deadline.due_at, complaint.handler_officer_id)
        for deadline, complaint in complaint_rows
    ]
    items.sort(key=lambda item: (item.due_at, item.subject, item.number))
    overdue = [item for item in items if item.due_at < now]
    due_today = [item for item in items if now <= item.due_at < end_of_day]
    unclaimed = list(
        (
            await session.scalars(
                select(Case)
                .where(Case.agency_code == agency.code, Case.status == "new")
                .order_by(Case.priority, Case.received_at)
            )
        ).all()
    )
    load: Counter[int | None] = Counter(item.officer_id for item in items)
    late: Counter[int | None] = Counter(item.officer_id for item in overdue)
    by_officer = {officer: (load[officer], late[officer]) for officer in load}
    return DigestData(overdue, due_today, unclaimed, by_officer)


def word(
    translator: Translator,
    locale: str,
    agency: Agency,
    day: date,
    now: datetime,
    data: DigestData,
    officers: dict[int, str],
) -> str:
    """The digest's text in `locale`."""
    lang = translator.resolve(locale)
    zone = agency.time_zone

    def t(msgid: str, **params: object) -> str:
        return translator.text(lang, f"reminders.digest.{msgid}", **params)

    def due_lines(items: list[DueItem]) -> list[str]:
        lines = [
            t(
                "item",
                kind=t(item.subject),
                number=item.number,
                due=translator.due(lang, item.due_at, zone),
                relative=translator.relative(lang, item.due_at - now),
            )
            for item in items[:MAX_ITEMS]
        ]
        if len(items) > MAX_ITEMS:
            lines.append(t("more", count=len(items) - MAX_ITEMS))
        return lines or [t("none")]

    unclaimed_lines = [
        t(
            "unclaimed_item",
            number=case.number,
            category=_label(translator, lang, f"reminders.category.{case.category}", case.category),
            area=", ".join(p for p in (case.kecamatan, case.kabupaten) if p)
            or translator.text(lang, "reminders.area.unknown"),
            priority=translator.text(lang, "reminders.priority.emergency")
            if case.priority == 0
            else translator.text(lang, "reminders.priority.routine", priority=case.priority),
            received=translator.due(lang, case.received_at, zone),
        )
        for case in data.unclaimed[:MAX_ITEMS]
    ]
    if len(data.unclaimed) > MAX_ITEMS:
        unclaimed_lines.append(t("more", count=len(data.unclaimed) - MAX_ITEMS))
    officer_lines = [
        t(
            "officer_line",
            officer=officers.get(officer, "?")
            if officer is not None
            else translator.text(lang, "reminders.nobody"),
            open=count,
            overdue=late,
        )
        for officer, (count, late) in sorted(
            data.by_officer.items(), key=lambda kv: (kv[0] is None, officers.get(kv[0] or 0, ""))
        )
    ]
    sections = [
        t("header", office=agency.name, date=format_date(day, format="full", locale=lang)),
        "",
        t("overdue", count=len(data.overdue)),
        *due_lines(data.overdue),
        "",
        t("due_today", count=len(data.due_today)),
        *due_lines(data.due_today),
        "",
        t("unclaimed", count=len(data.unclaimed)),
        *(unclaimed_lines or [t("none")]),
        "",
        t("by_officer"),
        *(officer_lines or [t("none")]),
    ]
    return "\n".join(sections)


def _label(translator: Translator, lang: str, msgid: str, fallback: str) -> str:
    if translator.has(translator.default_locale, msgid):
        return translator.text(lang, msgid)
    return fallback
