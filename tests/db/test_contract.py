"""The storage contract: one suite, run on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, func, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.channels.base import RawUpdate
from laporbot.db import agencies, cases, complaints, contacts, inbox, outbox, reminders, sessions
from laporbot.db.migrate import current_of, downgrade_engine, head, upgrade_engine
from laporbot.db.models import (
    Agency,
    Base,
    Case,
    CaseEvent,
    Contact,
    ConversationSession,
    InboxItem,
    NumberCounter,
    Officer,
    OutboxMessage,
    Reminder,
)
from laporbot.messages import Button, OutboundMessage
from laporbot.reminders.queue import Queued, enqueue_many
from tests.db.conftest import Store

NOW = datetime(2026, 3, 25, 9, 0, tzinfo=UTC)
WIB = timezone(timedelta(hours=7))
AGENCY = ("dinsos-lumajang", "Dinas Sosial Kabupaten Lumajang", "Asia/Jakarta")


async def _with_agency(store: Store) -> None:
    async with store.sessionmaker() as session, session.begin():
        await agencies.sync_agencies(session, [AGENCY])


def _message(chat: str, text_: str) -> OutboundMessage:
    return OutboundMessage(channel="telegram", chat_id=chat, text=text_)


# --- migrations -------------------------------------------------------------------------------


async def test_migrated_schema_is_at_head_and_equals_the_models(store: Store) -> None:
    assert await current_of(store.engine) == head()
    async with store.engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )
    assert diff == []


async def test_migrations_go_down_to_nothing_and_up_again(store: Store) -> None:
    await downgrade_engine(store.engine, "base")
    async with store.engine.connect() as connection:
        left = await connection.run_sync(
            lambda sync: set(sync.dialect.get_table_names(sync)) - {"alembic_version"}
        )
    assert left == set()
    await upgrade_engine(store.engine)
    assert await current_of(store.engine) == head()
    await _with_agency(store)  # the tables work again


async def test_workers_starting_together_migrate_once(store: Store) -> None:
    await downgrade_engine(store.engine, "base")
    await asyncio.gather(*(upgrade_engine(store.engine) for _ in range(3)))
    assert await current_of(store.engine) == head()
    async with store.engine.connect() as connection:
        versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
        if store.dialect == "sqlite":
            # Foreign keys were off during the migration only.
            assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    assert [tuple(v) for v in versions] == [(head(),)]


# --- datetimes --------------------------------------------------------------------------------


async def test_aware_datetimes_round_trip_as_utc(store: Store) -> None:
    at = datetime(2026, 3, 25, 16, 0, 0, 123456, tzinfo=WIB)
    async with store.sessionmaker() as session, session.begin():
        contact = await contacts.touch(
            session, channel="telegram", platform_user_id="u1", chat_id="c1", now=at
        )
    async with store.sessionmaker() as session:
        row = await session.get(type(contact), contact.id)
        assert row is not None
        assert row.created_at == at
        assert row.created_at.tzinfo is UTC
        assert row.created_at.hour == 9
        # Comparison in SQL is in UTC too: 16:00 WIB is before 09:30 UTC.
        later = datetime(2026, 3, 25, 9, 30, tzinfo=UTC)
        found = await session.scalar(
            select(func.count()).select_from(type(contact)).where(type(contact).created_at < later)
        )
        assert found == 1


async def test_naive_datetimes_are_refused(store: Store) -> None:
    async with store.sessionmaker() as session:
        with pytest.raises(StatementError, match="naive datetime"):
            await contacts.touch(
                session,
                channel="telegram",
                platform_user_id="u1",
                chat_id="c1",
                now=datetime(2026, 3, 25, 9, 0),
            )


# --- agencies and contacts --------------------------------------------------------------------


async def test_sync_agencies_upserts_by_code(store: Store) -> None:
    await _with_agency(store)
    async with store.sessionmaker() as session, session.begin():
        await agencies.sync_agencies(
            session,
            [
                ("dinsos-lumajang", "Dinas Sosial Lumajang", "Asia/Jakarta"),
                ("dinsos-babel", "Dinas Sosial Provinsi Kepulauan Bangka Belitung", "Asia/Jakarta"),
            ],
        )
    async with store.sessionmaker() as session:
        rows = (await session.scalars(select(Agency).order_by(Agency.code))).all()
    assert [(a.code, a.name) for a in rows] == [
        ("dinsos-babel", "Dinas Sosial Provinsi Kepulauan Bangka Belitung"),
        ("dinsos-lumajang", "Dinas Sosial Lumajang"),
    ]


async def test_touching_a_contact_keeps_one_row_and_moves_the_window(store: Store) -> None:
    async with store.sessionmaker() as session, session.begin():
        first = await contacts.touch(
            session, channel="whatsapp", platform_user_id="ID.1", chat_id="628111", now=NOW
        )
    later = NOW + timedelta(hours=3)
    async with store.sessionmaker() as session, session.begin():
        second = await contacts.touch(
            session, channel="whatsapp", platform_user_id="ID.1", chat_id="628222", now=later
        )
    assert second.id == first.id
    assert second.created_at == NOW
    assert second.last_inbound_at == later
    assert second.chat_id == "628222"


# --- inbox ------------------------------------------------------------------------------------


async def test_inbox_stores_a_redelivered_update_once(store: Store) -> None:
    update_ = RawUpdate("telegram", "1001", {"update_id": 1001, "message": {"text": "halo"}})
    async with store.sessionmaker() as session, session.begin():
        assert await inbox.accept(session, update_, NOW) is True
    async with store.sessionmaker() as session, session.begin():
        assert await inbox.accept(session, update_, NOW + timedelta(minutes=1)) is False
        # Same platform id on another channel is another update.
        assert await inbox.accept(session, RawUpdate("whatsapp", "1001", {}), NOW) is True
    async with store.sessionmaker() as session:
        rows = (await session.scalars(select(InboxItem).order_by(InboxItem.id))).all()
    assert [(r.channel, r.platform_id) for r in rows] == [
        ("telegram", "1001"),
        ("whatsapp", "1001"),
    ]
    assert rows[0].payload == {"update_id": 1001, "message": {"text": "halo"}}
    assert rows[0].received_at == NOW


async def test_inbox_concurrent_redeliveries_store_one_row(store: Store) -> None:
    update_ = RawUpdate("telegram", "7", {"update_id": 7})

    async def deliver() -> bool:
        async with store.sessionmaker() as session, session.begin():
            return await inbox.accept(session, update_, NOW)

    results = await asyncio.gather(*(deliver() for _ in range(6)))
    assert sorted(results) == [False] * 5 + [True]


async def test_inbox_claims_are_exclusive_and_expire(store: Store) -> None:
    async with store.sessionmaker() as session, session.begin():
        for n in range(5):
            await inbox.accept(session, RawUpdate("telegram", str(n), {"n": n}), NOW)
    lease = timedelta(minutes=5)
    async with store.sessionmaker() as session, session.begin():
        first = await inbox.claim_pending(session, 3, "w1", NOW, lease)
    async with store.sessionmaker() as session, session.begin():
        second = await inbox.claim_pending(session, 10, "w2", NOW, lease)
    assert [i.platform_id for i in first] == ["0", "1", "2"]
    assert [i.platform_id for i in second] == ["3", "4"]
    async with store.sessionmaker() as session, session.begin():
        await inbox.mark_done(session, first[0].id, NOW)
        await inbox.mark_ignored(session, first[1].id, NOW, "edited_message")
    # w1 died holding update 2: after the lease it is claimable again, as a second attempt.
    async with store.sessionmaker() as session, session.begin():
        assert await inbox.claim_pending(session, 10, "w3", NOW + lease / 2, lease) == []
        again = await inbox.claim_pending(session, 10, "w3", NOW + lease * 2, lease)
    assert [(i.platform_id, i.attempts, i.claimed_by) for i in again] == [
        ("2", 2, "w3"),
        ("3", 2, "w3"),
        ("4", 2, "w3"),
    ]
    async with store.sessionmaker() as session, session.begin():
        await inbox.release(session, again[0].id, "database hiccup")
        await inbox.mark_failed(session, again[1].id, NOW, "malformed")
        retry = await inbox.claim_pending(session, 10, "w4", NOW + lease * 2, lease)
    assert [i.platform_id for i in retry] == ["2"]


@pytest.mark.parametrize("reading", [False, True], ids=["alone", "reading-along"])
async def test_inbox_stores_a_group_as_processed_only_when_nothing_waits(
    store: Store, reading: bool
) -> None:
    """`accept_processed_unless_waiting`: the group as done, in order; or nothing and None
    while an update waits its turn (PostgreSQL decides both in one statement), the same when
    the statement reads a first read along."""
    ask = sessions.first_read_ask([("telegram", "u1")], ["u1"]) if reading else None

    async def accept_processed_unless_waiting(
        session: Any, updates: list[RawUpdate], now: datetime
    ) -> list[InboxItem | None] | None:
        return await inbox.accept_processed_unless_waiting(session, updates, now, first_read=ask)

    group = [RawUpdate("telegram", str(n), {"update_id": n, "text": f"t{n}"}) for n in (5, 3, 9)]
    async with store.sessionmaker() as session, session.begin():
        stored = await accept_processed_unless_waiting(session, group, NOW)
    assert stored is not None
    assert [(i.platform_id, i.status, i.attempts) for i in stored if i] == [
        ("5", "done", 1),
        ("3", "done", 1),
        ("9", "done", 1),
    ]
    ids = [i.id for i in stored if i]
    assert ids == sorted(ids)  # numbered in the group's order, as they are claimed
    # A redelivery in a new group is None; every update a redelivery: None as a whole, and
    # `accept_many` then finds them all stored.
    again = [group[0], RawUpdate("telegram", "11", {"update_id": 11})]
    async with store.sessionmaker() as session, session.begin():
        mixed = await accept_processed_unless_waiting(session, again, NOW)
        assert mixed is not None
        assert [item is None for item in mixed] == [True, False]
        replay = await accept_processed_unless_waiting(session, group[1:], NOW)
        assert replay is None or replay == [None, None]
        assert await inbox.accept_many(session, group[1:], NOW) == [False, False]
    # An update waiting its turn (pending): nothing of the next group is stored.
    async with store.sessionmaker() as session, session.begin():
        assert await inbox.accept(session, RawUpdate("telegram", "20", {}), NOW) is True
    later = [RawUpdate("telegram", "21", {"update_id": 21})]
    async with store.sessionmaker() as session, session.begin():
        assert await accept_processed_unless_waiting(session, later, NOW) is None
        assert await inbox.accept_many(session, later, NOW) == [True]
    async with store.sessionmaker() as session:
        rows = (await session.scalars(select(InboxItem).order_by(InboxItem.id))).all()
    assert [(r.platform_id, r.status, r.payload) for r in rows] == [
        ("5", "done", {"update_id": 5, "text": "t5"}),
        ("3", "done", {"update_id": 3, "text": "t3"}),
        ("9", "done", {"update_id": 9, "text": "t9"}),
        ("11", "done", {"update_id": 11}),
        ("20", "pending", {}),
        ("21", "pending", {"update_id": 21}),
    ]
    assert {r.received_at for r in rows} == {NOW}
    assert [r.processed_at for r in rows[:4]] == [NOW] * 4
    # Still waiting: claimed under a live lease, claimed by a process that died (lease
    # expired), given back until exactly now.
    probe = [RawUpdate("telegram", "30", {"update_id": 30})]
    for claimed_by, claimed_until in (
        ("w1", NOW + timedelta(minutes=5)),
        ("w1", NOW - timedelta(minutes=5)),
        (None, NOW),
    ):
        async with store.sessionmaker() as session, session.begin():
            await session.execute(
                update(InboxItem)
                .where(InboxItem.status == "pending")
                .values(claimed_by=claimed_by, claimed_until=claimed_until)
            )
            assert await accept_processed_unless_waiting(session, probe, NOW) is None
    # Given back to be retried later (claimed_until ahead, unclaimed): no longer waiting.
    async with store.sessionmaker() as session, session.begin():
        await session.execute(
            update(InboxItem)
            .where(InboxItem.status == "pending")
            .values(claimed_by=None, claimed_until=NOW + timedelta(minutes=5))
        )
    after = [RawUpdate("telegram", "22", {"update_id": 22})]
    async with store.sessionmaker() as session, session.begin():
        assert await accept_processed_unless_waiting(session, after, NOW) is not None


# --- outbox -----------------------------------------------------------------------------------


async def test_outbox_payload_round_trips_the_message(store: Store) -> None:
    message = OutboundMessage(
        channel="whatsapp",
        chat_id="628111",
        text="Pilih kategori",
        buttons=(Button("child", "Anak terlantar"), Button("elder", "Lansia terlantar")),
        template="laporbot_followup",
        template_params=("LPR-2026-000001",),
    )
    async with store.sessionmaker() as session, session.begin():
        row = await outbox.enqueue(session, message, NOW)
    async with store.sessionmaker() as session:
        stored = await session.get(OutboxMessage, row.id)
        assert stored is not None
        assert outbox.from_payload(stored.payload) == message


async def test_outbox_hands_out_one_message_per_chat_in_order(store: Store) -> None:
    async with store.sessionmaker() as session, session.begin():
        for n in (1, 2, 3):
            await outbox.enqueue(session, _message("A", f"a{n}"), NOW)
        await outbox.enqueue(session, _message("B", "b1"), NOW)
    lease = timedelta(minutes=2)

    async def claim(at: datetime) -> list[str]:
        async with store.sessionmaker() as session, session.begin():
            rows = await outbox.claim_due(session, 10, "w", at, lease)
        return [r.payload["text"] for r in rows]

    assert await claim(NOW) == ["a1", "b1"]
    async with store.sessionmaker() as session, session.begin():
        b1 = await session.scalar(select(OutboxMessage).where(OutboxMessage.chat_id == "B"))
        assert b1 is not None
        await outbox.mark_sent(session, b1.id, NOW, ["1"])
        a1 = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.seq == 1, OutboxMessage.chat_id == "A")
        )
        assert a1 is not None
        await outbox.mark_retry(session, a1.id, NOW + timedelta(seconds=30), "429 retry_after 30")
    # a1 waits for its retry time, and a2 waits for a1.
    assert await claim(NOW + timedelta(seconds=10)) == []
    assert await claim(NOW + timedelta(seconds=30)) == ["a1"]
    async with store.sessionmaker() as session, session.begin():
        await outbox.mark_failed(session, a1.id, "403 bot was blocked")
    # A failed message does not hold the chat back for ever.
    assert await claim(NOW + timedelta(seconds=31)) == ["a2"]
    # The sender of a2 died: after its lease, a2 is handed out again (not a3).
    assert await claim(NOW + timedelta(seconds=31) + lease * 2) == ["a2"]
    async with store.sessionmaker() as session, session.begin():
        a2 = await session.scalar(
            select(OutboxMessage).where(OutboxMessage.seq == 2, OutboxMessage.chat_id == "A")
        )
        assert a2 is not None
        assert a2.attempts == 2
        await outbox.mark_sent(session, a2.id, NOW + timedelta(minutes=9), ["555"])
    assert await claim(NOW + timedelta(minutes=10)) == ["a3"]
    async with store.sessionmaker() as session:
        a2 = await session.get(OutboxMessage, a2.id)
        assert a2 is not None
        assert (a2.status, a2.platform_message_ids, a2.claimed_by) == ("sent", ["555"], None)


async def test_outbox_enqueue_with_a_dedup_key_is_idempotent(store: Store) -> None:
    async with store.sessionmaker() as session, session.begin():
        first = await outbox.enqueue(session, _message("A", "x"), NOW, dedup_key="case:1:ack")
    async with store.sessionmaker() as session, session.begin():
        again = await outbox.enqueue(session, _message("A", "x"), NOW, dedup_key="case:1:ack")
        other = await outbox.enqueue(session, _message("A", "y"), NOW)
    assert again.id == first.id
    async with store.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert count == 2
    assert other.seq == first.seq + 1


async def test_outbox_concurrent_enqueues_to_one_chat_get_distinct_seqs(store: Store) -> None:
    async def enqueue(n: int) -> int:
        async with store.sessionmaker() as session, session.begin():
            return (await outbox.enqueue(session, _message("A", f"m{n}"), NOW)).seq

    seqs = await asyncio.gather(*(enqueue(n) for n in range(10)))
    assert sorted(seqs) == list(range(1, 11))


async def test_outbox_concurrent_senders_send_each_message_once_in_chat_order(
    store: Store,
) -> None:
    chats, per_chat = 4, 5
    async with store.sessionmaker() as session, session.begin():
        for n in range(per_chat):
            for c in range(chats):
                await outbox.enqueue(session, _message(f"chat{c}", f"{c}:{n}"), NOW)
    sent: list[tuple[str, int]] = []

    async def sender(name: str) -> None:
        idle = 0
        while len(sent) < chats * per_chat and idle < 1000:
            async with store.sessionmaker() as session, session.begin():
                rows = await outbox.claim_due(session, 2, name, NOW)
            if not rows:
                idle += 1
                await asyncio.sleep(0)
                continue
            for row in rows:
                async with store.sessionmaker() as session, session.begin():
                    await outbox.mark_sent(session, row.id, NOW, [f"{row.chat_id}-{row.seq}"])
                sent.append((row.chat_id, row.seq))

    await asyncio.gather(*(sender(f"w{k}") for k in range(3)))
    assert len(sent) == chats * per_chat
    assert len(set(sent)) == len(sent)
    for c in range(chats):
        assert [seq for chat, seq in sent if chat == f"chat{c}"] == list(range(1, per_chat + 1))


async def test_outbox_claims_from_two_open_transactions_are_disjoint(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: the second claim would wait for the first")
    async with store.sessionmaker() as session, session.begin():
        for n in (1, 2):
            for c in range(6):
                await outbox.enqueue(session, _message(f"chat{c}", f"{c}:{n}"), NOW)
    async with store.sessionmaker() as first, first.begin():
        mine = await outbox.claim_due(first, 3, "w1", NOW)
        # w1 has not committed; w2, on its own connection, skips w1's locked rows and must not
        # take the second message of a chat whose first w1 holds.
        async with store.sessionmaker() as second, second.begin(), asyncio.timeout(10):
            theirs = await outbox.claim_due(second, 20, "w2", NOW)
    assert len(mine) == 3
    assert len(theirs) == 3
    assert {r.seq for r in mine + theirs} == {1}
    assert {r.chat_id for r in mine} | {r.chat_id for r in theirs} == {f"chat{c}" for c in range(6)}
    assert not {r.id for r in mine} & {r.id for r in theirs}


# --- cases and complaints ---------------------------------------------------------------------


async def _open_case(session: Any, received_at: datetime = NOW, **extra: Any) -> Case:
    return await cases.create_case(
        session,
        agency_code="dinsos-lumajang",
        standard_code="lumajang-anak-terlantar",
        category="anak_terlantar",
        locale="id",
        received_at=received_at,
        **extra,
    )


async def test_case_numbers_are_unique_under_concurrency(store: Store) -> None:
    await _with_agency(store)

    async def open_case(n: int) -> str:
        async with store.sessionmaker() as session, session.begin():
            case = await _open_case(session, NOW + timedelta(seconds=n))
            return case.number

    numbers = await asyncio.gather(*(open_case(n) for n in range(20)))
    assert sorted(numbers) == [f"LPR-2026-{n:06d}" for n in range(1, 21)]


async def test_a_case_opens_whole_with_its_first_event(store: Store) -> None:
    await _with_agency(store)
    event = {"at": NOW, "actor_kind": "citizen", "kind": "opened", "data": {"served": True}}
    async with store.sessionmaker() as session, session.begin():
        case = await _open_case(
            session,
            time_zone="Asia/Jakarta",
            kabupaten="Lumajang",
            latitude=-8.1,
            subject={"age": "7"},
            due_at=NOW + timedelta(days=1),
            event=event,
        )
        made = {c.key: getattr(case, c.key) for c in Case.__table__.columns}
        case.status = "triaged"  # a change afterwards is written by the next flush
    assert made["number"] == "LPR-2026-000001"
    assert (made["priority"], made["status"], made["current_step"]) == (2, "new", 0)
    assert (made["details"], made["anonymous"], made["address"]) == ({}, False, None)
    async with store.sessionmaker() as session:
        stored = await cases.get_case(session, "LPR-2026-000001")
        assert {c.key: getattr(stored, c.key) for c in Case.__table__.columns} == made | {
            "status": "triaged"
        }
        (line,) = await cases.events_of(session, stored.id)
    assert (line.at, line.actor_kind, line.actor_id, line.kind, line.data) == (
        NOW,
        "citizen",
        None,
        "opened",
        {"served": True},
    )
    async with store.sessionmaker() as session, session.begin():
        await session.execute(update(NumberCounter).values(value=999_999))
        bigger = await _open_case(session)
    assert bigger.number == "LPR-2026-1000000"  # six digits at least, never cut
    assert bigger.details == case.details == {}
    assert bigger.details is not case.details  # each case's default is its own


async def test_a_case_with_a_bad_event_is_refused_before_anything_is_written(
    store: Store,
) -> None:
    await _with_agency(store)
    async with store.sessionmaker() as session, session.begin():
        with pytest.raises(ValueError, match="actor kind"):
            await _open_case(session, event={"at": NOW, "actor_kind": "robot", "kind": "opened"})
        assert await session.scalar(select(func.count()).select_from(Case)) == 0


async def test_numbering_restarts_on_new_year_in_the_agency_time_zone(store: Store) -> None:
    await _with_agency(store)
    async with store.sessionmaker() as session, session.begin():
        old = await complaints.create_complaint(
            session,
            agency_code="dinsos-lumajang",
            text="Belum ada tanggapan",
            locale="id",
            received_at=datetime(2026, 12, 31, 16, 59, tzinfo=UTC),  # 23:59 WIB
        )
        new = await complaints.create_complaint(
            session,
            agency_code="dinsos-lumajang",
            text="Belum ada tanggapan",
            locale="id",
            received_at=datetime(2026, 12, 31, 17, 0, tzinfo=UTC),  # 00:00 WIB, 1 January
        )
    assert (old.number, new.number) == ("ADU-2026-000001", "ADU-2027-000001")
    async with store.sessionmaker() as session:
        assert (await complaints.get_complaint(session, new.number)).id == new.id


async def test_case_events_are_append_only(store: Store) -> None:
    await _with_agency(store)
    async with store.sessionmaker() as session, session.begin():
        case = await cases.create_case(
            session,
            agency_code="dinsos-lumajang",
            standard_code="lumajang-lansia-terlantar",
            category="lansia_terlantar",
            locale="id",
            received_at=NOW,
            priority=0,
            subject={"age": 81, "sex": "f", "condition": "sakit"},
        )
        await cases.append_event(session, case.id, at=NOW, actor_kind="citizen", kind="created")
        await cases.append_event(
            session,
            case.id,
            at=NOW + timedelta(minutes=5),
            actor_kind="officer",
            actor_id="7",
            kind="claimed",
            data={"officer_id": 7},
        )
    async with store.sessionmaker() as session:
        events = await cases.events_of(session, case.id)
        assert [(e.kind, e.actor_kind, e.data) for e in events] == [
            ("created", "citizen", {}),
            ("claimed", "officer", {"officer_id": 7}),
        ]
        assert (await cases.get_case(session, case.number)).subject["age"] == 81
    for statement in (
        update(CaseEvent).where(CaseEvent.case_id == case.id).values(kind="forged"),
        text("DELETE FROM case_events"),
    ):
        async with store.sessionmaker() as session:
            with pytest.raises(DBAPIError, match="append-only"):
                async with session.begin():
                    await session.execute(statement)
    async with store.sessionmaker() as session:
        assert len(await cases.events_of(session, case.id)) == 2


# --- conversation sessions --------------------------------------------------------------------


def _conversation(user: str) -> ConversationSession:
    return ConversationSession(
        channel="telegram",
        user_id=user,
        chat_id=user,
        flow="report",
        step="ask_category",
        locale="id",
        started_at=NOW,
        updated_at=NOW,
        expires_at=NOW + timedelta(minutes=30),
    )


async def _contact_and_conversation(store: Store, *, conversation_of: str) -> Contact:
    """Telegram user u1's contact (chat c1, seen at NOW) and an active conversation of
    `conversation_of`, committed."""
    async with store.sessionmaker() as session, session.begin():
        known = await contacts.touch(
            session, channel="telegram", platform_user_id="u1", chat_id="c1", now=NOW
        )
        await sessions.save(session, _conversation(conversation_of))
    return known


async def test_one_active_session_per_user(store: Store) -> None:
    async with store.sessionmaker() as session, session.begin():
        first = await sessions.save(session, _conversation("u1"))
        await sessions.save(session, _conversation("u2"))
    async with store.sessionmaker() as session:
        with pytest.raises(IntegrityError):
            async with session.begin():
                await sessions.save(session, _conversation("u1"))
    async with store.sessionmaker() as session, session.begin():
        active = await sessions.load_active(session, "telegram", "u1")
        assert active is not None
        assert active.id == first.id
        active.answers = {"category": "anak_terlantar"}
        await sessions.save(session, active)
        await sessions.end(session, active, NOW + timedelta(minutes=3))
        # Once the old one ended, a new one may start.
        await sessions.save(session, _conversation("u1"))
    async with store.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(ConversationSession)
                .where(ConversationSession.user_id == "u1")
                .order_by(ConversationSession.id)
            )
        ).all()
    assert [(r.status, r.answers) for r in rows] == [
        ("ended", {"category": "anak_terlantar"}),
        ("active", {}),
    ]


async def test_a_batchs_first_read_finds_active_sessions_and_bound_officers(
    store: Store,
) -> None:
    await _with_agency(store)
    code = AGENCY[0]
    async with store.sessionmaker() as session, session.begin():
        ended = await sessions.save(session, _conversation("u2"))
        await sessions.end(session, ended, NOW)
        first = await sessions.save(session, _conversation("u1"))
        await sessions.save(session, _conversation("u3"))
        # u1 and u5 are bound; u2's binding is inactive, u4's revoked.
        bindings = [("u1", True, None), ("u2", False, None), ("u4", True, NOW), ("u5", True, None)]
        session.add_all(
            Officer(
                agency_code=code,
                telegram_user_id=user,
                role="officer",
                display_name=user,
                created_at=NOW,
                active=active,
                revoked_at=revoked,
            )
            for user, active, revoked in bindings
        )
    keys = [("telegram", u) for u in ("u1", "u2", "u4", "u5")] + [("web", "u3")]
    async with store.sessionmaker() as session, session.begin():
        read = await sessions.load_active_many(
            session, keys, officers_among=["u1", "u2", "u4", "u5", "u6"]
        )
        rows, officers = read.sessions, read.officers
        assert officers == {"u1", "u5"}  # not the inactive binding, nor the revoked one
        assert list(rows) == [("telegram", "u1")]  # u2's ended, u3's is on another channel
        assert rows["telegram", "u1"]["id"] == first.id
        assert rows["telegram", "u1"]["expires_at"] == NOW + timedelta(minutes=30)
        assert rows["telegram", "u1"]["answers"] == {}
        # No active session at all: the officers all the same.
        read = await sessions.load_active_many(session, [("telegram", "u5")], officers_among=["u5"])
        assert (read.sessions, read.officers) == ({}, {"u5"})
        read = await sessions.load_active_many(session, [("telegram", "u1")])
        assert (list(read.sessions), read.officers) == ([("telegram", "u1")], set())


async def test_a_batchs_first_read_locks_the_sessions_it_finds(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing to lock")
    async with store.sessionmaker() as session, session.begin():
        await sessions.save(session, _conversation("u1"))
    async with store.sessionmaker() as holder, holder.begin():
        await sessions.load_active_many(holder, [("telegram", "u1")], officers_among=["u1"])
        async with store.sessionmaker() as other, other.begin():
            await other.execute(text("SET LOCAL lock_timeout = '100ms'"))
            with pytest.raises(DBAPIError, match="lock"):
                await sessions.load_active_many(other, [("telegram", "u1")], officers_among=["u1"])


async def test_a_batchs_first_read_reads_and_locks_the_contacts_on_postgresql(
    store: Store,
) -> None:
    known = await _contact_and_conversation(store, conversation_of="u2")
    keys = [("telegram", "u2"), ("telegram", "u1"), ("web", "u1")]
    async with store.sessionmaker() as holder, holder.begin():
        read = await sessions.load_active_many(holder, keys)
        if store.dialect != "postgresql":
            assert read.contacts is None  # SQLite: `touch_many` reads them as it writes
            return
        assert read.contacts is not None
        assert list(read.contacts) == [("telegram", "u1")]  # u2 has none, web's u1 neither
        row = read.contacts["telegram", "u1"]
        assert (row["id"], row["chat_id"], row["last_inbound_at"]) == (known.id, "c1", NOW)
        assert list(read.sessions) == [("telegram", "u2")]
        async with store.sessionmaker() as other, other.begin():
            # Locked: an erasure or the retention sweep waits for (or skips) this batch.
            await other.execute(text("SET LOCAL lock_timeout = '100ms'"))
            with pytest.raises(DBAPIError, match="lock"):
                await other.execute(
                    text("UPDATE contacts SET phone = '1' WHERE id = :id"), {"id": known.id}
                )


async def test_a_groups_insert_reads_the_first_read_along_on_postgresql(store: Store) -> None:
    """`accept_processed_unless_waiting(first_read=...)`: the group's insert reads the
    people's sessions and contacts (locked) in the same statement, and the transaction's
    `load_active_many` of those people then runs no statement of its own, once."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite reads the sessions in process: nothing to save")
    known = await _contact_and_conversation(store, conversation_of="u2")
    keys = [("telegram", "u2"), ("telegram", "u1"), ("web", "u1")]
    ask = sessions.first_read_ask(keys, ["u1", "u2"])
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    async def store_reading(session: AsyncSession, update_id: int) -> list[InboxItem | None] | None:
        group = [RawUpdate("telegram", str(update_id), {"update_id": update_id})]
        return await inbox.accept_processed_unless_waiting(session, group, NOW, first_read=ask)

    event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with store.sessionmaker() as session, session.begin():
            stored = await store_reading(session, 1)
            assert stored is not None
            assert stored[0] is not None
            before = len(statements)
            read = await sessions.load_active_many(session, keys[:2], officers_among=["u1"])
            assert len(statements) == before  # read along
            fresh = await sessions.load_active_many(session, keys[:2], officers_among=["u1"])
            assert len(statements) == before + 1  # kept for one read only
            assert read == fresh
            assert list(read.sessions) == [("telegram", "u2")]
            assert read.contacts is not None
            assert list(read.contacts) == [("telegram", "u1")]
            assert read.contacts["telegram", "u1"]["id"] == known.id
            assert read.officers == set()
            async with store.sessionmaker() as other, other.begin():
                await other.execute(text("SET LOCAL lock_timeout = '100ms'"))
                with pytest.raises(DBAPIError, match="lock"):
                    await other.execute(
                        text("UPDATE contacts SET phone = '1' WHERE id = :id"), {"id": known.id}
                    )
        # Not kept: for people it did not read, inside a savepoint, in a later transaction,
        # or when nothing was stored (an update waiting its turn).
        async with store.sessionmaker() as session:
            async with session.begin():
                await store_reading(session, 2)
                before = len(statements)
                await sessions.load_active_many(session, [("telegram", "u9")])
                assert len(statements) == before + 1
            async with session.begin():
                await store_reading(session, 3)
                async with session.begin_nested():
                    before = len(statements)
                    await sessions.load_active_many(session, keys)
                    assert len(statements) == before + 2  # SAVEPOINT, the read
            async with session.begin():
                await store_reading(session, 4)
            async with session.begin():
                before = len(statements)
                await sessions.load_active_many(session, keys)
                assert len(statements) == before + 1
        async with store.sessionmaker() as session, session.begin():
            assert await inbox.accept(session, RawUpdate("telegram", "20", {}), NOW) is True
        async with store.sessionmaker() as session, session.begin():
            assert await store_reading(session, 5) is None  # waits its turn
            before = len(statements)
            await sessions.load_active_many(session, keys)
            assert len(statements) == before + 1
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", count)


