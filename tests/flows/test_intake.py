"""The application layer on a real database (SQLite; PostgreSQL too when configured):
sessions survive a restart, replies land in the outbox in the same transaction, idle sessions
are nudged once and then expire."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from laporbot.db.models import Case, Contact, ConversationSession, OutboxMessage
from laporbot.intake import Intake, split_place
from laporbot.messages import InboundMessage, Location
from laporbot.settings import Settings
from tests.db.conftest import Store

START = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)


@pytest.fixture
def maker(store: Store) -> Any:
    """A migrated, empty database: SQLite, and PostgreSQL when configured."""
    return store.sessionmaker


class Citizen:
    """Sends messages as one Telegram user, a minute apart."""

    def __init__(self, user: str = "42") -> None:
        self.user = user
        self.count = 0
        self.now = START

    def says(
        self, text: str | None = None, *, choice: str | None = None, pin: Location | None = None
    ) -> InboundMessage:
        self.count += 1
        self.now += timedelta(minutes=1)
        kind = "location" if pin else "choice" if choice else "text"
        return InboundMessage(
            channel="telegram",
            platform_id=f"{self.user}-{self.count}",
            user_id=self.user,
            chat_id=f"chat-{self.user}",
            kind=kind,
            received_at=self.now,
            text=text,
            choice=choice,
            location=pin,
        )


async def send(maker: Any, intake: Intake, message: InboundMessage) -> list[str]:
    async with maker() as db, db.begin():
        replies = await intake.handle_inbound(db, message, message.received_at)
    return [reply.text for reply in replies]


async def test_restart_in_the_middle_of_a_report_resumes(maker: Any) -> None:
    citizen = Citizen()
    before = Intake.from_settings(Settings())
    for line in ["halo", "1", "1", "tidak", "ya", "Kab. Bintan"]:
        await send(maker, before, citizen.says(line))
    # The service restarts: a new engine, flows and catalogs loaded again; the session is in
    # the database only.
    after = Intake.from_settings(Settings())
    replies = await send(maker, after, citizen.says("Bintan Timur"))
    assert replies == ["Ketik alamat atau patokan tempatnya (jalan, desa/kelurahan, dekat apa)."]
    for line in ["Jl. Raya Kijang", "10", "1", "sendirian di pelabuhan", "lewati", "ya"]:
        await send(maker, after, citizen.says(line))
    replies = await send(maker, after, citizen.says(choice="confirm"))
    assert "Nomor laporan: LPR-2026-000001" in replies[-1]
    async with maker() as db:
        case = (await db.scalars(select(Case))).one()
        assert (case.agency_code, case.kabupaten, case.kecamatan) == (
            "dinsos-bintan",
            "Kab. Bintan",
            "Bintan Timur",
        )
        assert case.anonymous
        assert case.subject == {"age": 10, "sex": "male", "condition": "sendirian di pelabuhan"}
        sessions = (await db.scalars(select(ConversationSession))).all()
        assert [s.status for s in sessions] == ["ended"]
        contact = (await db.scalars(select(Contact))).one()
        assert contact.consent_at is not None
        assert case.reporter_contact_id == contact.id


async def test_replies_are_queued_in_the_outbox_once(maker: Any) -> None:
    citizen = Citizen()
    intake = Intake.from_settings(Settings())
    first = citizen.says("halo")
    await send(maker, intake, first)
    async with maker() as db:
        rows = (await db.scalars(select(OutboxMessage))).all()
        assert [(r.channel, r.chat_id, r.dedup_key) for r in rows] == [
            ("telegram", "chat-42", "in:telegram:42-1:0")
        ]
        assert rows[0].payload["buttons"][0]["id"] == "report"


async def test_idle_session_is_nudged_once_then_expires(maker: Any) -> None:
    citizen = Citizen()
    intake = Intake.from_settings(Settings())
    await send(maker, intake, citizen.says("halo"))
    last = citizen.now
    async with maker() as db, db.begin():
        assert await intake.handle_timeouts(db, last + timedelta(minutes=19)) == []
    async with maker() as db, db.begin():
        nudged = await intake.handle_timeouts(db, last + timedelta(minutes=20))
    assert [m.text for m in nudged] == [
        "Apakah Anda masih di sana? Jawab pertanyaan terakhir untuk melanjutkan."
    ]
    async with maker() as db, db.begin():
        assert await intake.handle_timeouts(db, last + timedelta(minutes=25)) == []
    async with maker() as db, db.begin():
        expired = await intake.handle_timeouts(db, last + timedelta(minutes=30))
    assert len(expired) == 1
    assert expired[0].chat_id == "chat-42"
    async with maker() as db:
        statuses = (await db.scalars(select(ConversationSession.status))).all()
        assert statuses == ["expired"]
        queued = await db.scalar(select(func.count()).select_from(OutboxMessage))
        assert queued == 3  # the menu, the nudge, the goodbye


async def test_a_lapsed_session_starts_fresh_when_the_sweep_missed_it(maker: Any) -> None:
    citizen = Citizen()
    intake = Intake.from_settings(Settings())
    await send(maker, intake, citizen.says("halo"))
    await send(maker, intake, citizen.says("1"))
    citizen.now += timedelta(hours=2)
    replies = await send(maker, intake, citizen.says("1"))
    assert replies[0].startswith("Halo, ini layanan pelaporan")
    async with maker() as db:
        statuses = (
            await db.scalars(select(ConversationSession.status).order_by(ConversationSession.id))
        ).all()
        assert statuses == ["expired", "active"]


async def test_language_is_remembered_for_the_next_conversation(maker: Any) -> None:
    citizen = Citizen()
    intake = Intake.from_settings(Settings())
    await send(maker, intake, citizen.says("english"))
    await send(maker, intake, citizen.says("/cancel"))
    replies = await send(maker, intake, citizen.says("hi"))
    assert replies[0].startswith("Hello, this is the Dinas Sosial")


def test_split_place() -> None:
    assert split_place("Kab. Lumajang, Jawa Timur") == ("Kab. Lumajang", "Jawa Timur")
    assert split_place("Riau") == ("Riau", "Riau")
    assert split_place(" , ") == (None, None)
    assert split_place(None) == (None, None)
