"""The outbox dispatcher against a fake adapter, a real SQLite database and an injected clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.base import (
    PermanentSendError,
    RawUpdate,
    RetryAfter,
    SendResult,
    TransientSendError,
)
from laporbot.clock import FixedClock
from laporbot.db import outbox as outbox_repo
from laporbot.db.models import OutboxMessage
from laporbot.db.outbox import from_payload, to_payload
from laporbot.messages import Button, Channel, InboundMessage, OutboundMessage
from laporbot.outbox import (
    BACKOFF_CAP_SECONDS,
    ChannelSender,
    Dispatcher,
    backoff_seconds,
)
from laporbot.ratelimit import telegram_pacer, unlimited_pacer

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
Sessions = async_sessionmaker[AsyncSession]


class FakeAdapter:
    """Records every send with the clock's time; `script[chat]` lists outcomes to play first."""

    channel: Channel = "telegram"

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.sent: list[tuple[datetime, str, str]] = []
        self.calls: list[tuple[datetime, str, str]] = []
        self.script: dict[str, list[BaseException]] = {}
        self._next_id = 100

    def split(self, body: dict[str, Any]) -> list[RawUpdate]:
        raise NotImplementedError

    def translate(self, update: RawUpdate) -> list[InboundMessage]:
        raise NotImplementedError

    async def send(self, message: OutboundMessage) -> SendResult:
        self.calls.append((self.clock.now(), message.chat_id, message.text))
        outcomes = self.script.get(message.chat_id)
        if outcomes:
            raise outcomes.pop(0)
        self.sent.append((self.clock.now(), message.chat_id, message.text))
        self._next_id += 1
        return SendResult(platform_message_ids=(str(self._next_id),))


