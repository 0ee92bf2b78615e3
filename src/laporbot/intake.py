"""The application layer of citizen conversations: runs the engine and applies its effects.

One `Intake` per process (`Intake.from_settings(settings)`), shared by every channel:

    intake = Intake.from_settings(settings)
    async with sessionmaker() as db, db.begin():
        replies = await intake.handle_inbound(db, inbound, now)   # also queued in the outbox
    async with sessionmaker() as db, db.begin():
        await intake.handle_timeouts(db, now)                     # nudges and expiries

Both run inside the caller's transaction and never commit: the session's new state, any case
or complaint opened, its deadlines and reminders, and the outbox rows of the replies are stored
together or not at all. The engine (`laporbot.flows`) decides; this module only looks things
up and writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db import agencies as agency_rows
from laporbot.db import cases as case_rows
from laporbot.db import complaints as complaint_rows
from laporbot.db import contacts as contact_rows
from laporbot.db import sessions as session_rows
from laporbot.db.models import Case, Complaint, Contact, ConversationSession
from laporbot.db.numbers import COMPLAINT_PREFIX
from laporbot.errors import NotFound
from laporbot.flows import (
    Action,
    ActionResult,
    Effect,
    EndSession,
    FileComplaint,
    Flows,
    ListOffices,
    LookUpCase,
    MessageResume,
    OpenCase,
    Resume,
    Send,
    Session,
    step,
)
from laporbot.flows.loader import load_from_settings
from laporbot.flows.session import ExpiryResume, NudgeResume
from laporbot.messages import Channel, InboundMessage, OutboundMessage
from laporbot.reminders.queue import Queued, enqueue_many
from laporbot.reminders.service import ReminderService
from laporbot.settings import Settings
from laporbot.standards import (
    Agency,
    AreaMatch,
    ServiceStandard,
    StandardsRegistry,
    load_registry,
)

CaseHook = Callable[[AsyncSession, Case, datetime], Awaitable[None]]
ComplaintHook = Callable[[AsyncSession, Complaint, datetime], Awaitable[None]]

_TIMEOUT_BATCH = 200


@dataclass(slots=True)
class _Conversation:
    """Who the effects are for: the contact and where replies go."""

    channel: Channel
    chat_id: str
    contact: Contact


@dataclass
class Intake:
    """Runs citizen conversations against the database.

    `case_hooks` / `complaint_hooks` run after a case is opened / a complaint filed, in the
    same transaction (e.g. the officers' triage notification).
    """

    flows: Flows
    registry: StandardsRegistry
    reminders: ReminderService | None = None
    case_hooks: list[CaseHook] = field(default_factory=list)
    complaint_hooks: list[ComplaintHook] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.flows.places is None:
            # The location step checks kecamatan against the offices' lists.
            self.flows = dataclasses.replace(self.flows, places=self.registry)

    @classmethod
    def from_settings(cls, settings: Settings) -> Intake:
        """Flows, catalogs and standards from the configured folders (checked at load)."""
        registry = load_registry(settings.standards_dir)
        return cls(load_from_settings(settings), registry, ReminderService(registry))

    # -- entry points ------------------------------------------------------------------

    async def handle_inbound(
        self, db: AsyncSession, inbound: InboundMessage, now: datetime
    ) -> list[OutboundMessage]:
        """Run one citizen message through their conversation; returns the replies.

        Inside the caller's transaction (no commit): records the contact, resumes or starts the
        session, applies the engine's effects (open a case, file a complaint, look one up),
        saves the session and queues every reply in the outbox (dedup key per inbound message
        and reply index, so a replayed update queues nothing twice). Group messages are
        ignored: they are officers' business.
        """
        if inbound.is_group:
            # Citizens report in private chats; group messages belong to officers' handlers.
            return []
        contact = await contact_rows.touch(
            db,
            channel=inbound.channel,
            platform_user_id=inbound.user_id,
            chat_id=inbound.chat_id,
            now=now,
        )
        who = _Conversation(inbound.channel, inbound.chat_id, contact)
        row = await session_rows.load_active(db, inbound.channel, inbound.user_id)
        if row is not None and row.expires_at is not None and row.expires_at <= now:
            # Lapsed before the sweep saw it: the citizen starts fresh, silently.
            row.answers, row.state = {}, {}
            await session_rows.end(db, row, now, "expired")
            row = None
        current = _session_of(row) if row is not None else None
        locale = contact.locale or inbound.language_hint
        session, effects = step(self.flows, current, MessageResume(inbound), now, locale=locale)
        final, messages = await self._apply(db, who, session, effects, now)
        await self._store(db, who, row, inbound.user_id, final, now)
        key = f"in:{inbound.channel}:{inbound.platform_id}"
        await _enqueue(db, messages, key, now)
        return messages

    async def handle_timeouts(self, db: AsyncSession, now: datetime) -> list[OutboundMessage]:
        """Nudge the sessions idle for `session_nudge_minutes` and expire those idle for
        `session_idle_minutes`; returns (and queues) the messages. Call from a periodic sweep,
        inside a transaction; at most a batch of sessions per call."""
        rows = (
            await db.scalars(
                select(ConversationSession)
                .where(
                    ConversationSession.status == "active",
                    or_(
                        ConversationSession.nudge_at <= now,
                        ConversationSession.expires_at <= now,
                    ),
                )
                .order_by(ConversationSession.id)
                .limit(_TIMEOUT_BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        sent: list[OutboundMessage] = []
        for row in rows:
            expired = row.expires_at is not None and row.expires_at <= now
            resume: Resume = ExpiryResume() if expired else NudgeResume()
            key = (
                f"timeout:{row.id}:{'expiry' if expired else 'nudge'}:{row.updated_at.isoformat()}"
            )
            contact = await db.scalar(
                select(Contact).where(
                    Contact.channel == row.channel, Contact.platform_user_id == row.user_id
                )
            )
            if contact is None:  # the person was erased; nothing to tell
                await session_rows.end(db, row, now, "expired")
                continue
            channel: Channel = _channel(row.channel)
            who = _Conversation(channel, row.chat_id, contact)
            session, effects = step(self.flows, _session_of(row), resume, now)
            final, messages = await self._apply(db, who, session, effects, now)
            await self._store(db, who, row, row.user_id, final, now)
            await _enqueue(db, messages, key, now)
            sent.extend(messages)
        return sent

    # -- effects -----------------------------------------------------------------------

    async def _apply(
        self,
        db: AsyncSession,
        who: _Conversation,
        session: Session | None,
        effects: list[Effect],
        now: datetime,
    ) -> tuple[Session | None, list[OutboundMessage]]:
        messages: list[OutboundMessage] = []
        pending = list(effects)
        while pending:
            effect = pending.pop(0)
            if isinstance(effect, Send):
                messages.append(
                    OutboundMessage(
                        channel=who.channel,
                        chat_id=who.chat_id,
                        text=effect.text,
                        buttons=effect.buttons,
                        request_location=effect.request_location,
                    )
                )
            elif isinstance(effect, EndSession):
                continue
            else:
                outcome = await self.act(db, who.contact, effect, now)
                session, pending = step(self.flows, session, ActionResult(outcome), now)
        return session, messages

    async def act(
        self, db: AsyncSession, contact: Contact, action: Action, now: datetime
    ) -> dict[str, Any]:
        """Carry out one action for `contact`; the outcome is what the engine resumes with."""
        if isinstance(action, OpenCase):
            return await self.open_case(db, contact, action, now)
        if isinstance(action, FileComplaint):
            return await self.file_complaint(db, contact, action, now)
        if isinstance(action, LookUpCase):
            return await self.look_up(db, contact, action.number)
        if isinstance(action, ListOffices):
            return {"offices": [_office(agency) for agency in self.registry.agencies]}
        raise TypeError(f"unknown action {action!r}")

    async def _store(
        self,
        db: AsyncSession,
        who: _Conversation,
        row: ConversationSession | None,
        user_id: str,
        session: Session | None,
        now: datetime,
    ) -> None:
        if session is None:
            return
        if who.contact.locale != session.locale:
            who.contact.locale = session.locale
        active = session.status == "active"
        if row is None and not active:
            return
        values = {
            "chat_id": who.chat_id,
            "flow": session.flow,
            "step": session.step,
            "locale": session.locale,
            # A finished conversation keeps no answers: what was reported lives in the case,
            # under its retention rules, not in a second copy here (UU 27/2022).
            "answers": session.answers if active else {},
            "state": session.state if active else {},
            "nudge_at": session.nudge_at,
            "expires_at": session.expires_at,
            "updated_at": now,
        }
        if row is None:
            row = ConversationSession(
                channel=who.channel, user_id=user_id, started_at=now, **values
            )
            await session_rows.save(db, row)
        else:
            await session_rows.update_turn(db, row, values)
        if not active:
            await session_rows.end(db, row, now, session.status)

    # -- actions -----------------------------------------------------------------------

    def _agency_for(
        self,
        category: str | None,
        place: str | None,
        kecamatan: str | None,
        lat: float | None = None,
        lon: float | None = None,
    ) -> AreaMatch:
        """The office serving a place and category, else the one to send the report to (see
        `StandardsRegistry.find_agency_for_area`); a pin with no place named: the nearest."""
        kabupaten, province = split_place(place)
        if kabupaten:
            match = self.registry.find_agency_for_area(
                kabupaten, kecamatan, category=category, province=province, lat=lat, lon=lon
            )
            if match.agency is None and category is not None:
                # No office anywhere has this category: the one for the place takes it and
                # refers it.
                match = self.registry.find_agency_for_area(
                    kabupaten, kecamatan, province=province, lat=lat, lon=lon
                )
            return match
        if lat is not None and lon is not None:
            for wanted in (category, None):
                nearest = self.registry.nearest_agency(lat, lon, wanted)
                if nearest is not None:
                    return AreaMatch("area_unserved", nearest[0], "nearest", nearest[1])
        return AreaMatch("no_office", None, "none")

    async def _ensure_agency(self, db: AsyncSession, agency: Agency) -> None:
        await agency_rows.sync_agencies(db, [(agency.code, agency.name, agency.time_zone)])

    async def open_case(
        self, db: AsyncSession, contact: Contact, action: OpenCase, now: datetime
    ) -> dict[str, Any]:
        """Open a case under the right office's standard; the outcome the report flow words."""
        if not action.consent:
            return {"status": "no_consent"}
        place = action.location
        match = self._agency_for(
            action.category,
            place.get("kabupaten"),
            place.get("kecamatan"),
            place.get("latitude"),
            place.get("longitude"),
        )
        agency = match.agency
        if agency is None:
            return {"status": "no_office"}
        # "local": the area's office, with no office having the category, takes it and refers.
        served = match.served or match.how == "local"
        standard = _standard_for(self.registry, agency, action.category)
        kabupaten, province = split_place(place.get("kabupaten"))
        await self._ensure_agency(db, agency)
        if contact.consent_at is None:
            contact.consent_at = now
        if action.phone and not action.anonymous:
            contact.phone = action.phone
        due = self.registry.due(standard.code, now)
        case = await case_rows.create_case(
            db,
            agency_code=agency.code,
            standard_code=standard.code,
            category=action.category,
            locale=action.locale,
            received_at=now,
            priority=action.priority,
            status="new",
            current_step=0,
            track=standard.procedure[0].name,
            province=province if province != kabupaten else None,
            kabupaten=kabupaten,
            kecamatan=place.get("kecamatan"),
            address=place.get("address"),
            latitude=place.get("latitude"),
            longitude=place.get("longitude"),
            subject=dict(action.subject),
            photo_ref=action.photo_ref,
            reporter_contact_id=contact.id,
            anonymous=action.anonymous,
            due_at=due,
            details={"served": served, "channel": contact.channel},
        )
        await case_rows.append_event(
            db,
            case.id,
            at=now,
            actor_kind="citizen",
            kind="opened",
            data={"priority": action.priority, "served": served, "standard": standard.code},
        )
        if self.reminders is not None:
            # The flow's confirmation (number, requirements, due time) is the acknowledgment.
            await self.reminders.on_case_opened(db, case, now, acknowledged=True)
        for hook in self.case_hooks:
            await hook(db, case, now)
        outcome: dict[str, Any] = {"status": "opened" if served else "unserved"}
        if match.status == "category_unserved" and match.local is not None and not served:
            # The area's own office serves the place, not this kind of report: say so.
            outcome = {"status": "category_unserved", "local_name": _office_name(match.local)}
        return outcome | {
            "number": case.number,
            "agency_name": _office_name(agency),
            "standard_title": standard.title,
            "requirements": _requirements(standard),
            "contacts": _contacts(agency),
            "due_at": (case.due_at or due).isoformat(),
            "time_zone": agency.time_zone,
        }

    async def file_complaint(
        self, db: AsyncSession, contact: Contact, action: FileComplaint, now: datetime
    ) -> dict[str, Any]:
        """File a complaint with the office of the case or of the area named."""
        if not action.consent:
            return {"status": "no_consent"}
        case: Case | None = None
        agency: Agency | None = None
        if action.about_case:
            number = action.about_case.strip().upper()
            try:
                case = await case_rows.get_case(db, number)
            except NotFound:
                case = None
            # Only the reporter learns which office holds a case number, as in the status flow.
            if case is None or case.reporter_contact_id != contact.id:
                return {"status": "unknown_case", "number": number}
            agency = self.registry.agency(case.agency_code)
        if agency is None and action.about_area:
            agency = self._agency_for(None, action.about_area, None).agency
        if agency is None:
            return {"status": "no_office"}
        await self._ensure_agency(db, agency)
        if contact.consent_at is None:
            contact.consent_at = now
        if action.phone and not action.anonymous:
            contact.phone = action.phone
        about = action.about_case or action.about_area
        complaint = await complaint_rows.create_complaint(
            db,
            agency_code=agency.code,
            text=action.text,
            locale=action.locale,
            received_at=now,
            about=about,
            case_id=case.id if case is not None else None,
            contact_id=contact.id,
            anonymous=action.anonymous,
            status="open",
            due_at=_complaint_due(self.registry, agency, case, now),
        )
        if self.reminders is not None:
            # The flow's confirmation (number, office, answer time) is the acknowledgment.
            await self.reminders.on_complaint_filed(db, complaint, now, acknowledged=True)
        for hook in self.complaint_hooks:
            await hook(db, complaint, now)
        due_at = complaint.due_at or _complaint_due(self.registry, agency, case, now)
        return {
            "status": "filed",
            "number": complaint.number,
            "agency_name": _office_name(agency),
            "due_at": due_at.isoformat(),
            "time_zone": agency.time_zone,
        }

    async def look_up(self, db: AsyncSession, contact: Contact, number: str) -> dict[str, Any]:
        """A case or complaint by number, only when this contact filed it (else not found)."""
        wanted = number.strip().upper()
        if wanted.startswith(COMPLAINT_PREFIX):
            complaint = await db.scalar(select(Complaint).where(Complaint.number == wanted))
            if complaint is None or complaint.contact_id != contact.id:
                return {"kind": "none"}
            agency = self.registry.agency(complaint.agency_code)
            return {
                "kind": "complaint",
                "number": complaint.number,
                "state": complaint.status,
                "agency_name": _office_name(agency),
                "due_at": complaint.due_at.isoformat() if complaint.due_at else None,
                "time_zone": agency.time_zone,
            }
        case = await db.scalar(select(Case).where(Case.number == wanted))
        if case is None or case.reporter_contact_id != contact.id:
            return {"kind": "none"}
        agency = self.registry.agency(case.agency_code)
        return {
            "kind": "case",
            "number": case.number,
            "state": case.status,
            "step_title": _step_title(self.registry, case),
            "agency_name": _office_name(agency),
            "due_at": case.due_at.isoformat() if case.due_at else None,
            "time_zone": agency.time_zone,
        }


async def _enqueue(
    db: AsyncSession, messages: list[OutboundMessage], key: str, now: datetime
) -> None:
    """Queue the replies of one turn, `key:<index>` as dedup keys (a replay queues nothing)."""
    await enqueue_many(
        db, [Queued(message, f"{key}:{index}") for index, message in enumerate(messages)], now
    )


def split_place(text: str | None) -> tuple[str | None, str | None]:
    """ "Kab. Lumajang, Jawa Timur" -> ("Kab. Lumajang", "Jawa Timur"); a lone name is both
    (it may be a province: "Riau")."""
    if not text or not text.strip():
        return None, None
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        return None, None
    return parts[0], parts[-1]


def _channel(name: str) -> Channel:
    if name not in ("telegram", "whatsapp", "web", "terminal"):
        raise ValueError(f"unknown channel {name!r}")
    return name  # type: ignore[return-value]


def _session_of(row: ConversationSession) -> Session:
    status = row.status if row.status in ("active", "ended", "expired") else "ended"
    return Session(
        flow=row.flow,
        step=row.step,
        locale=row.locale,
        answers=dict(row.answers or {}),
        state=dict(row.state or {}),
        status=status,  # type: ignore[arg-type]
        nudge_at=row.nudge_at,
        expires_at=row.expires_at,
    )


def _office_name(agency: Agency) -> str:
    """ "Dinas Sosial (Pemerintah Kab. Bintan)": many offices share the name Dinas Sosial."""
    return f"{agency.name} ({agency.parent})" if agency.parent else agency.name


def _contacts(agency: Agency) -> list[str]:
    contacts = agency.contacts
    return [*contacts.phone, *contacts.email, *contacts.website, agency.address]


def _office(agency: Agency) -> dict[str, Any]:
    return {
        "name": _office_name(agency),
        "contacts": [*agency.contacts.phone, *agency.contacts.website],
        "areas": [area.kabupaten for area in agency.areas],
    }


def _standard_for(registry: StandardsRegistry, agency: Agency, category: str) -> ServiceStandard:
    """The agency's standard for the category; for "other", its first standard (the office
    triages and refers)."""
    matching = registry.standards_for(category, agency.code)
    return matching[0] if matching else agency.standards[0]


def _requirements(standard: ServiceStandard) -> list[str]:
    if standard.requirements:
        return list(standard.requirements)
    return list(standard.procedure[0].requirements)


def _step_title(registry: StandardsRegistry, case: Case) -> str:
    try:
        standard = registry.standard(case.standard_code)
    except NotFound:
        return ""
    track = next((t for t in standard.procedure if t.name == case.track), standard.procedure[0])
    index = min(max(case.current_step, 0), len(track.steps) - 1)
    return f"{index + 1}/{len(track.steps)}: {track.steps[index]}"


def _complaint_due(
    registry: StandardsRegistry, agency: Agency, case: Case | None, now: datetime
) -> datetime:
    code = case.standard_code if case is not None else agency.standards[0].code
    return registry.complaint_due(code, now)
