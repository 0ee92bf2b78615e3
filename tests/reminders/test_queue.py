"""Batch queueing keeps the outbox's own per-chat order and idempotency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.engine import create_engine_for_url, make_sessionmaker
from laporbot.db.models import NumberCounter, OutboxMessage
from laporbot.db.outbox import enqueue, to_payload
from laporbot.messages import OutboundMessage
from laporbot.reminders.queue import Queued, enqueue_many
from tests.db.support import truncate_all

NOW = datetime(2026, 3, 17, 3, 0, tzinfo=UTC)


def _message(chat: str, text: str) -> OutboundMessage:
    return OutboundMessage(channel="telegram", chat_id=chat, text=text)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def queue_db(
    request: pytest.FixtureRequest, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """SQLite, then PostgreSQL (one statement there instead of two: the same rows)."""
    if request.param == "sqlite":
        yield db_sessionmaker
        return
    engine = create_engine_for_url(request.getfixturevalue("reminders_postgres_url"))
    try:
        await truncate_all(engine)
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def test_batches_and_single_enqueues_share_one_sequence_per_chat(
    queue_db: async_sessionmaker[AsyncSession],
) -> None:
    db_sessionmaker = queue_db
    async with db_sessionmaker() as session, session.begin():
        await enqueue(session, _message("a", "a1"), NOW, dedup_key="k-a1")
        await enqueue_many(
            session,
            [
                Queued(_message("b", "b1"), "k-b1"),
                Queued(_message("a", "a2"), "k-a2"),
                Queued(_message("a", "a3"), "k-a3"),
                Queued(_message("a", "a1 again"), "k-a1"),  # already queued: skipped
                Queued(_message("b", "b1 twice"), "k-b1"),  # given twice: the first is queued
            ],
            NOW,
        )
        await enqueue(session, _message("a", "a4"), NOW, dedup_key="k-a4")
    async with db_sessionmaker() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage).order_by(OutboxMessage.chat_id, OutboxMessage.seq)
            )
        ).all()
    # a skipped message leaves a gap in its chat's seq (a: 4, b: 2): seq only orders
    assert [(r.chat_id, r.seq, r.payload["text"]) for r in rows] == [
        ("a", 1, "a1"),
        ("a", 2, "a2"),
        ("a", 3, "a3"),
        ("a", 5, "a4"),
        ("b", 1, "b1"),
    ]


async def test_a_batch_numbers_each_chat_on_from_its_counter_and_keeps_the_order_given(
    queue_db: async_sessionmaker[AsyncSession],
) -> None:
    async with queue_db() as session, session.begin():
        await enqueue_many(session, [Queued(_message("b", "b1"), "k-b1")], NOW)
    async with queue_db() as session, session.begin():
        await enqueue_many(
            session,
            [
                Queued(_message("c", "c1"), "k-c1", case_id=None),
                Queued(_message("b", "b2"), "k-b2"),
                Queued(_message("c", "c2"), "k-c2"),
                Queued(_message("b", "b3"), "k-b3"),
                Queued(_message("c", "c3"), "k-c3"),
            ],
            NOW,
        )
        await enqueue_many(session, [Queued(_message("b", "b4"), "k-b4")], NOW)
    async with queue_db() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage).order_by(OutboxMessage.chat_id, OutboxMessage.seq)
            )
        ).all()
        found = await session.execute(select(NumberCounter.name, NumberCounter.value))
        counters = {name: value for name, value in found}
    assert [(r.chat_id, r.seq, r.payload["text"], r.dedup_key) for r in rows] == [
        ("b", 1, "b1", "k-b1"),
        ("b", 2, "b2", "k-b2"),
        ("b", 3, "b3", "k-b3"),
        ("b", 4, "b4", "k-b4"),
        ("c", 1, "c1", "k-c1"),
        ("c", 2, "c2", "k-c2"),
        ("c", 3, "c3", "k-c3"),
    ]
    assert {(r.status, r.attempts, r.next_attempt_at, r.created_at, r.case_id) for r in rows} == {
        ("pending", 0, NOW, NOW, None)
    }
    assert rows[4].payload == to_payload(_message("c", "c1"))
    assert counters == {"outbox:telegram:b": 4, "outbox:telegram:c": 3}
