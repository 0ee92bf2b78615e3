"""Pacing with a fake clock: exact delays, never a sleep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from laporbot.clock import FixedClock
from laporbot.ratelimit import (
    SlidingWindow,
    TokenBucket,
    telegram_pacer,
    unlimited_pacer,
    whatsapp_pacer,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def send_all(pacer_delay, pacer_take, clock: FixedClock, chat: str, count: int) -> list[float]:
    """Send `count` messages as fast as the pacer allows; return their send times (seconds)."""
    times: list[float] = []
    for _ in range(count):
        wait = pacer_delay(chat)
        if wait > 0:
            clock.advance(timedelta(seconds=wait))
        assert pacer_delay(chat) == 0
        pacer_take(chat)
        times.append((clock.now() - T0).total_seconds())
    return times


def test_sliding_window_allows_limit_then_waits_for_the_oldest() -> None:
    window = SlidingWindow(3, 10.0)
    for at in (0.0, 1.0, 2.0):
        assert window.delay(at) == 0
        window.take(at)
    assert window.delay(2.0) == pytest.approx(8.0)
    assert window.delay(9.5) == pytest.approx(0.5)
    assert window.delay(10.0) == 0
    window.take(10.0)
    assert window.delay(10.0) == pytest.approx(1.0)  # the send at 1.0 leaves at 11.0


def test_token_bucket_burst_then_steady_rate() -> None:
    bucket = TokenBucket(rate=0.5, burst=2)
    bucket.take(0.0)
    bucket.take(0.0)
    assert bucket.delay(0.0) == pytest.approx(2.0)
    assert bucket.delay(1.0) == pytest.approx(1.0)
    assert bucket.delay(2.0) == 0
    bucket.take(2.0)
    assert bucket.delay(2.0) == pytest.approx(2.0)
    assert not bucket.idle(2.0)
    assert bucket.idle(6.0)


@pytest.mark.parametrize(
    "make", [lambda: SlidingWindow(0, 1.0), lambda: TokenBucket(0, 1), lambda: TokenBucket(1, 0)]
)
def test_limits_refuse_nonsense(make) -> None:
    with pytest.raises(ValueError, match="needs"):
        make()


def test_telegram_private_chat_one_per_second() -> None:
    clock = FixedClock(T0)
    pacer = telegram_pacer(clock)
    times = send_all(pacer.delay, pacer.take, clock, "1001", 4)
    assert times == [0.0, 1.0, 2.0, 3.0]


def test_telegram_group_twenty_per_minute_in_any_window() -> None:
    clock = FixedClock(T0)
    pacer = telegram_pacer(clock)
    times = send_all(pacer.delay, pacer.take, clock, "-100200", 25)
    # one per second for the first 20, then the 21st waits until the first leaves the window
    assert times[:20] == [float(i) for i in range(20)]
    assert times[20:] == [60.0, 61.0, 62.0, 63.0, 64.0]
    for i in range(len(times)):
        in_window = [t for t in times if times[i] <= t < times[i] + 60]
        assert len(in_window) <= 20


def test_telegram_bot_wide_thirty_per_second() -> None:
    clock = FixedClock(T0)
    pacer = telegram_pacer(clock)
    for i in range(30):
        assert pacer.delay(str(i)) == 0
        pacer.take(str(i))
    assert pacer.bot_delay() == pytest.approx(1.0)
    assert pacer.delay("999") == pytest.approx(1.0)
    clock.advance(timedelta(seconds=1))
    assert pacer.delay("999") == 0


def test_hold_delays_one_chat_or_the_whole_bot() -> None:
    clock = FixedClock(T0)
    pacer = telegram_pacer(clock)
    pacer.hold(7, chat_id="42")
    assert pacer.delay("42") == pytest.approx(7.0)
    assert pacer.delay("43") == 0
    pacer.hold(3)
    assert pacer.delay("43") == pytest.approx(3.0)
    assert pacer.bot_delay() == pytest.approx(3.0)
    clock.advance(timedelta(seconds=5))
    assert pacer.delay("43") == 0
    assert pacer.delay("42") == pytest.approx(2.0)


def test_whatsapp_number_throughput_and_user_pace() -> None:
    clock = FixedClock(T0)
    pacer = whatsapp_pacer(clock, messages_per_second=2, user_per_second=1 / 6, user_burst=2)
    # per user: a burst of 2, then one every 6 seconds
    assert send_all(pacer.delay, pacer.take, clock, "6281", 4) == [0.0, 0.0, 6.0, 12.0]
    # per number: 2 per second whatever the users
    clock.set(T0 + timedelta(seconds=100))
    pacer.take("a")
    pacer.take("b")
    assert pacer.delay("c") == pytest.approx(1.0)


def test_whatsapp_below_one_per_second() -> None:
    clock = FixedClock(T0)
    pacer = whatsapp_pacer(clock, messages_per_second=0.5)
    pacer.take("a")
    assert pacer.bot_delay() == pytest.approx(2.0)


def test_idle_chats_are_forgotten() -> None:
    clock = FixedClock(T0)
    pacer = telegram_pacer(clock)
    for i in range(999):
        pacer.take(str(i))
        clock.advance(timedelta(seconds=0.04))
    assert pacer.tracked_chats() == 999
    clock.advance(timedelta(seconds=5))
    pacer.take("last")  # the 1000th take sweeps idle chats
    assert pacer.tracked_chats() == 1


def test_unlimited_pacer_never_waits() -> None:
    clock = FixedClock(T0)
    pacer = unlimited_pacer(clock)
    for _ in range(100):
        pacer.take("x")
    assert pacer.delay("x") == 0


def test_a_settled_send_counts_from_its_answer() -> None:
    window = SlidingWindow(2, 1.0)
    window.take(0.0)
    window.take(0.1)
    window.settle(0.0, 0.5)  # the first send's answer came at 0.5: it now counts from there
    window.settle(0.1, 0.3)
    assert window.delay(1.0) == pytest.approx(0.3)  # the send answered at 0.3 leaves first
    assert window.delay(1.3) == 0
    window.take(1.3)
    assert window.delay(1.3) == pytest.approx(0.2)  # then the one answered at 0.5
    window.settle(7.0, 7.5)  # a send the window already forgot counts from its answer
    window.take(7.6)
    assert window.delay(7.6) == pytest.approx(0.9)


def test_pacer_counts_bot_and_chat_sends_from_their_answers() -> None:
    clock = FixedClock(T0)
    pacer = telegram_pacer(clock)
    taken = [pacer.take(str(i)) for i in range(30)]
    clock.advance(timedelta(seconds=0.05))  # the answers: 50 ms later
    for i, at in enumerate(taken):
        pacer.settle(str(i), at)
    clock.advance(timedelta(seconds=0.95))
    assert pacer.delay("999") == pytest.approx(0.05)  # bot-wide: 1 s after the answers
    assert pacer.delay("0") == pytest.approx(0.05)  # the chat too
    clock.advance(timedelta(seconds=0.05))
    assert pacer.delay("0") == 0


def test_token_bucket_settle_changes_nothing() -> None:
    bucket = TokenBucket(rate=1.0, burst=1)
    bucket.take(0.0)
    bucket.settle(0.0, 0.5)
    assert bucket.delay(0.5) == pytest.approx(0.5)
