"""Production code, not only the test guard, keeps a protected person's identity out of group
chats: every outbox row addressed to a group (reminder sweep, daily digest, officers, ...) is
screened where it is created (`laporbot.privacy.screen_group_messages`).

The suite-wide guard (tests/officers/privacy_guard.py) is switched off in these tests, so what
they see is what production does on its own."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db import outbox
from laporbot.db.cases import create_case
from laporbot.db.models import Case, OutboxMessage, Reminder
from laporbot.messages import Button, OutboundMessage, Photo
from laporbot.privacy import CUT, PrivacyViolation
from laporbot.reminders.queue import Queued, enqueue_many
from tests.officers import privacy_guard
from tests.reminders.support import World, make_world, wib

T0 = wib(2026, 3, 17, 10, 0)
ADDRESS = "Jl. Kenanga No. 7"
NAME = "Siti Aminah"


@pytest.fixture(autouse=True)
def _production_only() -> Iterator[None]:
    privacy_guard.uninstall()
    yield
    privacy_guard.install()


async def _case(
    world: World,
    *,
    address: str,
    kecamatan: str,
    subject: dict[str, str] | None = None,
    plan: bool = True,
) -> Case:
    """A Riau case reported from the Telegram contact; `plan`: its reminders planned."""
    async with world.sessionmaker() as session, session.begin():
        case = await create_case(
            session,
            agency_code="dinsos-riau",
            standard_code="riau-penyerahan-anak-lansia",
            category="anak_terlantar",
            locale="id",
            received_at=T0,
            reporter_contact_id=world.contacts["tg-id"],
            kecamatan=kecamatan,
            kabupaten="Pekanbaru",
            address=address,
            subject=subject or {},
        )
        if plan:
            await world.service.on_case_opened(session, case, T0)
        return case


async def _leaky_case(world: World) -> Case:
    # The reporter typed the street into the kecamatan question: the area the group
    # reminders show now carries the exact address.
    return await _case(
        world, address=ADDRESS, kecamatan=f"{ADDRESS}, Tampan", subject={"name": NAME}
    )


async def test_a_reminder_re_posted_to_the_group_has_the_address_cut_out(
    db_sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case = await _leaky_case(world)
    group = "telegram:grp-dinsos-riau"
    to_group = []
    for hours in range(0, 72, 2):
        world.clock.set(T0 + timedelta(hours=hours))
        to_group += [m for m in await world.tick() if m.chat == group]
        if to_group:
            break
    assert to_group, "no reminder reached the office group"
    for message in to_group:
        assert case.number in message.text
        assert ADDRESS.casefold() not in message.text.casefold()
        assert CUT in message.text
        assert "Tampan" in message.text  # the area itself is still shown
    assert "would have disclosed the address of case" in caplog.text
    assert ADDRESS not in caplog.text  # the log names what was cut, never the words


async def test_any_group_message_naming_a_case_is_screened_and_private_ones_are_not(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case = await _leaky_case(world)
    leaky = f"Ringkasan: {case.number} di {ADDRESS} ({NAME.upper()})"
    async with world.sessionmaker() as session, session.begin():
        # A digest-like line: no case id, the case only named in the text; a photo; a label.
        group_row = await outbox.enqueue(
            session,
            OutboundMessage(
                channel="telegram",
                chat_id="-100123",
                text=leaky,
                photo=Photo("file-1"),
                buttons=(Button("x", f"Lihat {NAME}"),),
            ),
            T0,
        )
        private_row = await outbox.enqueue(
            session, OutboundMessage(channel="telegram", chat_id="off-dinsos-riau", text=leaky), T0
        )
    async with world.sessionmaker() as session:
        rows = {
            row.chat_id: row.payload for row in (await session.scalars(select(OutboxMessage))).all()
        }
    group = rows[group_row.chat_id]
    assert group["text"] == f"Ringkasan: {case.number} di {CUT} ({CUT})"
    assert group["photo"] is None
    assert group["buttons"][0]["label"] == f"Lihat {CUT}"
    # An officer's private chat may hold the details (officers' own access rules apply).
    assert rows[private_row.chat_id]["text"] == leaky


async def test_a_group_message_cutting_cannot_fix_is_dropped_from_a_batch_not_the_batch(
    db_sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case = await _case(world, address="Gang Strasse 12", kecamatan="Tampan", plan=False)
    # "Straße" casefolds to "strasse": the check sees the address, the cut (a plain
    # case-insensitive match) cannot remove it.
    unfixable = OutboundMessage(
        channel="telegram", chat_id="-100123", text=f"{case.number}: Gang Straße 12"
    )
    private = OutboundMessage(channel="telegram", chat_id="777", text=f"{case.number}: baru")
    refused: list[Queued] = []
    async with world.sessionmaker() as session, session.begin():
        await enqueue_many(
            session,
            [Queued(unfixable, "k:group", case.id), Queued(private, "k:private", case.id)],
            T0,
            refused=refused,
        )
    assert [item.dedup_key for item in refused] == ["k:group"]
    async with world.sessionmaker() as session:
        chats = (await session.scalars(select(OutboxMessage.chat_id))).all()
    assert list(chats) == ["777"]
    assert "group message to telegram -100123 not queued" in caplog.text
    assert "Straße" not in caplog.text
    # Queued one by one (the officer side), the same message is refused outright.
    async with world.sessionmaker() as session:
        with pytest.raises(PrivacyViolation):
            await outbox.enqueue(session, unfixable, T0, case_id=case.id)


async def test_a_replayed_batch_does_not_report_as_refused_what_it_queued_the_first_time(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case = await _case(world, address="Gang Strasse 12", kecamatan="Tampan", plan=False)
    fine = OutboundMessage(channel="telegram", chat_id="-100123", text=f"{case.number}: baru")
    # the same message key, worded now so that the screen refuses it
    unfixable = OutboundMessage(
        channel="telegram", chat_id="-100123", text=f"{case.number}: Gang Straße 12"
    )
    async with world.sessionmaker() as session, session.begin():
        await enqueue_many(session, [Queued(fine, "k:group", case.id)], T0)
    refused: list[Queued] = []
    async with world.sessionmaker() as session, session.begin():
        await enqueue_many(
            session,
            [Queued(unfixable, "k:group", case.id), Queued(unfixable, "k:other", case.id)],
            T0,
            refused=refused,
        )
    # queued before under its key: nothing was withheld from the group; the new one was
    assert [item.dedup_key for item in refused] == ["k:other"]
    async with world.sessionmaker() as session:
        texts = (await session.scalars(select(OutboxMessage.payload))).all()
    assert [payload["text"] for payload in texts] == [fine.text]


async def test_a_reminder_whose_group_message_is_refused_says_so_on_the_reminder(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    # The street typed into the kecamatan question, spelt so the cut cannot match it.
    await _case(world, address="Gang Strasse 12", kecamatan="Gang Straße 12, Tampan")
    world.clock.set(T0 + timedelta(hours=2))  # past the 1-hour unclaimed re-post
    sent = await world.tick()
    assert not [m for m in sent if m.chat == "telegram:grp-dinsos-riau"]
    async with world.sessionmaker() as session:
        rows = (await session.scalars(select(Reminder))).all()
    refused = [r for r in rows if r.payload.get("refused_by_privacy")]
    assert [(r.kind, r.status, r.payload["refused_by_privacy"]) for r in refused] == [
        ("triage.unclaimed_group", "sent", ["grp-dinsos-riau"])
    ]
