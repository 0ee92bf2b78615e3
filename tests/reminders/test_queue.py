"""Batch queueing keeps the outbox's own per-chat order and idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db import sessions
from laporbot.db.models import ConversationSession, NumberCounter, OutboxMessage
from laporbot.db.outbox import enqueue, to_payload
from laporbot.messages import OutboundMessage
from laporbot.reminders.queue import Queued, enqueue_many

NOW = datetime(2026, 3, 17, 3, 0, tzinfo=UTC)


def _message(chat: str, text: str) -> OutboundMessage:
    return OutboundMessage(channel="telegram", chat_id=chat, text=text)


async def test_batches_and_single_enqueues_share_one_sequence_per_chat(
    either_db: async_sessionmaker[AsyncSession],
) -> None:
    db_sessionmaker = either_db
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
    either_db: async_sessionmaker[AsyncSession],
) -> None:
    async with either_db() as session, session.begin():
        await enqueue_many(session, [Queued(_message("b", "b1"), "k-b1")], NOW)
    async with either_db() as session, session.begin():
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
    async with either_db() as session:
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


def _session(user: str) -> ConversationSession:
    return ConversationSession(
        channel="telegram",
        user_id=user,
        chat_id=user,
        flow="report",
        step="ask_category",
        locale="id",
        started_at=NOW,
        updated_at=NOW,
    )


def _turn(row_id: int, step: str, status: str = "active") -> dict[str, Any]:
    later = NOW + timedelta(minutes=5)
    return {
        "row_id": row_id,
        "status": status,
        "chat_id": "chat-2",
        "flow": "report",
        "step": step,
        "locale": "en",
        "answers": {"category": "anak_terlantar", "note": ["ç", 1]} if status == "active" else {},
        "state": {"tries": 2},
        "updated_at": later,
        "nudge_at": later + timedelta(minutes=10) if status == "active" else None,
        "expires_at": None,
    }


@pytest.mark.parametrize("queued", [True, False])
async def test_a_batchs_session_updates_ride_on_the_outbox_insert_or_run_alone(
    either_db: async_sessionmaker[AsyncSession], queued: bool
) -> None:
    async with either_db() as session, session.begin():
        first, second = _session("u1"), _session("u2")
        session.add_all([first, second])
        await session.flush()
        ids = (first.id, second.id)
    turns = [_turn(ids[0], "ask_place"), _turn(ids[1], "done", status="ended")]
    async with either_db() as session, session.begin():
        along = await sessions.write_turns(session, turns, [], along_next=True)
        postgres = session.get_bind().dialect.name == "postgresql"
        assert (along is not None) == postgres  # SQLite ran them at once
        items = [Queued(_message("a", "a1"), "k-a1")] if queued else []
        await enqueue_many(session, items, NOW, along=along)
    async with either_db() as session:
        rows = (
            await session.scalars(select(ConversationSession).order_by(ConversationSession.id))
        ).all()
        texts = (await session.scalars(select(OutboxMessage.payload))).all()
    later = NOW + timedelta(minutes=5)
    assert [(r.status, r.step, r.chat_id, r.locale) for r in rows] == [
        ("active", "ask_place", "chat-2", "en"),
        ("ended", "done", "chat-2", "en"),
    ]
    assert rows[0].answers == {"category": "anak_terlantar", "note": ["ç", 1]}
    assert [r.state for r in rows] == [{"tries": 2}] * 2
    assert [(r.updated_at, r.nudge_at, r.expires_at) for r in rows] == [
        (later, later + timedelta(minutes=10), None),
        (later, None, None),
    ]
    assert [t["text"] for t in texts] == (["a1"] if queued else [])


async def test_a_session_insert_is_never_carried(
    either_db: async_sessionmaker[AsyncSession],
) -> None:
    async with either_db() as session, session.begin():
        ended = _session("u1")
        session.add(ended)
        await session.flush()
        row_id = ended.id
    fresh = {
        "channel": "telegram",
        "user_id": "u1",
        "started_at": NOW,
        **{k: v for k, v in _turn(0, "start").items() if k != "row_id"},
    }
    async with either_db() as session, session.begin():
        # The old one ends before the new one starts (one active session per user): both
        # run here, in that order, not carried.
        along = await sessions.write_turns(
            session, [_turn(row_id, "done", status="ended")], [fresh], along_next=True
        )
        assert along is None
    async with either_db() as session:
        found = await session.execute(
            select(ConversationSession.status, ConversationSession.step).order_by(
                ConversationSession.id
            )
        )
        assert found.all() == [("ended", "done"), ("active", "start")]