async def _until_a_backend_waits_for_a_lock(store: Store) -> None:
    """Poll PostgreSQL until a backend of this database waits for a row lock (10 s at most)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    for _ in range(1000):
        async with store.sessionmaker() as probe:
            if await probe.scalar(query):
                return
        await asyncio.sleep(0.01)
    raise AssertionError("no backend waited for a lock")


async def test_a_first_read_that_waited_for_a_lock_reads_the_contact_as_left(
    store: Store,
) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing waits for a lock")
    known = await _contact_and_conversation(store, conversation_of="u1")
    locked, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with store.sessionmaker() as holder, holder.begin():
            await sessions.load_active_many(holder, [("telegram", "u1")])
            await holder.execute(
                text("UPDATE contacts SET locale = 'en', consent_at = :at WHERE id = :id"),
                {"at": NOW, "id": known.id},
            )
            locked.set()
            await release.wait()

    holding = asyncio.create_task(first())
    await asyncio.wait_for(locked.wait(), 10)
    async with store.sessionmaker() as other, other.begin():
        reading = asyncio.create_task(sessions.load_active_many(other, [("telegram", "u1")]))
        await _until_a_backend_waits_for_a_lock(store)
        assert not reading.done()  # waits for the holder's locks
        release.set()
        await holding
        read = await reading
    assert read.contacts is not None
    row = read.contacts["telegram", "u1"]
    assert (row["locale"], row["consent_at"]) == ("en", NOW)


async def test_a_touch_carried_by_the_outbox_insert_stores_and_updates_contacts(
    store: Store,
) -> None:
    if store.dialect != "postgresql":
        pytest.skip("only PostgreSQL statements carry another write")
    async with store.sessionmaker() as session, session.begin():
        known = await contacts.touch(
            session, channel="telegram", platform_user_id="u1", chat_id="c1", now=NOW
        )
    later = NOW + timedelta(hours=1)
    message = OutboundMessage(channel="telegram", chat_id="c9", text="halo")
    async with store.sessionmaker() as session, session.begin():
        people = [("telegram", "u1", "c9", "en"), ("telegram", "u2", "c2", None)]
        await enqueue_many(
            session, [Queued(message, "k:0")], later, along=contacts.touch_along(people, later)
        )
    async with store.sessionmaker() as session:
        rows = (await session.scalars(select(Contact).order_by(Contact.id))).all()
        queued = (await session.scalars(select(OutboxMessage))).all()
    assert [(c.platform_user_id, c.chat_id, c.locale) for c in rows] == [
        ("u1", "c9", "en"),
        ("u2", "c2", None),
    ]
    assert rows[0].id == known.id
    assert (rows[0].created_at, rows[0].last_inbound_at) == (NOW, later)
    assert (rows[1].created_at, rows[1].last_inbound_at) == (later, later)
    assert [item.dedup_key for item in queued] == ["k:0"]
    # Nothing to queue: the touch runs on its own.
    last = later + timedelta(hours=1)
    async with store.sessionmaker() as session, session.begin():
        people = [("telegram", "u1", "c9", None), ("telegram", "u2", "c3", "en")]
        await enqueue_many(session, [], last, along=contacts.touch_along(people, last))
    async with store.sessionmaker() as session:
        rows = (await session.scalars(select(Contact).order_by(Contact.id))).all()
    assert [(c.chat_id, c.locale, c.last_inbound_at) for c in rows] == [
        ("c9", "en", last),  # no new language: the stored one kept
        ("c3", "en", last),
    ]


async def test_a_consent_carried_by_a_case_insert_is_recorded_once(store: Store) -> None:
    await _with_agency(store)
    async with store.sessionmaker() as session, session.begin():
        contact = await contacts.touch(
            session, channel="telegram", platform_user_id="u1", chat_id="c1", now=NOW
        )
    if store.dialect != "postgresql":
        async with store.sessionmaker() as session, session.begin():
            with pytest.raises(ValueError, match="only PostgreSQL"):
                await _open_case(session, along=contacts.consent_along(contact.id, NOW, None))
        return
    later = NOW + timedelta(days=1)
    for at, phone in ((NOW, "0811"), (later, None), (None, "0822")):
        async with store.sessionmaker() as session, session.begin():
            carried = contacts.consent_along(contact.id, at, phone)
            await _open_case(session, reporter_contact_id=contact.id, along=carried)
    async with store.sessionmaker() as session:
        stored = await session.get(Contact, contact.id)
        assert stored is not None
        assert (stored.consent_at, stored.phone) == (NOW, "0822")  # the first consent kept
        assert await session.scalar(select(func.count()).select_from(Case)) == 3


async def test_two_workers_starting_a_session_for_one_user_leave_one_active(
    store: Store,
) -> None:
    async def start() -> bool:
        try:
            async with store.sessionmaker() as session, session.begin():
                await sessions.save(session, _conversation("u1"))
        except IntegrityError:
            return False
        return True

    assert sorted(await asyncio.gather(start(), start(), start())) == [False, False, True]


# --- reminders --------------------------------------------------------------------------------


async def _reminders(store: Store, due: int, later: int) -> set[int]:
    async with store.sessionmaker() as session, session.begin():
        rows = [
            Reminder(kind="triage", audience="group", due_at=NOW - timedelta(minutes=n))
            for n in range(due)
        ] + [
            Reminder(kind="triage", audience="group", due_at=NOW + timedelta(minutes=n + 1))
            for n in range(later)
        ]
        session.add_all(rows)
        await session.flush()
        return {r.id for r in rows[:due]}


async def test_reminders_are_claimed_exactly_once_by_two_workers(store: Store) -> None:
    due_ids = await _reminders(store, due=40, later=5)
    claimed: list[tuple[str, int]] = []

    async def worker(name: str) -> None:
        while True:
            async with store.sessionmaker() as session, session.begin():
                rows = await reminders.claim_due(session, 3, name, NOW)
                for row in rows:
                    await reminders.mark_sent(session, row.id, NOW, late=row.due_at < NOW)
            if not rows:
                return
            claimed.extend((name, row.id) for row in rows)
            await asyncio.sleep(0)

    await asyncio.gather(worker("w1"), worker("w2"))
    ids = [reminder_id for _, reminder_id in claimed]
    assert len(ids) == len(set(ids))
    assert set(ids) == due_ids
    async with store.sessionmaker() as session:
        statuses = (
            await session.execute(
                select(Reminder.status, func.count())
                .group_by(Reminder.status)
                .order_by(Reminder.status)
            )
        ).all()
    assert [tuple(s) for s in statuses] == [("pending", 5), ("sent", 40)]


async def test_reminder_claims_from_two_open_transactions_are_disjoint(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: the second claim would wait for the first")
    due_ids = await _reminders(store, due=10, later=0)
    async with store.sessionmaker() as first, first.begin():
        mine = await reminders.claim_due(first, 4, "w1", NOW)
        # Without SKIP LOCKED this would wait on w1's row locks until the timeout.
        async with store.sessionmaker() as second, second.begin(), asyncio.timeout(10):
            theirs = await reminders.claim_due(second, 100, "w2", NOW)
    assert len(mine) == 4
    assert {r.id for r in mine} | {r.id for r in theirs} == due_ids
    assert not {r.id for r in mine} & {r.id for r in theirs}


async def test_reminders_of_a_closed_case_are_cancelled_and_dead_claims_expire(
    store: Store,
) -> None:
    await _with_agency(store)
    lease = timedelta(minutes=5)
    async with store.sessionmaker() as session, session.begin():
        case = await cases.create_case(
            session,
            agency_code="dinsos-lumajang",
            standard_code="lumajang-anak-jalanan",
            category="anak_jalanan",
            locale="id",
            received_at=NOW,
        )
        session.add_all(
            [
                Reminder(case_id=case.id, kind="triage", audience="group", due_at=NOW),
                Reminder(case_id=case.id, kind="completion", audience="officer", due_at=NOW),
                Reminder(
                    case_id=case.id,
                    kind="completion",
                    audience="supervisor",
                    due_at=NOW + timedelta(days=1),
                ),
                Reminder(kind="digest", audience="supervisor", due_at=NOW),
            ]
        )
    async with store.sessionmaker() as session, session.begin():
        first = await reminders.claim_due(session, 2, "w1", NOW, lease)
        await reminders.mark_sent(session, first[0].id, NOW, late=False)
    # w1 died holding first[1]: within its lease another worker only gets the rest ...
    async with store.sessionmaker() as session, session.begin():
        rest = await reminders.claim_due(session, 10, "w2", NOW + lease / 2, lease)
        assert [r.kind for r in rest] == ["digest"]
        await reminders.mark_sent(session, rest[0].id, NOW + lease / 2, late=True)
    # ... and after the lease, w1's reminder too.
    async with store.sessionmaker() as session, session.begin():
        again = await reminders.claim_due(session, 10, "w3", NOW + lease * 2, lease)
    assert [r.id for r in again] == [first[1].id]
    async with store.sessionmaker() as session, session.begin():
        assert await reminders.cancel(session, case_id=case.id) == 2
        with pytest.raises(ValueError, match="needs"):
            await reminders.cancel(session)
    async with store.sessionmaker() as session:
        statuses = (
            await session.scalars(
                select(Reminder.status).where(Reminder.case_id == case.id).order_by(Reminder.id)
            )
        ).all()
    assert list(statuses) == ["sent", "cancelled", "cancelled"]
