"""A small world for reminder tests: the five seed offices, their officers, groups and citizens,
an injected clock, the service and the sweep, and a walker that moves the clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.clock import FixedClock
from laporbot.db.agencies import sync_agencies
from laporbot.db.cases import create_case
from laporbot.db.models import Contact, Officer, OfficerGroup, OutboxMessage
from laporbot.i18n import Translator
from laporbot.paths import data_dir
from laporbot.reminders.service import ReminderService
from laporbot.reminders.sweep import ReminderSweep
from laporbot.settings import Settings
from laporbot.standards.registry import StandardsRegistry, load_registry

WIB = ZoneInfo("Asia/Jakarta")

_REGISTRY: StandardsRegistry | None = None
_TRANSLATOR: Translator | None = None


def registry() -> StandardsRegistry:
    """The shipped standards, loaded once per run."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = load_registry(data_dir("standards"))
    return _REGISTRY


def translator() -> Translator:
    """The shipped catalogs, loaded once per run."""
    global _TRANSLATOR
    if _TRANSLATOR is None:
        _TRANSLATOR = Translator(data_dir("locales"))
    return _TRANSLATOR


def wib(*args: int) -> datetime:
    """A WIB wall-clock time as an aware UTC datetime."""
    return datetime(*args, tzinfo=WIB).astimezone(UTC)  # type: ignore[misc]


@dataclass(frozen=True)
class Sent:
    """One outbox message as a test sees it."""

    chat: str
    text: str
    template: str | None = None
    template_params: tuple[str, ...] = ()
    buttons: tuple[str, ...] = ()


@dataclass
class World:
    """Everything a reminder test touches."""

    sessionmaker: async_sessionmaker[AsyncSession]
    clock: FixedClock
    service: ReminderService
    sweep: ReminderSweep
    settings: Settings
    contacts: dict[str, int] = field(default_factory=dict)
    officers: dict[str, int] = field(default_factory=dict)
    seen_outbox: int = 0

    async def tick(self) -> list[Sent]:
        """Run the sweep at the clock's time; the outbox messages it queued."""
        await self.sweep.run_once()
        return await self.new_messages()

    async def open_case(
        self,
        *,
        agency_code: str = "dinsos-riau",
        standard_code: str = "riau-penyerahan-anak-lansia",
        category: str = "anak_terlantar",
        contact: str = "tg-id",
        acknowledged: bool = False,
        **fields: Any,
    ) -> int:
        """Open a case at the clock's time, reported by `contact`, and plan it as intake does
        (`acknowledged`: the chat already confirmed it); its id. `fields` are further `Case`
        columns (priority, kabupaten, ...)."""
        now = self.clock.now()
        async with self.sessionmaker() as session, session.begin():
            case = await create_case(
                session,
                agency_code=agency_code,
                standard_code=standard_code,
                category=category,
                locale="id",
                received_at=now,
                reporter_contact_id=self.contacts[contact],
                **fields,
            )
            await self.service.on_case_opened(session, case, now, acknowledged=acknowledged)
            return case.id

    async def new_messages(self) -> list[Sent]:
        """Outbox messages queued since the last call, in queue order."""
        async with self.sessionmaker() as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.id > self.seen_outbox)
                    .order_by(OutboxMessage.id)
                )
            ).all()
        if rows:
            self.seen_outbox = rows[-1].id
        return [
            Sent(
                chat=f"{row.channel}:{row.chat_id}",
                text=row.payload["text"],
                template=row.payload.get("template"),
                template_params=tuple(row.payload.get("template_params", ())),
                buttons=tuple(b["id"] for b in row.payload.get("buttons", ())),
            )
            for row in rows
        ]


async def make_world(
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    start: datetime,
    *,
    worker: str = "sweep-1",
    **settings: Any,
) -> World:
    """Seed agencies, one officer, one supervisor and one group per office, and citizens."""
    clock = FixedClock(start)
    config = Settings(data_dir=tmp_path, **settings)
    reg = registry()
    world = World(
        sessionmaker=sessionmaker,
        clock=clock,
        service=ReminderService(reg),
        sweep=ReminderSweep(sessionmaker, reg, translator(), config, clock, worker=worker),
        settings=config,
    )
    created = start - timedelta(days=30)
    async with sessionmaker() as session, session.begin():
        await sync_agencies(session, [(a.code, a.name, a.time_zone) for a in reg.agencies])
        for agency in reg.agencies:
            for role, prefix in (("officer", "off"), ("supervisor", "sup")):
                officer = Officer(
                    agency_code=agency.code,
                    telegram_user_id=f"{prefix}-{agency.code}",
                    role=role,
                    display_name=f"{role.title()} {agency.code}",
                    active=True,
                    created_at=created,
                )
                session.add(officer)
                await session.flush()
                world.officers[f"{prefix}-{agency.code}"] = officer.id
            session.add(
                OfficerGroup(
                    agency_code=agency.code,
                    channel="telegram",
                    chat_id=f"grp-{agency.code}",
                    purpose="triage",
                    created_at=created,
                )
            )
        for name, channel, locale in (
            ("tg-id", "telegram", "id"),
            ("tg-en", "telegram", "en"),
            ("wa-id", "whatsapp", "id"),
        ):
            contact = Contact(
                channel=channel,
                platform_user_id=name,
                chat_id=name,
                locale=locale,
                created_at=created,
                last_inbound_at=start,
            )
            session.add(contact)
            await session.flush()
            world.contacts[name] = contact.id
    return world
