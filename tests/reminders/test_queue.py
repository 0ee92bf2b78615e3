"""Batch queueing keeps the outbox's own per-chat order and idempotency."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.models import OutboxMessage
from laporbot.db.outbox import enqueue
from laporbot.messages import OutboundMessage
from laporbot.reminders.queue import Queued, enqueue_many

NOW = datetime(2026, 3, 17, 3, 0, tzinfo=UTC)


def _message(chat: str, text: str) -> OutboundMessage:
    return OutboundMessage(channel="telegram", chat_id=chat, text=text)


async def test_batches_and_single_enqueues_share_one_sequence_per_chat(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
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
