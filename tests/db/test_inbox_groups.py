"""Several group commits in flight at once (`groups_in_flight`, as `laporbot serve` runs the
inbox on PostgreSQL): one waiting for the server does not hold up the next, and one person's
updates are still handled one after the other, in order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.base import RawUpdate
from laporbot.clock import FixedClock
from laporbot.db import outbox as outbox_repo
from laporbot.db.engine import create_engine_for_url, make_sessionmaker
from laporbot.db.models import InboxItem, OutboxMessage
from laporbot.errors import BadRequest
from laporbot.inbox import InboxProcessor
from laporbot.messages import InboundMessage, OutboundMessage
from tests.db.support import truncate_all

pytestmark = pytest.mark.postgres

T0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]
#: A bound on waiting for something the test has set going; never reached when it works.
PATIENCE = 10.0


@pytest.fixture
async def sessions(postgres_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine_for_url(postgres_url)
    await truncate_all(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


class PeopleAdapter:
    """Payload {"user": ..., "text": ...}: a text from that person in their own chat."""

    def __init__(self) -> None:
        self.translated: list[str] = []

    def translate(self, update: RawUpdate) -> list[InboundMessage]:
        body = update.payload
        if body.get("bad"):
            raise BadRequest("not a message")
        self.translated.append(update.platform_id)
        user = str(body["user"])
        return [
            InboundMessage(
                channel="web",
                platform_id=update.platform_id,
                user_id=user,
                chat_id=f"chat-{user}",
                kind="text",
                received_at=T0,
                text=str(body["text"]),
            )
        ]


class GatedHandler:
    """Echoes each text; a text with a gate waits for it to open (announcing it is there)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.arrived: dict[str, asyncio.Event] = {}

    def gate(self, text: str) -> asyncio.Event:
        self.arrived[text] = asyncio.Event()
        self.gates[text] = asyncio.Event()
        return self.gates[text]

    async def __call__(self, db: AsyncSession, inbound: InboundMessage, now: datetime) -> None:
        assert inbound.text is not None
        self.calls.append(inbound.text)
        reply = OutboundMessage(channel="web", chat_id=inbound.chat_id, text=f"echo {inbound.text}")
        await outbox_repo.enqueue(db, reply, now, dedup_key=f"in:web:{inbound.platform_id}:0")
        if inbound.text in self.gates:
            self.arrived[inbound.text].set()
            await self.gates[inbound.text].wait()


def said(platform_id: str, user: str, text: str) -> RawUpdate:
    return RawUpdate(channel="web", platform_id=platform_id, payload={"user": user, "text": text})


def inbox(sessions: Sessions, handler: GatedHandler, groups: int) -> InboxProcessor:
    adapter = PeopleAdapter()
    return InboxProcessor(
        sessions,
        FixedClock(T0),
        {"web": adapter},
        handler,
        process_on_accept=True,
        groups_in_flight=groups,
    )


