"""An office on a real, migrated SQLite database: the intake opens cases from citizen chats, the
officer desk handles officers' messages, both on the same transactions as in production."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.clock import FixedClock
from laporbot.db import agencies as agency_rows
from laporbot.db.models import Case, CaseEvent, OutboxMessage
from laporbot.intake import Intake
from laporbot.messages import InboundMessage, Photo
from laporbot.officers import OfficerDesk
from laporbot.officers.invites import create_invite
from laporbot.reminders.sweep import ReminderSweep
from laporbot.settings import Settings
from tests.db.conftest import Store, postgres_url, store

__all__ = ["postgres_url", "store"]

START = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)  # Tuesday 09:00 WIB

# One citizen report to Kab. Bintan (anonymous, no photo), as the report flow asks for it.
BINTAN_REPORT = [
    "halo",
    "1",
    "1",
    "tidak",
    "ya",
    "Kab. Bintan",
    "Bintan Timur",
    "Jl. Raya Kijang No. 7",
    "10",
    "1",
    "sendirian di pelabuhan sejak kemarin",
    "lewati",
    "ya",
]


@dataclass
class Clock:
    """The test's time: every message a minute after the last."""

    now: datetime = START

    def tick(self, minutes: int = 1) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


@dataclass
class Person:
    """A Telegram user writing to the bot in private or in a group."""

    user_id: str
    office: Office

    def _message(self, chat_id: str, is_group: bool, **fields: Any) -> InboundMessage:
        self.office.counter += 1
        return InboundMessage(
            channel="telegram",
            platform_id=str(self.office.counter),
            user_id=self.user_id,
            chat_id=chat_id,
            received_at=self.office.clock.tick(),
            is_group=is_group,
            **fields,
        )

    async def says(
        self, text: str, *, in_group: str | None = None, reply_to: str | None = None
    ) -> bool:
        kind = "command" if text.startswith("/") else "text"
        message = self._message(
            in_group or self.user_id, in_group is not None, kind=kind, text=text, reply_to=reply_to
        )
        return await self.office.officer_inbound(message)

    async def presses(
        self, data: str, *, in_group: str | None = None, on: str | None = None
    ) -> bool:
        message = self._message(
            in_group or self.user_id, in_group is not None, kind="choice", choice=data, reply_to=on
        )
        return await self.office.officer_inbound(message)

    async def sends_sticker(self) -> bool:
        """Content no step can read (the adapters' "unsupported" kind)."""
        message = self._message(self.user_id, False, kind="unsupported", content="sticker")
        return await self.office.officer_inbound(message)

    async def sends_photo(self, ref: str, caption: str | None = None) -> bool:
        message = self._message(
            self.user_id, False, kind="photo", photo=Photo(ref, caption), text=caption
        )
        return await self.office.officer_inbound(message)


@dataclass
class Office:
    """The deployment under test: database, intake with the desk's hooks, the desk."""

    maker: async_sessionmaker[AsyncSession]
    intake: Intake
    desk: OfficerDesk
    clock: Clock = field(default_factory=Clock)
    counter: int = 0

    async def officer_inbound(self, message: InboundMessage) -> bool:
        """What the service does (`Service._handle_batch`, then `_handle_inbound` for what it
        leaves): the citizen flows take what the officer side certainly does not want; the
        rest goes to the officer side first, then to the citizen flows if it passes. True when
        the officer side handled it."""
        now = message.received_at
        async with self.maker() as db, db.begin():
            (outcome,) = await self.intake.handle_batch(db, [message], now, officer_side=self.desk)
            if isinstance(outcome, BaseException):
                raise outcome
            if outcome is not None:
                return False
            handled = await self.desk.handle_officer_inbound(db, message, now)
            if not handled:
                await self.intake.handle_inbound(db, message, now)
        return handled

    def person(self, user_id: str) -> Person:
        return Person(user_id, self)

    async def invite(self, agency: str, role: str) -> str:
        async with self.maker() as db, db.begin():
            found = next(a for a in self.desk.ctx.registry.agencies if a.code == agency)
            await agency_rows.sync_agencies(db, [(found.code, found.name, found.time_zone)])
            invite = await create_invite(db, agency_code=agency, role=role, now=self.clock.now)
            return invite.code

    async def citizen_reports(self, citizen: Person, lines: list[str] = BINTAN_REPORT) -> Case:
        for line in lines:
            assert not await citizen.says(line)
        await citizen.presses("confirm")
        async with self.maker() as db:
            case = await db.scalar(select(Case).order_by(Case.id.desc()).limit(1))
            assert case is not None
            return case

    async def case(self, case_id: int) -> Case:
        async with self.maker() as db:
            found = await db.get(Case, case_id)
            assert found is not None
            return found

    async def outbox(self, chat_id: str | None = None) -> list[OutboxMessage]:
        async with self.maker() as db:
            query = select(OutboxMessage).order_by(OutboxMessage.id)
            if chat_id is not None:
                query = query.where(OutboxMessage.chat_id == chat_id)
            return list((await db.scalars(query)).all())

    async def texts(self, chat_id: str) -> list[str]:
        return [str(row.payload["text"]) for row in await self.outbox(chat_id)]

    async def sweep(self) -> None:
        """Run the reminder sweep once at the test's time (citizen follow-ups go out)."""
        sweep = ReminderSweep(
            self.maker,
            self.desk.ctx.registry,
            self.desk.ctx.translator,
            Settings(),
            FixedClock(self.clock.now),
        )
        await sweep.run_once()

    async def events(self, case_id: int) -> list[CaseEvent]:
        async with self.maker() as db:
            rows = await db.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
            )
            return list(rows.all())


_SHARED: dict[str, Any] = {}


def _intake() -> Intake:
    # Loading flows, catalogs and standards takes a moment; they are read-only, so one copy
    # serves every test.
    if "intake" not in _SHARED:
        _SHARED["intake"] = Intake.from_settings(Settings())
    base: Intake = _SHARED["intake"]
    return Intake(base.flows, base.registry, base.reminders)


@pytest.fixture
def office(store: Store) -> Office:
    """The office on SQLite and, when LAPORBOT_TEST_POSTGRES_URL is set, on PostgreSQL."""
    intake = _intake()
    if "desk" not in _SHARED:
        _SHARED["desk"] = OfficerDesk.from_settings(
            Settings(), registry=intake.registry, reminders=intake.reminders
        )
    desk: OfficerDesk = _SHARED["desk"]
    intake.case_hooks.append(desk.on_case_opened)
    intake.complaint_hooks.append(desk.on_complaint_filed)
    return Office(store.sessionmaker, intake, desk)
