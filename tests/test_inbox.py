"""The inbox processor on a real SQLite database, with a scripted adapter and handler."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.base import RawUpdate
from laporbot.clock import FixedClock
from laporbot.db import inbox as inbox_repo
from laporbot.db import outbox as outbox_repo
from laporbot.db.models import InboxItem, OutboxMessage
from laporbot.errors import BadRequest
from laporbot.inbox import InboxProcessor
from laporbot.messages import InboundMessage, OutboundMessage

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


class ScriptedAdapter:
    """Payload {"text": ...} is a message; {"kind": "status"} nothing; {"bad": true} unreadable."""

    def translate(self, update: RawUpdate) -> list[InboundMessage]:
        body = update.payload
        if body.get("bad"):
            raise BadRequest("not a message")
        if body.get("kind") == "status":
            return []
        return [
            InboundMessage(
                channel="web",
                platform_id=update.platform_id,
                user_id="u1",
                chat_id=str(body.get("chat", "c1")),
                kind="text",
                received_at=T0,
                text=str(body["text"]),
            )
        ]


class EchoHandler:
    """Queues an echo reply (with the intake's dedup-key rule); fails on request."""

    def __init__(self) -> None:
        self.failures: dict[str, int] = {}
        self.calls: list[str] = []

    async def __call__(self, db: AsyncSession, inbound: InboundMessage, now: datetime) -> None:
        assert inbound.text is not None
        self.calls.append(inbound.text)
        reply = OutboundMessage(channel="web", chat_id=inbound.chat_id, text=f"echo {inbound.text}")
        await outbox_repo.enqueue(db, reply, now, dedup_key=f"in:web:{inbound.platform_id}:0")
        if self.failures.get(inbound.text, 0) > 0:
            self.failures[inbound.text] -= 1
            raise RuntimeError(f"engine broke on {inbound.text}")


def update(platform_id: str, **payload: object) -> RawUpdate:
    return RawUpdate(channel="web", platform_id=platform_id, payload=dict(payload))


async def inbox_rows(sessions: Sessions) -> list[InboxItem]:
    async with sessions() as session:
        return list((await session.scalars(select(InboxItem).order_by(InboxItem.id))).all())


async def replies(sessions: Sessions) -> list[str]:
    async with sessions() as session:
        rows = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        return [row.payload["text"] for row in rows]


def processor(
    sessions: Sessions, clock: FixedClock, handler: EchoHandler, **kwargs: object
) -> InboxProcessor:
    return InboxProcessor(sessions, clock, {"web": ScriptedAdapter()}, handler, **kwargs)  # type: ignore[arg-type]


async def test_a_redelivered_update_changes_nothing(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    inbox = processor(db_sessionmaker, clock, handler)

    assert await inbox.accept([update("c1:1", text="halo")]) == [True]
    assert await inbox.process_pending() == 1
    assert await inbox.accept([update("c1:1", text="halo")]) == [False]
    assert await inbox.accept([update("c1:1", text="halo"), update("c1:2", text="b")]) == [
        False,
        True,
    ]
    assert await inbox.process_pending() == 1

    assert handler.calls == ["halo", "b"]
    assert await replies(db_sessionmaker) == ["echo halo", "echo b"]
    assert [r.status for r in await inbox_rows(db_sessionmaker)] == ["done", "done"]


async def test_deliveries_stored_together_count_a_repeat_once(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    inbox = processor(db_sessionmaker, clock, handler)

    # Three deliveries in one group commit (one INSERT): the repeated update is new only once.
    results = await asyncio.gather(
        inbox.accept([update("c1:1", text="a"), update("c1:1", text="a")]),
        inbox.accept([update("c1:2", text="b")]),
        inbox.accept([update("c1:2", text="b"), update("c1:3", text="c")]),
    )
    assert results == [[True, False], [True], [False, True]]
    assert await inbox.process_pending() == 3
    assert handler.calls == ["a", "b", "c"]
    assert [r.status for r in await inbox_rows(db_sessionmaker)] == ["done"] * 3


async def test_failure_rolls_back_everything_and_retries_after_a_backoff(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    handler.failures["halo"] = 2
    woken: list[int] = []
    inbox = processor(db_sessionmaker, clock, handler, on_processed=lambda: woken.append(1))
    await inbox.accept([update("c1:1", text="halo")])

    assert await inbox.process_pending() == 1
    (row,) = await inbox_rows(db_sessionmaker)
    assert (row.status, row.attempts, row.error) == (
        "pending",
        1,
        "RuntimeError: engine broke on halo",
    )
    assert row.claimed_until == T0 + timedelta(seconds=1)
    assert await replies(db_sessionmaker) == []  # the reply was rolled back with the failure
    assert await inbox.process_pending() == 0  # not before the backoff

    clock.advance(timedelta(seconds=1.5))
    await inbox.process_pending()
    (row,) = await inbox_rows(db_sessionmaker)
    assert row.claimed_until == clock.now() + timedelta(seconds=2)

    clock.advance(timedelta(seconds=3))
    await inbox.process_pending()
    (row,) = await inbox_rows(db_sessionmaker)
    assert (row.status, row.attempts) == ("done", 3)
    assert await replies(db_sessionmaker) == ["echo halo"]
    assert woken == [1]


async def test_poison_update_is_failed_at_once_and_blocks_nothing(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    inbox = processor(db_sessionmaker, clock, handler)
    await inbox.accept([update("c1:1", bad=True), update("c1:2", kind="status")])
    await inbox.accept([update("c1:3", text="after")])

    assert await inbox.process_pending() == 3
    rows = await inbox_rows(db_sessionmaker)
    assert [(r.status, r.error) for r in rows] == [
        ("failed", "BadRequest: not a message"),
        ("ignored", "no message for laporbot"),
        ("done", None),
    ]
    assert handler.calls == ["after"]


async def test_a_broken_update_gives_up_after_max_attempts(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    handler.failures["boom"] = 100
    inbox = processor(db_sessionmaker, clock, handler, max_attempts=3)
    await inbox.accept([update("c1:1", text="boom"), update("c2:1", text="fine", chat="c2")])

    for _ in range(10):
        await inbox.process_pending()
        clock.advance(timedelta(minutes=1))

    boom, fine = await inbox_rows(db_sessionmaker)
    assert boom.status == "failed"
    assert boom.attempts == 3
    assert boom.error == "gave up after 3 attempts: RuntimeError: engine broke on boom"
    assert fine.status == "done"
    assert await replies(db_sessionmaker) == ["echo fine"]


async def test_an_update_claimed_by_a_dead_process_is_taken_over_after_its_lease(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    first = processor(db_sessionmaker, clock, handler)
    await first.accept([update("c1:1", text="halo")])
    async with db_sessionmaker() as session, session.begin():
        await inbox_repo.claim_pending(session, 1, "dead", clock.now(), timedelta(minutes=1))

    restarted = processor(db_sessionmaker, clock, handler)
    assert await restarted.process_pending() == 0
    clock.advance(timedelta(minutes=1, seconds=1))
    assert await restarted.process_pending() == 1
    assert await replies(db_sessionmaker) == ["echo halo"]


async def test_replaying_a_processed_update_queues_no_reply_twice(
    db_sessionmaker: Sessions,
) -> None:
    """A crash after the processing commit but before anyone knew: the update is done, and even
    a forced replay through the handler finds the reply already queued by its dedup key."""
    clock = FixedClock(T0)
    handler = EchoHandler()
    inbox = processor(db_sessionmaker, clock, handler)
    await inbox.accept([update("c1:1", text="halo")])
    await inbox.process_pending()
    async with db_sessionmaker() as session, session.begin():
        await handler(session, ScriptedAdapter().translate(update("c1:1", text="halo"))[0], T0)
    assert await replies(db_sessionmaker) == ["echo halo"]


async def test_unconfigured_channel_waits(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    inbox = InboxProcessor(db_sessionmaker, clock, {}, EchoHandler())
    await inbox.accept([update("c1:1", text="halo")])
    assert await inbox.process_pending() == 1
    (row,) = await inbox_rows(db_sessionmaker)
    assert row.status == "pending"
    assert row.error == "channel web not configured"
    assert row.claimed_until == T0 + timedelta(minutes=10)


async def test_a_failed_update_holds_back_its_chat_in_the_batch_but_not_others(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    handler.failures["first"] = 1
    inbox = processor(db_sessionmaker, clock, handler)
    await inbox.accept(
        [
            update("c1:1", text="first"),
            update("c1:2", text="second"),
            update("c2:1", text="other", chat="c2"),
        ]
    )
    assert await inbox.process_batch() == 3
    first, second, other = await inbox_rows(db_sessionmaker)
    assert (first.status, first.attempts) == ("pending", 1)
    assert (second.status, second.attempts, second.error) == (
        "pending",
        0,  # given back untried: no attempt counted
        "waiting for an earlier update of this chat",
    )
    assert other.status == "done"
    assert second.claimed_until == first.claimed_until  # due again together, first sorts first
    assert await inbox.process_pending() == 0  # neither before the backoff

    clock.advance(timedelta(seconds=2))
    await inbox.process_pending()
    assert handler.calls == ["first", "other", "first", "second"]
    assert await replies(db_sessionmaker) == ["echo other", "echo first", "echo second"]


# -- group commit and batched processing -----------------------------------------------------


def count_commits(sessions: Sessions) -> list[int]:
    """A list that grows by one at every commit on the sessions' engine."""
    commits: list[int] = []
    engine = sessions.kw["bind"]
    event.listen(engine.sync_engine, "commit", lambda _conn: commits.append(1))
    return commits


async def test_deliveries_arriving_together_are_stored_in_one_commit(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    inbox = processor(db_sessionmaker, clock, EchoHandler())
    commits = count_commits(db_sessionmaker)

    results = await asyncio.gather(
        *(inbox.accept([update(f"c{n}:1", text=f"m{n}", chat=f"c{n}")]) for n in range(30)),
        inbox.accept([update("c0:1", text="m0")]),  # a redelivery within the same batch
    )

    assert results == [[True]] * 30 + [[False]]
    assert len(commits) == 1
    assert len(await inbox_rows(db_sessionmaker)) == 30


async def test_a_delivery_that_cannot_be_stored_fails_alone(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    inbox = processor(db_sessionmaker, clock, EchoHandler())

    results = await asyncio.gather(
        inbox.accept([update("c1:1", text="a")]),
        inbox.accept([update("c1:2", text={"not", "json"})]),  # the insert fails
        inbox.accept([update("c1:3", text="b")]),
        return_exceptions=True,
    )

    assert results[0] == [True]
    assert results[2] == [True]
    assert isinstance(results[1], Exception)  # the request answers 500; Telegram resends
    assert [row.platform_id for row in await inbox_rows(db_sessionmaker)] == ["c1:1", "c1:3"]


async def test_a_batch_is_one_transaction_and_a_poison_update_spoils_none_of_it(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    handler.failures["poison"] = 100
    inbox = processor(db_sessionmaker, clock, handler, max_attempts=1)
    await inbox.accept(
        [
            update("c1:1", text="one", chat="c1"),
            update("c2:1", text="poison", chat="c2"),
            update("c3:1", text="three", chat="c3"),
            update("c4:1", bad=True),
        ]
    )
    commits = count_commits(db_sessionmaker)

    assert await inbox.process_batch() == 4

    assert len(commits) == 2  # the claim, then all four updates
    rows = await inbox_rows(db_sessionmaker)
    assert [(r.status, r.error) for r in rows] == [
        ("done", None),
        ("failed", "gave up after 1 attempts: RuntimeError: engine broke on poison"),
        ("done", None),
        ("failed", "BadRequest: not a message"),
    ]
    # The poison update's reply was rolled back with its savepoint; the others' kept.
    assert await replies(db_sessionmaker) == ["echo one", "echo three"]


async def test_updates_of_a_chat_are_handled_in_order_within_a_batch(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    inbox = processor(db_sessionmaker, clock, handler)
    for n in range(5):
        await inbox.accept([update(f"a:{n}", text=f"a{n}", chat="a")])
        await inbox.accept([update(f"b:{n}", text=f"b{n}", chat="b")])

    assert await inbox.process_batch(limit=10) == 10

    assert [call for call in handler.calls if call.startswith("a")] == [f"a{n}" for n in range(5)]
    assert [call for call in handler.calls if call.startswith("b")] == [f"b{n}" for n in range(5)]


class Crash(BaseException):
    """The process dies (not an error the processor may catch)."""


async def test_a_crash_in_the_middle_of_a_batch_loses_nothing(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    crashing = processor(db_sessionmaker, clock, handler)
    await inbox_accept_all(crashing, ["one", "two", "three"])

    async def dies_on_two(db: AsyncSession, inbound: InboundMessage, now: datetime) -> None:
        await handler(db, inbound, now)
        if inbound.text == "two":
            raise Crash

    crashing._handle = dies_on_two
    with pytest.raises(Crash):
        await crashing.process_batch()

    # Nothing of the batch was committed: the first update's reply is not there either.
    assert await replies(db_sessionmaker) == []
    assert {row.status for row in await inbox_rows(db_sessionmaker)} == {"pending"}

    restarted = processor(db_sessionmaker, clock, EchoHandler())
    assert await restarted.process_pending() == 0  # still under the dead worker's lease
    clock.advance(timedelta(minutes=1, seconds=1))
    assert await restarted.process_pending() == 3
    assert await replies(db_sessionmaker) == ["echo one", "echo two", "echo three"]
    assert {row.status for row in await inbox_rows(db_sessionmaker)} == {"done"}


async def inbox_accept_all(inbox: InboxProcessor, texts: list[str]) -> None:
    for n, text in enumerate(texts):
        await inbox.accept([update(f"c{n}:1", text=text, chat=f"c{n}")])


# -- handling updates together (`handle_batch`) ---------------------------------------------


class BatchEcho:
    """A `handle_batch` that echoes what it takes in one go; leaves texts starting "apart"
    (to the one-by-one handler), fails a text named in `failures`, or fails as a whole."""

    def __init__(self) -> None:
        self.failures: set[str] = set()
        self.broken = False
        self.batches: list[list[str]] = []
        self.isolated: list[bool] = []

    async def __call__(
        self,
        db: AsyncSession,
        inbounds: Sequence[InboundMessage],
        now: datetime,
        *,
        isolate: bool = True,
    ) -> list[object]:
        texts = [m.text or "" for m in inbounds]
        self.batches.append(texts)
        self.isolated.append(isolate)
        outcomes: list[object] = []
        stopped: set[str] = set()
        for inbound, text in zip(inbounds, texts, strict=True):
            if inbound.chat_id in stopped or text.startswith("apart"):
                stopped.add(inbound.chat_id)
                outcomes.append(None)
                continue
            if text in self.failures:
                if not isolate:  # as `Intake.handle_batch`: no savepoint, so it propagates
                    raise RuntimeError(f"broke on {text}")
                stopped.add(inbound.chat_id)
                outcomes.append(RuntimeError(f"broke on {text}"))
                continue
            reply = OutboundMessage(channel="web", chat_id=inbound.chat_id, text=f"all {text}")
            await outbox_repo.enqueue(db, reply, now, dedup_key=f"in:web:{inbound.platform_id}:0")
            outcomes.append([reply])
        if self.broken:
            raise RuntimeError("the batch broke after writing")
        return outcomes


async def test_updates_are_handled_together_and_what_is_left_follows_in_order(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler, together = EchoHandler(), BatchEcho()
    inbox = processor(db_sessionmaker, clock, handler, handle_batch=together)
    await inbox.accept(
        [
            update("1", text="a1"),
            update("2", text="b1", chat="c2"),
            update("3", text="apart a2"),
            update("4", text="b2", chat="c2"),
            update("5", text="a3"),
        ]
    )
    assert await inbox.process_batch() == 5
    assert together.batches == [["a1", "b1", "apart a2", "b2", "a3"]]
    assert handler.calls == ["apart a2", "a3"]  # left, and the chat's later one after it
    async with db_sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage).order_by(OutboxMessage.chat_id, OutboxMessage.seq)
        )
        texts = [(row.chat_id, row.payload["text"]) for row in rows]
    assert texts == [
        ("c1", "all a1"),
        ("c1", "echo apart a2"),
        ("c1", "echo a3"),
        ("c2", "all b1"),
        ("c2", "all b2"),
    ]
    assert [r.status for r in await inbox_rows(db_sessionmaker)] == ["done"] * 5


async def test_a_message_failing_together_is_retried_and_holds_back_its_chat(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler, together = EchoHandler(), BatchEcho()
    together.failures.add("a1")
    inbox = processor(db_sessionmaker, clock, handler, handle_batch=together)
    await inbox.accept(
        [update("1", text="a1"), update("2", text="a2"), update("3", text="b1", chat="c2")]
    )
    assert await inbox.process_batch() == 3
    first, second, other = await inbox_rows(db_sessionmaker)
    assert (first.status, first.attempts, first.error) == (
        "pending",
        1,
        "RuntimeError: broke on a1",
    )
    assert (second.status, second.attempts) == ("pending", 0)  # given back, untried
    assert second.claimed_until == first.claimed_until
    assert other.status == "done"
    assert handler.calls == []

    together.failures.clear()
    clock.advance(timedelta(seconds=2))
    assert await inbox.process_pending() == 2
    assert await replies(db_sessionmaker) == ["all b1", "all a1", "all a2"]


async def test_when_handling_together_fails_the_updates_are_handled_one_by_one(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler, together = EchoHandler(), BatchEcho()
    together.broken = True
    inbox = processor(db_sessionmaker, clock, handler, handle_batch=together)
    await inbox.accept([update("1", text="a1"), update("2", text="b1", chat="c2")])
    assert await inbox.process_batch() == 2
    assert handler.calls == ["a1", "b1"]
    # What the failed attempt wrote was rolled back with its savepoint: one reply each.
    assert await replies(db_sessionmaker) == ["echo a1", "echo b1"]
    assert [r.status for r in await inbox_rows(db_sessionmaker)] == ["done", "done"]


# -- processing on accept (`process_on_accept`) ----------------------------------------------


async def test_an_update_is_processed_in_the_transaction_that_stores_it(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler, together = EchoHandler(), BatchEcho()
    inbox = processor(
        db_sessionmaker, clock, handler, handle_batch=together, process_on_accept=True
    )
    commits = count_commits(db_sessionmaker)
    committed: list[str] = []
    inbox.on_committed = lambda items: committed.extend(i.platform_id for i in items)

    results = await asyncio.gather(
        inbox.accept([update("1", text="a1")]),
        inbox.accept([update("2", text="b1", chat="c2"), update("3", text="apart b2", chat="c2")]),
    )
    assert results == [[True], [True, True]]
    assert len(commits) == 1  # stored, processed and marked done together
    assert committed == ["1", "2", "3"]
    assert together.batches == [["a1", "b1", "apart b2"]]
    assert handler.calls == ["apart b2"]
    rows = await inbox_rows(db_sessionmaker)
    assert [(r.status, r.attempts, r.claimed_by) for r in rows] == [("done", 1, None)] * 3
    assert await inbox.process_pending() == 0

    assert await inbox.accept([update("1", text="a1")]) == [False]  # a redelivery
    assert together.batches == [["a1", "b1", "apart b2"]]
    assert await replies(db_sessionmaker) == ["all a1", "all b1", "echo apart b2"]


async def test_an_update_waits_its_turn_behind_one_waiting(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    queued = processor(db_sessionmaker, clock, handler)
    direct = processor(db_sessionmaker, clock, handler, process_on_accept=True)

    await queued.accept([update("1", text="first")])  # stored, waiting for a worker
    assert await direct.accept([update("2", text="second")]) == [True]
    assert handler.calls == []  # not ahead of the one waiting
    assert await direct.process_pending() == 2
    assert handler.calls == ["first", "second"]

    await direct.accept([update("3", text="third")])
    assert handler.calls == ["first", "second", "third"]  # nothing waiting: at once


async def test_an_update_failing_on_accept_is_retried_and_blocks_no_one(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    handler.failures["broken"] = 1
    inbox = processor(db_sessionmaker, clock, handler, process_on_accept=True)

    assert await inbox.accept([update("1", text="broken")]) == [True]  # stored all the same
    (row,) = await inbox_rows(db_sessionmaker)
    assert (row.status, row.attempts, row.claimed_by) == ("pending", 1, None)
    assert (row.processed_at, row.error) == (None, "RuntimeError: engine broke on broken")
    assert await replies(db_sessionmaker) == []  # its reply was rolled back with it

    await inbox.accept([update("2", text="other", chat="c2")])  # its retry time is not yet
    assert handler.calls == ["broken", "other"]
    clock.advance(timedelta(seconds=2))
    assert await inbox.process_pending() == 1
    assert handler.calls == ["broken", "other", "broken"]
    assert [r.status for r in await inbox_rows(db_sessionmaker)] == ["done", "done"]


async def test_what_became_of_each_update_processed_on_accept_is_recorded(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler = EchoHandler()
    handler.failures["broken"] = 1
    inbox = processor(db_sessionmaker, clock, handler, process_on_accept=True)
    commits = count_commits(db_sessionmaker)

    stored = await inbox.accept(
        [
            update("1", text="broken"),
            update("2", text="after broken"),  # same chat: waits behind it, untried
            update("3", kind="status"),
            update("4", bad=True),
            update("5", text="fine", chat="c2"),
        ]
    )
    assert stored == [True] * 5
    assert len(commits) == 1
    rows = await inbox_rows(db_sessionmaker)
    assert [(r.status, r.attempts, r.processed_at is not None) for r in rows] == [
        ("pending", 1, False),  # to be retried
        ("pending", 0, False),  # given back: it was never tried
        ("ignored", 1, True),
        ("failed", 1, True),
        ("done", 1, True),
    ]
    assert await replies(db_sessionmaker) == ["echo fine"]
    clock.advance(timedelta(seconds=2))
    assert await inbox.process_pending() == 2
    assert await replies(db_sessionmaker) == ["echo fine", "echo broken", "echo after broken"]


async def test_a_group_failing_as_a_whole_on_accept_is_stored_for_the_worker(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler, together = EchoHandler(), BatchEcho()
    together.broken = True
    inbox = processor(
        db_sessionmaker, clock, handler, handle_batch=together, process_on_accept=True
    )
    assert await inbox.accept([update("1", text="a1"), update("2", text="b1", chat="c2")]) == [
        True,
        True,
    ]
    rows = await inbox_rows(db_sessionmaker)
    assert [(r.status, r.attempts) for r in rows] == [("pending", 0)] * 2  # stored, untried
    assert await replies(db_sessionmaker) == []  # what the failed batch wrote is gone
    assert await inbox.process_pending() == 2
    assert handler.calls == ["a1", "b1"]  # one by one, after the batch failed again
    assert await replies(db_sessionmaker) == ["echo a1", "echo b1"]


async def test_a_message_failing_in_a_group_on_accept_sends_the_group_to_the_worker(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    handler, together = EchoHandler(), BatchEcho()
    together.failures.add("b1")
    inbox = processor(
        db_sessionmaker, clock, handler, handle_batch=together, process_on_accept=True
    )
    accepted = await inbox.accept([update("1", text="a1"), update("2", text="b1", chat="c2")])
    assert accepted == [True, True]
    assert together.isolated == [False]  # the group's own transaction: no savepoints
    rows = await inbox_rows(db_sessionmaker)
    assert [(r.status, r.attempts) for r in rows] == [("pending", 0)] * 2  # stored, untried
    assert await replies(db_sessionmaker) == []  # a1's reply went with the group
    assert await inbox.process_pending() == 2
    assert together.isolated == [False, True]  # the worker isolates each message
    rows = await inbox_rows(db_sessionmaker)
    assert [(r.status, r.attempts) for r in rows] == [("done", 1), ("pending", 1)]
    assert await replies(db_sessionmaker) == ["all a1"]  # b1 waits for its retry