async def replies(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [row.payload["text"] for row in rows]


async def statuses(sessions: Sessions) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.scalars(select(InboxItem).order_by(InboxItem.id))
        return {row.platform_id: row.status for row in rows}


async def test_a_group_waiting_does_not_hold_up_the_next(sessions: Sessions) -> None:
    handler = GatedHandler()
    gate = handler.gate("slow")
    processor = inbox(sessions, handler, groups=2)

    slow = asyncio.create_task(processor.accept([said("1", "ani", "slow")]))
    await asyncio.wait_for(handler.arrived["slow"].wait(), PATIENCE)
    # Ani's group is in its transaction, waiting: Budi's is stored and answered meanwhile.
    assert await asyncio.wait_for(processor.accept([said("2", "budi", "quick")]), PATIENCE) == [
        True
    ]
    assert not slow.done()
    assert await replies(sessions) == ["echo quick"]  # Ani's is not committed yet

    gate.set()
    assert await asyncio.wait_for(slow, PATIENCE) == [True]
    assert sorted(await replies(sessions)) == ["echo quick", "echo slow"]
    assert await statuses(sessions) == {"1": "done", "2": "done"}


async def test_one_persons_updates_are_handled_in_order_one_after_the_other(
    sessions: Sessions,
) -> None:
    handler = GatedHandler()
    gate = handler.gate("first")
    processor = inbox(sessions, handler, groups=3)

    first = asyncio.create_task(processor.accept([said("1", "ani", "first")]))
    await asyncio.wait_for(handler.arrived["first"].wait(), PATIENCE)
    # Ani's next updates (and a repeat of the one in hand) wait for her group to end; Budi,
    # who sent his after them, is not held up behind them.
    second = asyncio.create_task(processor.accept([said("2", "ani", "second")]))
    repeat = asyncio.create_task(processor.accept([said("1", "ani", "first")]))
    third = asyncio.create_task(processor.accept([said("3", "ani", "third")]))
    budi = await asyncio.wait_for(processor.accept([said("4", "budi", "other")]), PATIENCE)
    assert budi == [True]
    assert handler.calls == ["first", "other"]
    assert [task.done() for task in (second, repeat, third)] == [False, False, False]

    gate.set()
    results = await asyncio.wait_for(asyncio.gather(first, second, repeat, third), PATIENCE)
    assert list(results) == [[True], [True], [False], [True]]  # the repeat was stored once
    assert handler.calls == ["first", "other", "second", "third"]
    ani = [text for text in await replies(sessions) if text != "echo other"]
    assert ani == ["echo first", "echo second", "echo third"]
    assert set((await statuses(sessions)).values()) == {"done"}


async def test_an_update_is_translated_once_on_arrival(sessions: Sessions) -> None:
    handler = GatedHandler()
    adapter = PeopleAdapter()
    processor = InboxProcessor(
        sessions,
        FixedClock(T0),
        {"web": adapter},
        handler,
        process_on_accept=True,
        groups_in_flight=2,
    )
    bad = RawUpdate(channel="web", platform_id="2", payload={"bad": True})
    assert await processor.accept([said("1", "ani", "halo"), bad]) == [True, True]
    assert adapter.translated == ["1"]  # not again in the transaction
    # What translating raised on arrival is recorded as if raised there: unreadable, failed.
    assert await statuses(sessions) == {"1": "done", "2": "failed"}
    assert handler.calls == ["halo"]


def test_at_least_one_group_is_in_flight() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        InboxProcessor(None, FixedClock(T0), {}, GatedHandler(), groups_in_flight=0)  # type: ignore[arg-type]


async def test_a_groups_insert_reads_the_batchs_first_read_along(
    sessions: Sessions, postgres_url: str
) -> None:
    """With `first_read` (as `laporbot serve` runs it), the group's insert reads what the batch
    handler reads first: the handler's `load_active_many` runs no statement of its own."""
    from sqlalchemy import event

    from laporbot.db import sessions as session_rows

    seen: list[session_rows.FirstRead] = []

    async def batch(
        db: AsyncSession, inbounds: Sequence[InboundMessage], now: datetime, *, isolate: bool
    ) -> list[object]:
        keys = [(m.channel, m.user_id) for m in inbounds]
        seen.append(await session_rows.load_active_many(db, keys))
        for m in inbounds:
            reply = OutboundMessage(channel="web", chat_id=m.chat_id, text=f"echo {m.text}")
            await outbox_repo.enqueue(db, reply, now, dedup_key=f"in:web:{m.platform_id}:0")
        return ["done"] * len(inbounds)

    def plan(inbounds: Sequence[InboundMessage]) -> session_rows.FirstReadAsk:
        return session_rows.first_read_ask({(m.channel, m.user_id) for m in inbounds})

    statements: list[str] = []
    engine = create_engine_for_url(postgres_url)
    event.listen(
        engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _k, statement, *_a: statements.append(" ".join(statement.split()[:4])),
    )
    try:
        processor = InboxProcessor(
            make_sessionmaker(engine),
            FixedClock(T0),
            {"web": PeopleAdapter()},
            GatedHandler(),
            handle_batch=batch,
            process_on_accept=True,
            first_read=plan,
        )
        updates = [said("1", "ani", "halo"), said("2", "budi", "hai")]
        assert await asyncio.wait_for(processor.accept(updates), PATIENCE) == [True, True]
    finally:
        await engine.dispose()
    # The insert with the read, then the handler's replies: no first read of its own (the
    # engine's first connection asks the server a few things before).
    group = statements[statements.index("WITH stored AS (INSERT") :]
    assert not any(s.startswith("SELECT o.officers,") for s in group), group
    assert [(read.sessions, read.contacts) for read in seen] == [({}, {})]
    assert sorted(await replies(sessions)) == ["echo hai", "echo halo"]
    assert await statuses(sessions) == {"1": "done", "2": "done"}