class FakeSleep:
    """A sleep that moves the fixed clock instead of waiting."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))


async def enqueue(sessions: Sessions, clock: FixedClock, chat: str, *texts: str) -> None:
    async with sessions() as session, session.begin():
        for text in texts:
            await outbox_repo.enqueue(
                session, OutboundMessage(channel="telegram", chat_id=chat, text=text), clock.now()
            )


async def rows(sessions: Sessions) -> list[OutboxMessage]:
    async with sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


def make(
    sessions: Sessions,
    clock: FixedClock,
    adapter: FakeAdapter,
    *,
    pacer: Callable[[FixedClock], Any] = unlimited_pacer,
    max_attempts: int = 3,
    rand: Callable[[], float] = lambda: 0.5,
) -> tuple[Dispatcher, FakeSleep]:
    sleep = FakeSleep(clock)
    dispatcher = Dispatcher(
        sessions,
        clock,
        {"telegram": ChannelSender(adapter=adapter, pacer=pacer(clock))},
        max_attempts=max_attempts,
        rand=rand,
        sleep=sleep,
        worker="test",
    )
    return dispatcher, sleep


async def run_until_idle(dispatcher: Dispatcher, clock: FixedClock, *, step: float = 1.0) -> None:
    """Tick, drain, move the clock, until nothing is pending or sending (bounded)."""
    for _ in range(500):
        await dispatcher.tick()
        await dispatcher.drain()
        unsent = [r for r in await rows(dispatcher._sessions) if r.status in ("pending", "sending")]
        if not unsent:
            return
        clock.advance(timedelta(seconds=step))
    raise AssertionError("outbox never went idle")


async def test_messages_of_one_chat_go_in_order_and_chats_interleave(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    adapter = FakeAdapter(clock)
    await enqueue(db_sessionmaker, clock, "1", "a1", "a2", "a3")
    await enqueue(db_sessionmaker, clock, "2", "b1", "b2")
    dispatcher, _ = make(db_sessionmaker, clock, adapter)

    assert await dispatcher.tick() == 2  # only the head of each chat's queue
    await dispatcher.drain()
    await run_until_idle(dispatcher, clock)

    assert [t for _, c, t in adapter.sent if c == "1"] == ["a1", "a2", "a3"]
    assert [t for _, c, t in adapter.sent if c == "2"] == ["b1", "b2"]
    stored = await rows(db_sessionmaker)
    assert all(r.status == "sent" for r in stored)
    assert sorted(r.platform_message_ids[0] for r in stored) == [str(i) for i in range(101, 106)]


async def test_pacing_keeps_one_per_second_per_private_chat(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    adapter = FakeAdapter(clock)
    await enqueue(db_sessionmaker, clock, "7", "m1", "m2", "m3")
    dispatcher, sleep = make(db_sessionmaker, clock, adapter, pacer=telegram_pacer)

    for _ in range(3):
        await dispatcher.tick()
        await dispatcher.drain()

    times = [(at - T0).total_seconds() for at, _, _ in adapter.sent]
    assert times == [0.0, 1.0, 2.0]
    assert sleep.slept == [1.0, 1.0]


async def test_group_pacing_twenty_a_minute_without_a_429(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    adapter = FakeAdapter(clock)
    await enqueue(db_sessionmaker, clock, "-100", *[f"g{i}" for i in range(22)])
    dispatcher, _ = make(db_sessionmaker, clock, adapter, pacer=telegram_pacer)

    for _ in range(22):
        await dispatcher.tick()
        await dispatcher.drain()

    times = [(at - T0).total_seconds() for at, _, _ in adapter.sent]
    assert times[:20] == [float(i) for i in range(20)]
    assert times[20:] == [60.0, 61.0]


async def test_transient_error_retries_with_exponential_backoff(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    adapter = FakeAdapter(clock)
    adapter.script["9"] = [TransientSendError("HTTP 502"), TransientSendError("timeout")]
    await enqueue(db_sessionmaker, clock, "9", "hello", "after")
    dispatcher, _ = make(db_sessionmaker, clock, adapter, max_attempts=5, rand=lambda: 0.0)

    await dispatcher.tick()
    await dispatcher.drain()
    (first, second) = await rows(db_sessionmaker)
    assert first.status == "pending"
    assert first.error == "HTTP 502"
    assert first.next_attempt_at == T0 + timedelta(seconds=1)  # 2 s ceiling, half, no jitter
    assert second.status == "pending"  # held behind the failed head

    clock.advance(timedelta(seconds=0.5))
    assert await dispatcher.tick() == 0  # not due yet; the later message waits too

    clock.set(T0 + timedelta(seconds=1))
    await dispatcher.tick()
    await dispatcher.drain()
    first = (await rows(db_sessionmaker))[0]
    assert first.next_attempt_at == T0 + timedelta(seconds=1 + 2)  # 4 s ceiling, half

    clock.set(T0 + timedelta(seconds=3))
    await run_until_idle(dispatcher, clock)
    assert [t for _, _, t in adapter.sent] == ["hello", "after"]
    assert [(at - T0).total_seconds() for at, _, _ in adapter.calls][:3] == [0.0, 1.0, 3.0]


def test_backoff_grows_caps_and_jitters() -> None:
    assert backoff_seconds(1, lambda: 0.0) == 1.0
    assert backoff_seconds(1, lambda: 1.0) == 2.0
    assert backoff_seconds(4, lambda: 0.0) == 8.0
    assert backoff_seconds(30, lambda: 1.0) == BACKOFF_CAP_SECONDS
    assert backoff_seconds(30, lambda: 0.0) == BACKOFF_CAP_SECONDS / 2


async def test_transient_errors_give_up_after_max_attempts(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    adapter = FakeAdapter(clock)
    adapter.script["9"] = [TransientSendError("HTTP 500")] * 3
    await enqueue(db_sessionmaker, clock, "9", "doomed", "next")
    dispatcher, _ = make(db_sessionmaker, clock, adapter, max_attempts=3)

    await run_until_idle(dispatcher, clock, step=30)

    doomed, nxt = await rows(db_sessionmaker)
    assert doomed.status == "failed"
    assert doomed.attempts == 3
    assert doomed.error == "gave up after 3 attempts: HTTP 500"
    assert nxt.status == "sent"  # the chat goes on after a give-up
    assert len(adapter.calls) == 4


async def test_retry_after_holds_the_chat_then_delivers(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    adapter = FakeAdapter(clock)
    adapter.script["5"] = [RetryAfter("Too Many Requests: retry after 7", seconds=7)]
    await enqueue(db_sessionmaker, clock, "5", "x", "y")
    await enqueue(db_sessionmaker, clock, "6", "other")
    dispatcher, _ = make(db_sessionmaker, clock, adapter, pacer=telegram_pacer)

    await dispatcher.tick()
    await dispatcher.drain()
    x = (await rows(db_sessionmaker))[0]
    assert x.status == "pending"
    assert x.next_attempt_at == T0 + timedelta(seconds=7)
    assert [c for _, c, _ in adapter.sent] == ["6"]  # other chats are not held

    clock.advance(timedelta(seconds=6))
    assert await dispatcher.tick() == 0
    clock.advance(timedelta(seconds=1))
    await run_until_idle(dispatcher, clock)
    times = [((at - T0).total_seconds(), t) for at, c, t in adapter.sent if c == "5"]
    assert times == [(7.0, "x"), (8.0, "y")]


async def test_permanent_error_recorded_and_never_retried(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    adapter = FakeAdapter(clock)
    adapter.script["13"] = [
        PermanentSendError("Forbidden: bot was blocked by the user"),
        PermanentSendError("Forbidden: bot was blocked by the user"),
    ]
    await enqueue(db_sessionmaker, clock, "13", "one", "two")
    dispatcher, _ = make(db_sessionmaker, clock, adapter)

    await run_until_idle(dispatcher, clock)
    clock.advance(timedelta(days=1))
    assert await dispatcher.tick() == 0

    stored = await rows(db_sessionmaker)
    assert [(r.status, r.attempts, r.error) for r in stored] == [
        ("failed", 1, "Forbidden: bot was blocked by the user"),
        ("failed", 1, "Forbidden: bot was blocked by the user"),
    ]
    assert len(adapter.calls) == 2
    assert adapter.sent == []


async def test_crash_between_send_and_mark_resends_after_the_lease(
    db_sessionmaker: Sessions,
) -> None:
    """At-least-once: a send the platform accepted but we never recorded is sent again, once the
    claim expires; a send recorded as sent is never repeated."""
    clock = FixedClock(T0)
    adapter = FakeAdapter(clock)
    await enqueue(db_sessionmaker, clock, "3", "confirmed", "unconfirmed")

    first, _ = make(db_sessionmaker, clock, adapter)
    await first.tick()
    await first.drain()  # "confirmed" sent and recorded

    # Second message: claimed and sent, then the process dies before recording it.
    async with db_sessionmaker() as session, session.begin():
        claimed = await outbox_repo.claim_due(session, 10, "dead-worker", clock.now())
    assert [r.payload["text"] for r in claimed] == ["unconfirmed"]
    await adapter.send(outbox_repo.from_payload(claimed[0].payload))

    restarted, _ = make(db_sessionmaker, clock, adapter)
    assert await restarted.tick() == 0  # the dead worker's claim still holds
    clock.advance(timedelta(minutes=2, seconds=1))
    assert await restarted.tick() == 1
    await restarted.drain()

    assert [t for _, _, t in adapter.sent] == ["confirmed", "unconfirmed", "unconfirmed"]
    assert all(r.status == "sent" for r in await rows(db_sessionmaker))
    clock.advance(timedelta(hours=1))
    assert await restarted.tick() == 0


async def test_unconfigured_channel_is_kept_for_later(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    async with db_sessionmaker() as session, session.begin():
        await outbox_repo.enqueue(
            session, OutboundMessage(channel="whatsapp", chat_id="628", text="hi"), clock.now()
        )
    dispatcher, _ = make(db_sessionmaker, clock, FakeAdapter(clock))
    assert await dispatcher.tick() == 0
    (row,) = await rows(db_sessionmaker)
    # Not claimed at all: left pending, untouched, due at once for a worker that can send it.
    assert row.status == "pending"
    assert row.attempts == 0
    assert row.error is None
    assert row.next_attempt_at == clock.now()


async def test_prepare_hook_swaps_the_message(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    adapter = FakeAdapter(clock)
    await enqueue(db_sessionmaker, clock, "4", "free text")

    async def prepare(
        session: AsyncSession, message: OutboundMessage, now: datetime
    ) -> OutboundMessage:
        return OutboundMessage(channel=message.channel, chat_id=message.chat_id, text="template")

    woken: list[str] = []
    dispatcher = Dispatcher(
        db_sessionmaker,
        clock,
        {
            "telegram": ChannelSender(
                adapter=adapter, pacer=unlimited_pacer(clock), prepare=prepare, on_sent=woken.append
            )
        },
        max_attempts=3,
        sleep=FakeSleep(clock),
    )
    await dispatcher.tick()
    await dispatcher.drain()
    assert [t for _, _, t in adapter.sent] == ["template"]
    assert woken == ["4"]


async def test_run_and_stop_finish_in_flight_work(db_sessionmaker: Sessions) -> None:
    clock = FixedClock(T0)
    adapter = FakeAdapter(clock)
    await enqueue(db_sessionmaker, clock, "1", "a")
    await enqueue(db_sessionmaker, clock, "2", "b")
    dispatcher, _ = make(db_sessionmaker, clock, adapter)
    import asyncio

    task = asyncio.create_task(dispatcher.run())
    for _ in range(200):
        if len(adapter.sent) == 2:
            break
        await asyncio.sleep(0.01)
    dispatcher.stop()
    await asyncio.wait_for(task, 5)
    assert sorted(t for _, _, t in adapter.sent) == ["a", "b"]
    assert dispatcher.in_flight == 0


@pytest.mark.parametrize("count", [3])
async def test_paced_rows_are_given_back_on_stop(db_sessionmaker: Sessions, count: int) -> None:
    clock = FixedClock(T0)
    adapter = FakeAdapter(clock)
    await enqueue(db_sessionmaker, clock, "-100", *[f"g{i}" for i in range(count)])
    dispatcher, _ = make(db_sessionmaker, clock, adapter, pacer=telegram_pacer)
    await dispatcher.tick()
    await dispatcher.drain()  # g0 sent at T0; the group's chat limit now says wait 1 s
    dispatcher.stop()
    await dispatcher.tick()
    await dispatcher.drain()
    stored = await rows(db_sessionmaker)
    assert [r.status for r in stored] == ["sent", "pending", "pending"]
    assert stored[1].error == "paced"
    assert len(adapter.calls) == 1


def test_the_stored_form_of_a_message_has_every_field_and_comes_back_whole() -> None:
    message = OutboundMessage(
        channel="whatsapp",
        chat_id="628123",
        text="Halo",
        buttons=(Button("a", "A"), Button("b", "B")),
        request_location=True,
        photo="file-1",
        edit_of="99",
        template="followup",
        template_params=("x", "y"),
    )
    payload = to_payload(message)
    assert set(payload) == {field.name for field in dataclasses.fields(OutboundMessage)}
    expected = dataclasses.asdict(message)
    expected["buttons"] = [{"id": "a", "label": "A"}, {"id": "b", "label": "B"}]
    expected["template_params"] = ["x", "y"]
    assert payload == expected
    assert from_payload(payload) == message


class StarvedPacer:
    """A pacer that never lets a send go (others always take the bot's budget first)."""

    def delay(self, chat_id: str) -> float:
        return 1.0

    def take(self, chat_id: str) -> object:  # pragma: no cover - never allowed to send
        return None

    def settle(self, chat_id: str, taken: object) -> None:  # pragma: no cover
        pass

    def hold(self, seconds: float, chat_id: str | None) -> None:  # pragma: no cover
        pass


async def test_a_send_kept_waiting_for_its_pace_is_given_back_before_its_claim_ends(
    db_sessionmaker: Sessions,
) -> None:
    clock = FixedClock(T0)
    adapter = FakeAdapter(clock)
    await enqueue(db_sessionmaker, clock, "1", "a")
    sleep = FakeSleep(clock)
    dispatcher = Dispatcher(
        db_sessionmaker,
        clock,
        {"telegram": ChannelSender(adapter=adapter, pacer=cast(Any, StarvedPacer()))},
        max_attempts=3,
        sleep=sleep,
        lease=timedelta(seconds=10),
    )
    await dispatcher.tick()
    await dispatcher.drain()
    (row,) = await rows(db_sessionmaker)
    assert (row.status, row.error) == ("pending", "paced")  # given back, not left to expire
    assert sum(sleep.slept) <= 5  # half the claim, in all
    assert adapter.calls == []
