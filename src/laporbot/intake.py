"""The application layer of citizen conversations: runs the engine and applies its effects.

One `Intake` per process (`Intake.from_settings(settings)`), shared by every channel:

    intake = Intake.from_settings(settings)
    async with sessionmaker() as db, db.begin():
        replies = await intake.handle_inbound(db, inbound, now)   # also queued in the outbox
    async with sessionmaker() as db, db.begin():
        await intake.handle_timeouts(db, now)                     # nudges and expiries

`handle_batch(db, inbounds, now)` does what `handle_inbound` does for many messages at once
(the inbox's batches), in one statement per kind for the whole batch. All three run inside the
caller's transaction and never commit: the session's new state, any case or complaint opened,
its deadlines and reminders, and the outbox rows of the replies are stored together or not at
all. The engine (`laporbot.flows`) decides; this module only looks things
up and writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from laporbot.db import agencies as agency_rows
from laporbot.db import cases as case_rows
from laporbot.db import complaints as complaint_rows
from laporbot.db import contacts as contact_rows
from laporbot.db import direct
from laporbot.db import sessions as session_rows
from laporbot.db._sql import dialect_of
from laporbot.db.models import Case, Complaint, Contact
from laporbot.db.numbers import COMPLAINT_PREFIX
from laporbot.db.sessions import TURN_COLUMNS
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
#: What `handle_batch` made of one message: its replies (handled), the error that stopped it
#: (whatever it wrote rolled back), or None (not handled: to be handled on its own, after the
#: batch, e.g. by the officer side).
Outcome = list[OutboundMessage] | BaseException | None


class OfficerSide(Protocol):
    """The officer side's say over a batch (`OfficerDesk`): whose officer bindings it needs
    (read with the active sessions, in the batch's first statement), and whether it may take
    a message given those and the flow of the sender's active conversation (None: none)."""

    def senders(self, inbounds: Sequence[InboundMessage]) -> Collection[str]: ...

    def may_take(
        self, inbound: InboundMessage, *, officers: Collection[str], flow: str | None
    ) -> bool: ...


_TIMEOUT_BATCH = 200


@dataclass(slots=True)
class _Row:
    """A `conversation_sessions` row as a batch sees it: stored (`id`) or to be inserted."""

    id: int | None
    channel: str
    user_id: str
    started_at: datetime
    values: dict[str, Any]  # every one of TURN_COLUMNS
    status: str = "active"
    changed: bool = False

    @classmethod
    def stored(cls, row: Mapping[str, Any]) -> _Row:
        values = {name: row[name] for name in TURN_COLUMNS}
        return cls(
            row["id"], row["channel"], row["user_id"], row["started_at"], values, row["status"]
        )

    def end(self, status: str, now: datetime) -> None:
        """Close the conversation as "ended" or "expired" (as `db.sessions.end`)."""
        self.status = status
        self.values["updated_at"] = now
        self.changed = True


@dataclass(slots=True)
class _Person:
    """One citizen in a batch: their contact and their active conversation, if any."""

    row: Mapping[str, Any]  # the contact as the batch read it
    locale: str | None  # their language now (the row's until a turn changes it)
    active: _Row | None
    contact: Contact | None = None  # the ORM object, made for an action only
    #: Their contact is touched (and their language stored) by the batch's last statement,
    #: not yet (PostgreSQL); `row` then holds what it writes, and an `id` of None if the
    #: contact is new and not inserted yet.
    untouched: bool = False

    @property
    def contact_id(self) -> int:
        return int(self.row["id"])

    @property
    def user_id(self) -> str:
        return str(self.row["platform_user_id"])

    @property
    def stored_locale(self) -> str | None:
        return cast("str | None", self.row["locale"])


def _changed(person: _Person) -> str | None:
    """The person's language if a turn changed it, else None."""
    return person.locale if person.locale != person.stored_locale else None


@dataclass(slots=True)
class _Conversation:
    """Who a turn's effects are for: the person and where replies go."""

    channel: Channel
    chat_id: str
    person: _Person


@dataclass
class _Batch:
    """The turns of one transaction, kept in memory and written at the end with one
    statement per kind (sessions, contacts' languages, outbox rows) instead of several per
    turn. An action (opening a case...) writes at once, in a savepoint of its own."""

    db: AsyncSession
    now: datetime
    #: An action runs in a savepoint of its own (its failure is its message's outcome);
    #: otherwise its failure propagates, for the caller to roll the transaction back.
    isolate: bool = True
    rows: list[_Row] = field(default_factory=list)
    people: list[_Person] = field(default_factory=list)
    queued: list[Queued] = field(default_factory=list)

    def person(
        self, contact: Mapping[str, Any], active: _Row | None, *, untouched: bool = False
    ) -> _Person:
        person = _Person(contact, contact["locale"], active, untouched=untouched)
        self.people.append(person)
        if active is not None:
            self.rows.append(active)
        return person

    def queue(self, messages: list[OutboundMessage], key: str) -> None:
        """The replies of one turn, `key:<index>` as dedup keys (a replay queues nothing)."""
        self.queued.extend(Queued(m, f"{key}:{index}") for index, m in enumerate(messages))

    async def flush_queue(self, along: direct.Along | None = None) -> None:
        """Queue the replies so far; `along`: a write the insert carries (PostgreSQL)."""
        await enqueue_many(self.db, self.queued, self.now, along=along)
        self.queued = []

    async def write(self) -> None:
        updates = [
            {"row_id": row.id, "status": row.status, **row.values}
            for row in self.rows
            if row.id is not None and row.changed
        ]
        inserts = [
            {
                "channel": row.channel,
                "user_id": row.user_id,
                "started_at": row.started_at,
                "status": row.status,
                **row.values,
            }
            for row in self.rows
            if row.id is None
        ]
        # On PostgreSQL the session updates and the contacts' touch ride on the outbox insert
        # (one round trip).
        along = await session_rows.write_turns(self.db, updates, inserts, along_next=True)
        untouched = [p for p in self.people if p.untouched]
        if untouched:
            people = sorted(
                ((p.row["channel"], p.user_id, p.row["chat_id"], _changed(p)) for p in untouched),
                key=lambda person: person[:2],
            )
            along = direct.Along.both(along, contact_rows.touch_along(people, self.now))
        changed = [p for p in self.people if p.locale != p.stored_locale]
        await contact_rows.set_locales(
            self.db, {p.contact_id: p.locale for p in changed if not p.untouched}
        )
        for person in changed:
            if person.contact is not None:  # the ORM object, for the rest of the transaction
                set_committed_value(person.contact, "locale", person.locale)
        await self.flush_queue(along)


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
    #: Agency codes whose rows are committed (`agencies_stored`): a case of theirs needs no
    #: upsert of its agency first. Rows of agencies are never deleted.
    stored_agencies: set[str] = field(default_factory=set)

    def agencies_stored(self, codes: Iterable[str]) -> None:
        """The agencies' rows are committed (the service syncs them all at start)."""
        self.stored_agencies.update(codes)

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
        (outcome,) = await self.handle_batch(db, [inbound], now)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome or []

    def first_read_ask(
        self, inbounds: Sequence[InboundMessage], *, officer_side: OfficerSide | None = None
    ) -> session_rows.FirstReadAsk:
        """What `handle_batch` reads first for `inbounds` (their senders' sessions and
        contacts, and the officer bindings the `officer_side` asks about), for a caller that
        reads it earlier (the inbox's group commit: `sessions.keep_first_read`)."""
        private = [m for m in inbounds if not m.is_group]
        senders = officer_side.senders(private) if officer_side else ()
        return session_rows.first_read_ask({(m.channel, m.user_id) for m in private}, senders)

    async def handle_batch(
        self,
        db: AsyncSession,
        inbounds: Sequence[InboundMessage],
        now: datetime,
        *,
        officer_side: OfficerSide | None = None,
        isolate: bool = True,
    ) -> list[Outcome]:
        """`handle_inbound` for many messages in one go (the inbox's batch): the same turns,
        with the same effects, in a handful of statements for the whole batch (contacts,
        sessions, outbox rows) rather than several per message. Returns an `Outcome` per
        message.

        Messages of one person are taken in the order given. A message the `officer_side`
        may take, or a group message, is left (None), and so are that person's later ones, for
        the caller to handle one by one after this batch, in order. A message whose action
        fails has its writes rolled back (the error is its outcome) and the person's later ones
        are left. An error in the final writes propagates: the caller rolls the whole batch
        back (wrap the call in a savepoint) and handles the messages one by one.

        `isolate=False`, for a caller that rolls its whole transaction back on any error and
        handles the messages again one by one (the inbox's group commit): an action runs
        without a savepoint of its own (two round trips fewer per case opened) and its
        failure propagates like an error in the final writes.
        """
        outcomes: list[Outcome] = [None] * len(inbounds)
        private = [(index, m) for index, m in enumerate(inbounds) if not m.is_group]
        if not private:
            return outcomes
        ask = self.first_read_ask([m for _, m in private], officer_side=officer_side)
        read = await session_rows.load_active_many(db, ask.keys, officers_among=ask.officers_among)
        stored, officers = read.sessions, read.officers
        stopped: set[tuple[str, str]] = set()
        turns: list[tuple[int, InboundMessage]] = []
        for index, inbound in private:
            key = (inbound.channel, inbound.user_id)
            row = stored.get(key)
            flow = row["flow"] if row is not None else None
            if key in stopped or (
                officer_side is not None
                and officer_side.may_take(inbound, officers=officers, flow=flow)
            ):
                stopped.add(key)  # this one and their later ones: on their own, in order
                continue
            turns.append((index, inbound))
        if not turns:
            return outcomes
        seen = [(m.channel, m.user_id, m.chat_id) for _, m in turns]
        untouched = read.contacts is not None
        if read.contacts is None:
            contacts = await contact_rows.touch_many(db, seen, now)
        else:
            # Read with the sessions; touched by the batch's last statement (PostgreSQL).
            known = read.contacts
            contacts = {
                (channel, user): (
                    {**found, "chat_id": chat, "last_inbound_at": now}
                    if (found := known.get((channel, user))) is not None
                    else contact_rows.unsaved(channel, user, chat, now)
                )
                for channel, user, chat in seen  # a person's last chat id wins, as touched
            }
        batch = _Batch(db, now, isolate)
        people = {
            key: batch.person(
                contact,
                _Row.stored(row) if (row := stored.get(key)) else None,
                untouched=untouched,
            )
            for key, contact in contacts.items()
        }
        failed: set[tuple[str, str]] = set()
        for index, inbound in turns:
            key = (inbound.channel, inbound.user_id)
            if key in failed:
                continue  # left: after the failed one
            who = _Conversation(inbound.channel, inbound.chat_id, people[key])
            try:
                outcomes[index] = await self._message_turn(batch, who, inbound)
            except Exception as exc:
                if not isolate:
                    raise  # nothing of it was undone: the caller rolls back
                outcomes[index] = exc
                failed.add(key)
        await batch.write()
        return outcomes

    async def handle_timeouts(self, db: AsyncSession, now: datetime) -> list[OutboundMessage]:
        """Nudge the sessions idle for `session_nudge_minutes` and expire those idle for
        `session_idle_minutes`; returns (and queues) the messages. Call from a periodic sweep,
        inside a transaction; at most a batch of sessions per call."""
        rows = await session_rows.due_for_timeout(db, now, _TIMEOUT_BATCH)
        contacts = await contact_rows.find_many(db, [(r["channel"], r["user_id"]) for r in rows])
        batch = _Batch(db, now)
        sent: list[OutboundMessage] = []
        for stored in rows:
            row = _Row.stored(stored)
            contact = contacts.get((row.channel, row.user_id))
            if contact is None:  # the person was erased; nothing to tell
                batch.rows.append(row)
                row.end("expired", now)
                continue
            expired = row.values["expires_at"] is not None and row.values["expires_at"] <= now
            resume: Resume = ExpiryResume() if expired else NudgeResume()
            kind = "expiry" if expired else "nudge"
            key = f"timeout:{row.id}:{kind}:{row.values['updated_at'].isoformat()}"
            who = _Conversation(
                _channel(row.channel), row.values["chat_id"], batch.person(contact, row)
            )
            session, effects = step(self.flows, _session_of(row), resume, now)
            final, messages = await self._apply(batch, who, session, effects)
            self._keep(batch, who, row, final)
            batch.queue(messages, key)
            sent.extend(messages)
        await batch.write()
        return sent

    # -- turns -------------------------------------------------------------------------

    async def _message_turn(
        self, batch: _Batch, who: _Conversation, inbound: InboundMessage
    ) -> list[OutboundMessage]:
        """One message of a batch; the person's state changes only once it went through."""
        now = batch.now
        person = who.person
        row = person.active
        lapsed = (
            row is not None and (until := row.values["expires_at"]) is not None and until <= now
        )
        current = _session_of(row) if row is not None and not lapsed else None
        locale = person.locale or inbound.language_hint
        session, effects = step(self.flows, current, MessageResume(inbound), now, locale=locale)
        final, messages = await self._apply(batch, who, session, effects)
        if row is not None and lapsed:
            # Lapsed before the sweep saw it: the citizen starts fresh, silently.
            row.values.update(answers={}, state={})
            row.end("expired", now)
            person.active = row = None
        self._keep(batch, who, row, final)
        batch.queue(messages, f"in:{inbound.channel}:{inbound.platform_id}")
        return messages

    async def _apply(
        self, batch: _Batch, who: _Conversation, session: Session | None, effects: list[Effect]
    ) -> tuple[Session | None, list[OutboundMessage]]:
        messages: list[OutboundMessage] = []
        pending = list(effects)
        savepoint = None
        acted = False
        try:
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
                    if not acted:
                        # The replies queued so far go first (a chat's order: an action may
                        # queue messages too), and the action's writes are undone alone if
                        # this turn fails (when isolated; else the caller rolls back).
                        acted = True
                        await batch.flush_queue()
                        if batch.isolate:
                            savepoint = await batch.db.begin_nested()
                    contact = await self._contact(batch, who.person)
                    outcome = await self.act(batch.db, contact, effect, batch.now)
                    session, pending = step(self.flows, session, ActionResult(outcome), batch.now)
            if savepoint is not None:
                await savepoint.commit()
        except BaseException:
            if savepoint is not None and savepoint.is_active:
                await savepoint.rollback()
                # The object may hold what the rolled-back statements wrote (a consent
                # carried by the case's insert): read it again if needed.
                who.person.contact = None
            raise
        return session, messages

    async def _contact(self, batch: _Batch, person: _Person) -> Contact:
        if person.contact is None:
            db = batch.db
            if person.row["id"] is None:
                # New, and its touch was left for the batch's last statement: an action needs
                # the row now (the last statement touches it again, to the same values).
                row = person.row
                (person.row,) = (
                    await contact_rows.touch_many(
                        db, [(row["channel"], row["platform_user_id"], row["chat_id"])], batch.now
                    )
                ).values()
            if identity_key(Contact, person.contact_id) in db.sync_session.identity_map:
                contact = await db.get(Contact, person.contact_id, populate_existing=True)
                if contact is None:  # pragma: no cover - touched in this very transaction
                    raise NotFound("contact", str(person.contact_id))
            else:
                # Made from the row this batch wrote and read back (no SELECT): loaded as if
                # queried, so a flush writes only what the action changes.
                contact = Contact(**person.row)
                make_transient_to_detached(contact)
                db.add(contact)
            person.contact = contact
        return person.contact

    def _keep(
        self, batch: _Batch, who: _Conversation, row: _Row | None, session: Session | None
    ) -> None:
        """Take a turn's outcome into the batch (written by `_Batch.write`)."""
        if session is None:
            return
        person = who.person
        person.locale = session.locale
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
            "updated_at": batch.now,
        }
        if row is None:
            row = _Row(None, who.channel, person.user_id, batch.now, values)
            batch.rows.append(row)
        else:
            row.values = values
        row.changed = True
        if active:
            person.active = row
        else:
            row.status = session.status
            person.active = None

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
        if agency.code not in self.stored_agencies:
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
        carried = _record_consent(contact, action, now, carried=dialect_of(db) == "postgresql")
        due = self.registry.due(standard.code, now)
        case = await case_rows.create_case(
            db,
            along=carried,
            time_zone=agency.time_zone,
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
            event={
                "at": now,
                "actor_kind": "citizen",
                "kind": "opened",
                "data": {"priority": action.priority, "served": served, "standard": standard.code},
            },
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
        _record_consent(contact, action, now, carried=False)
        about = action.about_case or action.about_area
        complaint = await complaint_rows.create_complaint(
            db,
            time_zone=agency.time_zone,
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


def _record_consent(
    contact: Contact, action: OpenCase | FileComplaint, now: datetime, *, carried: bool
) -> direct.Along | None:
    """A report's consent (its first time: `now`) and its phone (unless anonymous) on the
    reporter's contact. `carried` (PostgreSQL): returned as a write for the statement that
    stores the report to carry (a round trip less), the object set as that statement leaves
    the row; else set on the object, flushed before the next statement."""
    consent_at = now if contact.consent_at is None else None
    phone = action.phone if action.phone and not action.anonymous else None
    if not carried:
        if consent_at is not None:
            contact.consent_at = consent_at
        if phone is not None:
            contact.phone = phone
        return None
    if consent_at is None and phone is None:
        return None
    for name, value in (("consent_at", consent_at), ("phone", phone)):
        if value is not None:
            set_committed_value(contact, name, value)
    return contact_rows.consent_along(contact.id, consent_at, phone)


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


def _session_of(row: _Row) -> Session:
    status = row.status if row.status in ("active", "ended", "expired") else "ended"
    values = row.values
    return Session(
        flow=values["flow"],
        step=values["step"],
        locale=values["locale"],
        answers=dict(values["answers"] or {}),
        state=dict(values["state"] or {}),
        status=status,  # type: ignore[arg-type]
        nudge_at=values["nudge_at"],
        expires_at=values["expires_at"],
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
