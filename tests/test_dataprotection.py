"""One person's data on request and everyone's after the retention period (UU 27/2022):
`laporbot.dataprotection` and `laporbot privacy export|erase|purge`."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot import dataprotection
from laporbot.cli import main
from laporbot.clock import FixedClock
from laporbot.db import outbox as outbox_repo
from laporbot.db.agencies import sync_agencies
from laporbot.db.cases import create_case
from laporbot.db.complaints import create_complaint
from laporbot.db.contacts import touch
from laporbot.db.engine import create_engine_for_url, make_sessionmaker
from laporbot.db.models import (
    Case,
    CaseEvent,
    Complaint,
    Contact,
    ConversationSession,
    InboxItem,
    NumberCounter,
    OutboxMessage,
)
from laporbot.messages import OutboundMessage
from laporbot.photos import UPLOAD_PREFIX
from laporbot.settings import Settings
from tests.db.conftest import Store, postgres_url, store
from tests.db.support import copy_sqlite_template

__all__ = ["postgres_url", "store"]

T0 = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SARI = "5550001"  # Telegram user id (private chat id alike)
BUDI = "5550002"
CHILD = {"age": 9, "sex": "male", "condition": "tidur di emperan toko sejak seminggu"}
PHOTO = "a" * 64 + ".jpg"
ANI_PHONE = "6289876543210"
ANI_BSUID = "ID.9988776655443322"


def _telegram_update(update_id: int, user: str, text: str) -> dict[str, object]:
    person = {"id": int(user), "is_bot": False, "first_name": "X"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": person,
            "chat": {"id": int(user), "type": "private", "first_name": "X"},
            "date": 1795000000,
            "text": text,
        },
    }


@dataclass
class World:
    sari_case: str
    budi_case: str
    sari_complaint: str


async def _populate(db: AsyncSession, at: datetime) -> World:
    await sync_agencies(db, [("dinsos-bintan", "Dinas Sosial Kabupaten Bintan", "Asia/Jakarta")])
    numbers: list[str] = []
    for user, phone in ((SARI, "6281234567890"), (BUDI, None)):
        contact = await touch(db, channel="telegram", platform_user_id=user, chat_id=user, now=at)
        contact.phone = phone
        contact.locale = "id"
        case = await create_case(
            db,
            agency_code="dinsos-bintan",
            standard_code="bintan-rehab-anak",
            category="anak_terlantar",
            locale="id",
            received_at=at,
            kabupaten="Bintan",
            kecamatan="Bintan Timur",
            address="Jl. Kenanga No. 7",
            latitude=1.08,
            longitude=104.49,
            subject=dict(CHILD),
            photo_ref=UPLOAD_PREFIX + PHOTO,
            reporter_contact_id=contact.id,
            details={
                "served": True,
                "channel": "telegram",
                "checklist": [0],
                "questions": [
                    {"question": "Sejak kapan?", "by": 1, "answer": f"sejak Senin ({user})"}
                ],
            },
        )
        numbers.append(case.number)
        db.add(
            ConversationSession(
                channel="telegram",
                user_id=user,
                chat_id=user,
                flow="main",
                step="menu",
                answers={"report.condition": "tidur di emperan"},
                locale="id",
                state={},
                started_at=at,
                updated_at=at,
                status="ended",
            )
        )
        for index in range(2):
            update_id = int(user) * 10 + index
            db.add(
                InboxItem(
                    channel="telegram",
                    platform_id=str(update_id),
                    received_at=at,
                    payload=_telegram_update(update_id, user, f"halo {index}"),
                    status="done",
                )
            )
        await outbox_repo.enqueue(
            db, OutboundMessage(channel="telegram", chat_id=user, text=f"Nomor {case.number}"), at
        )
    ani = await touch(db, channel="whatsapp", platform_user_id=ANI_BSUID, chat_id=ANI_PHONE, now=at)
    ani.phone = ANI_PHONE
    for chat in (ANI_PHONE, ANI_BSUID):
        await outbox_repo.enqueue(
            db, OutboundMessage(channel="whatsapp", chat_id=chat, text="Laporan diterima"), at
        )
    sari = await db.scalar(select(Contact).where(Contact.platform_user_id == SARI))
    assert sari is not None
    complaint = await create_complaint(
        db,
        agency_code="dinsos-bintan",
        text="Petugas tidak datang",
        locale="id",
        received_at=at,
        contact_id=sari.id,
        case_id=(await db.scalar(select(Case.id).where(Case.number == numbers[0]))),
    )
    await db.flush()
    return World(numbers[0], numbers[1], complaint.number)


async def _count(db: AsyncSession, model: type, *where: object) -> int:
    return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_export_gives_everything_about_one_person_and_is_audited(
    store: Store,
) -> None:
    db_sessionmaker = store.sessionmaker
    async with db_sessionmaker() as db, db.begin():
        world = await _populate(db, T0)
    async with db_sessionmaker() as db, db.begin():
        contacts = await dataprotection.find_contacts(db, channel="telegram", user_id=SARI)
        data = await dataprotection.export_person(db, contacts, NOW, "cli:ayu")
    assert [c["phone"] for c in data["contacts"]] == ["6281234567890"]
    assert [c["number"] for c in data["cases"]] == [world.sari_case]
    assert data["cases"][0]["subject"] == CHILD
    assert [a["answer"] for a in data["cases"][0]["answers_to_officers"]] == [
        f"sejak Senin ({SARI})"
    ]
    assert [c["number"] for c in data["complaints"]] == [world.sari_complaint]
    assert [s["answers"] for s in data["conversations"]] == [
        {"report.condition": "tidur di emperan"}
    ]
    assert [m["update"]["message"]["text"] for m in data["messages_received"]] == [
        "halo 0",
        "halo 1",
    ]
    assert [m["text"] for m in data["messages_sent"]] == [f"Nomor {world.sari_case}"]
    assert BUDI not in json.dumps(data)  # nobody else's data
    async with db_sessionmaker() as db:
        events = (await db.scalars(select(CaseEvent).where(CaseEvent.kind.like("personal%")))).all()
    assert [(e.kind, e.actor_id) for e in events] == [("personal_data_exported", "cli:ayu")]
    assert events[0].at.replace(tzinfo=UTC) == NOW


async def test_the_phone_number_finds_the_person_in_either_form(
    store: Store,
) -> None:
    db_sessionmaker = store.sessionmaker
    async with db_sessionmaker() as db, db.begin():
        await _populate(db, T0)
    async with db_sessionmaker() as db:
        for phone in ("081234567890", "+62 812-3456-7890", "6281234567890"):
            [found] = await dataprotection.find_contacts(db, phone=phone)
            assert found.platform_user_id == SARI
        with pytest.raises(dataprotection.PersonNotFound):
            await dataprotection.find_contacts(db, phone="0899999")
        with pytest.raises(dataprotection.PersonNotFound):
            await dataprotection.find_contacts(db, channel="telegram")


async def test_erase_forgets_the_person_and_keeps_the_childs_case(
    store: Store,
) -> None:
    db_sessionmaker = store.sessionmaker
    async with db_sessionmaker() as db, db.begin():
        world = await _populate(db, T0)
    async with db_sessionmaker() as db, db.begin():
        contacts = await dataprotection.find_contacts(db, channel="telegram", user_id=SARI)
        done = await dataprotection.erase_person(db, contacts, NOW, "cli:ayu")
    assert (done.contacts, done.sessions, done.inbox, done.outbox) == (1, 1, 2, 1)
    assert done.cases_unlinked == [world.sari_case]
    assert done.complaints_unlinked == [world.sari_complaint]
    async with db_sessionmaker() as db:
        with pytest.raises(dataprotection.PersonNotFound):
            await dataprotection.find_contacts(db, channel="telegram", user_id=SARI)
        with pytest.raises(dataprotection.PersonNotFound):
            await dataprotection.find_contacts(db, phone="081234567890")
        erased = (await db.scalars(select(Contact).where(Contact.erased_at.is_not(None)))).one()
        assert (erased.phone, erased.locale) == (None, None)
        assert SARI not in (erased.platform_user_id, erased.chat_id)
        # Sari's traces are gone; Budi's are all there.
        assert await _count(db, ConversationSession) == 1
        assert await _count(db, InboxItem) == 2
        assert await _count(db, OutboxMessage, OutboxMessage.chat_id == SARI) == 0
        assert await _count(db, OutboxMessage, OutboxMessage.chat_id == BUDI) == 1
        case = (await db.scalars(select(Case).where(Case.number == world.sari_case))).one()
        assert case.reporter_contact_id is None
        assert case.subject == CHILD  # the office's record of the child stays
        # ... but not what Sari herself wrote: her answers to the officer, her complaint.
        assert [q["answer"] for q in case.details["questions"]] == [dataprotection.PURGED_TEXT]
        assert case.details["checklist"] == [0]
        complaint = (await db.scalars(select(Complaint))).one()
        assert (complaint.contact_id, complaint.text) == (None, dataprotection.PURGED_TEXT)
        kinds = set((await db.scalars(select(CaseEvent.kind))).all())
        assert {"reporter_erased", "complainant_erased"} <= kinds
        # Her chat's outbox counter was named after her chat.
        names = set((await db.scalars(select(NumberCounter.name))).all())
        assert f"outbox:telegram:{SARI}" not in names
        assert f"outbox:telegram:{BUDI}" in names


async def test_erase_reaches_a_whatsapp_person_by_phone_and_by_scoped_id(store: Store) -> None:
    async with store.sessionmaker() as db, db.begin():
        await _populate(db, T0)
    async with store.sessionmaker() as db, db.begin():
        contacts = await dataprotection.find_contacts(db, phone="0898-7654-3210")
        assert [c.channel for c in contacts] == ["whatsapp"]
        exported = await dataprotection.export_person(db, contacts, NOW, "cli:ayu")
        assert len(exported["messages_sent"]) == 2  # to the number and to the scoped id
        done = await dataprotection.erase_person(db, contacts, NOW, "cli:ayu")
    assert done.outbox == 2
    async with store.sessionmaker() as db:
        chats = set((await db.scalars(select(OutboxMessage.chat_id))).all())
        names = " ".join((await db.scalars(select(NumberCounter.name))).all())
    assert not chats & {ANI_PHONE, ANI_BSUID}
    assert ANI_PHONE not in names
    assert ANI_BSUID not in names


async def test_purge_after_the_retention_period(store: Store, tmp_path: Path) -> None:
    db_sessionmaker = store.sessionmaker
    settings = Settings(data_dir=tmp_path, retention_days=365)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / PHOTO).write_bytes(b"\xff\xd8\xff photo")
    async with db_sessionmaker() as db, db.begin():
        world = await _populate(db, T0 - timedelta(days=800))
        old = (await db.scalars(select(Case).where(Case.number == world.sari_case))).one()
        old.status, old.closed_at = "resolved", T0 - timedelta(days=700)
        # Budi's case is still open: his data and his contact stay.
        complaint = (await db.scalars(select(Complaint))).one()
        complaint.status, complaint.closed_at = "closed", T0 - timedelta(days=700)
    async with db_sessionmaker() as db, db.begin():
        done = await dataprotection.purge_expired(db, NOW, settings.retention_days)
    assert done.cases == [world.sari_case]
    assert done.complaints == [world.sari_complaint]
    assert done.photos == []  # Budi's open case shows the same photo
    assert done.erasure.contacts == 2  # Sari and Ani: nothing open, silent for 800 days
    async with db_sessionmaker() as db, db.begin():
        carried = await dataprotection.purge_transport(db, NOW, settings.transport_retention_days)
    # The traffic is 800 days old: Budi's finished conversation (Sari's went with her) and
    # all four updates go; the messages were never sent, and a message is never dropped
    # before it is sent.
    assert (carried.sessions, carried.inbox, carried.outbox) == (1, 4, 0)
    async with db_sessionmaker() as db:
        sari = (await db.scalars(select(Case).where(Case.number == world.sari_case))).one()
        assert (sari.address, sari.latitude, sari.subject, sari.photo_ref) == (None, None, {}, None)
        assert (sari.kabupaten, sari.status) == ("Bintan", "resolved")  # statistics stay
        assert sari.details == {"served": True, "channel": "telegram", "checklist": [0]}
        budi = (await db.scalars(select(Case).where(Case.number == world.budi_case))).one()
        assert budi.subject == CHILD
        complaint = (await db.scalars(select(Complaint))).one()
        assert (complaint.text, complaint.contact_id) == (dataprotection.PURGED_TEXT, None)
        left = (await db.scalars(select(Contact).where(Contact.erased_at.is_(None)))).all()
        assert [c.platform_user_id for c in left] == [BUDI]
    # Once Budi's case is closed and the period passes, the photo file goes too.
    async with db_sessionmaker() as db, db.begin():
        budi = (await db.scalars(select(Case).where(Case.number == world.budi_case))).one()
        budi.status, budi.closed_at = "closed", T0 - timedelta(days=600)
    async with db_sessionmaker() as db, db.begin():
        done = await dataprotection.purge_expired(db, NOW, settings.retention_days)
    assert done.photos == [UPLOAD_PREFIX + PHOTO]
    assert dataprotection.delete_photos(settings, done.photos) == [UPLOAD_PREFIX + PHOTO]
    assert not (uploads / PHOTO).exists()
    # Nothing is left to do: a second run changes nothing.
    async with db_sessionmaker() as db, db.begin():
        again = await dataprotection.purge_expired(db, NOW, settings.retention_days)
    assert (again.cases, again.complaints, again.erasure.contacts) == ([], [], 0)


async def test_purge_all_deletes_old_traffic_and_photos_no_case_shows(
    store: Store, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)  # 5 years for cases, 90 days for traffic
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    shown, given_up, fresh = (uploads / PHOTO), (uploads / ("b" * 64 + ".png")), None
    shown.write_bytes(b"\xff\xd8\xff photo")
    given_up.write_bytes(b"\x89PNG photo of a report never sent")
    fresh = uploads / ("c" * 64 + ".jpg")
    fresh.write_bytes(b"\xff\xd8\xff just uploaded")
    old = (NOW - timedelta(days=120)).timestamp()
    for path in (shown, given_up):
        os.utime(path, (old, old))
    async with store.sessionmaker() as db, db.begin():
        world = await _populate(db, NOW - timedelta(days=120))
        # Everything was sent; Sari's message is about her case, still open.
        sari_case = (await db.scalars(select(Case).where(Case.number == world.sari_case))).one()
        for row in (await db.scalars(select(OutboxMessage))).all():
            row.status = "sent"
            row.case_id = sari_case.id if row.chat_id == SARI else None
    done = await dataprotection.purge_all(store.sessionmaker, settings, NOW)
    assert (done.sessions, done.inbox) == (2, 4)
    # A message about an open case stays (the group's post of it is edited as it moves).
    assert done.outbox == 3
    async with store.sessionmaker() as db:
        assert list((await db.scalars(select(OutboxMessage.chat_id))).all()) == [SARI]
    assert done.photos == [UPLOAD_PREFIX + given_up.name]
    assert shown.exists()  # both open cases show it
    assert fresh.exists()  # perhaps a report being written right now
    assert (done.cases, done.complaints, done.erasure.contacts) == ([], [], 0)


# -- the command line --------------------------------------------------------------------------


@pytest.fixture
def cli_world(migrated_sqlite_template: Path, tmp_path: Path) -> tuple[World, dict[str, object]]:
    url = copy_sqlite_template(migrated_sqlite_template, tmp_path / "db")

    async def populate() -> World:
        engine = create_engine_for_url(url)
        try:
            async with make_sessionmaker(engine)() as db, db.begin():
                return await _populate(db, T0)
        finally:
            await engine.dispose()

    world = asyncio.run(populate())
    obj: dict[str, object] = {
        "settings": Settings(database_url=url, data_dir=tmp_path),
        "clock": FixedClock(NOW),
    }
    return world, obj


def test_cli_export_to_a_private_file_then_erase(
    cli_world: tuple[World, dict[str, object]], tmp_path: Path
) -> None:
    world, obj = cli_world
    runner = CliRunner()
    target = tmp_path / "sari.json"
    target.write_text("an older export\n", encoding="utf-8")
    target.chmod(0o644)
    result = runner.invoke(
        main, ["privacy", "export", "--phone", "0812-3456-7890", "--output", str(target)], obj=obj
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    data = json.loads(target.read_text(encoding="utf-8"))
    assert [c["number"] for c in data["cases"]] == [world.sari_case]

    refused = runner.invoke(main, ["privacy", "erase", "--channel", "telegram"], obj=obj)
    assert refused.exit_code == 2
    assert "--channel and --user, or --phone" in refused.output
    kept = runner.invoke(
        main, ["privacy", "erase", "--channel", "telegram", "--user", SARI], obj=obj, input="n\n"
    )
    assert kept.exit_code == 1  # aborted: nothing erased
    erased = runner.invoke(
        main, ["privacy", "erase", "--channel", "telegram", "--user", SARI, "--yes"], obj=obj
    )
    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.output)["cases_unlinked"] == [world.sari_case]
    gone = runner.invoke(
        main, ["privacy", "export", "--channel", "telegram", "--user", SARI], obj=obj
    )
    assert gone.exit_code == 1
    assert "no such person" in gone.output


def test_cli_purge_reports_what_it_removed(cli_world: tuple[World, dict[str, object]]) -> None:
    _world, obj = cli_world
    result = CliRunner().invoke(main, ["privacy", "purge"], obj=obj)
    assert result.exit_code == 0, result.output
    # Nothing is closed and cases are kept five years: no personal data is removed. The
    # traffic of March (8 months before NOW) is past its 90 days: the two finished
    # conversations and four processed updates go; the queued messages were never sent, stay.
    assert json.loads(result.output) == {
        "cases": [],
        "complaints": [],
        "photos": [],
        "contacts": 0,
        "conversations": 2,
        "inbound_updates": 4,
        "sent_messages": 0,
    }
