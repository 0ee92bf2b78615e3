"""Pacing for the outbox dispatcher, so the platforms' limits are kept before a 429 happens.

Every limit is a small object answering two questions at a time `now` taken from an injected
`Clock`: how long until one more message may go (`delay`), and "one went" (`take`). Nothing here
sleeps; the dispatcher decides what to do with a delay, and tests step a `FixedClock`.

Two shapes are used, because the platforms word their limits differently:

- `SlidingWindow(limit, window)`: at most `limit` messages in ANY span of `window` seconds. This
  is what Telegram's "20 messages per minute to the same group" means; a token bucket with a burst
  of 20 would let 40 through in the first minute and earn a 429.
- `TokenBucket(rate, burst)`: a steady `rate` per second with room for `burst` at once. This is
  WhatsApp's per-user pace (Meta: about one message every 6 seconds to one user, short bursts
  allowed, paid back afterwards).

`ChannelPacer` combines a bot-wide (or number-wide) limit with per-chat limits, and keeps the
`RetryAfter` penalties the platform hands out.

A send is counted when it starts (`take`, so concurrent sends cannot overshoot) and counted
again from the moment its answer came back (`settle`). The platform counts a request when it
arrives, somewhere between the two; requests sent concurrently may arrive in another order than
they left, so a window counted from the start times lets the platform see 31 requests in one
second now and then (measured: a quarter of the sends answered 429 against a strict limit).
Counted from the answers, the next send always leaves after the platform counted the earlier
one; the price is the request's latency per window (on loopback about 1%).
"""

from __future__ import annotations

import bisect
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from laporbot.clock import Clock

# Telegram Bot API FAQ ("My bot is hitting limits, how do I avoid this?").
TELEGRAM_BOT_PER_SECOND = 30
TELEGRAM_CHAT_PER_SECOND = 1
TELEGRAM_GROUP_PER_MINUTE = 20

# WhatsApp Cloud API "pair rate limit": 1 message per 6 seconds to one user, bursts up to 45.
WHATSAPP_USER_PER_SECOND = 1 / 6
WHATSAPP_USER_BURST = 45


class Limit(Protocol):
    """One rate limit on one key: ask how long to wait, record a send."""

    def delay(self, now: float) -> float:
        """Seconds from `now` until one more message is allowed (0 when allowed now)."""
        ...

    def take(self, now: float) -> None:
        """Record that one message went at `now`."""
        ...

    def idle(self, now: float) -> bool:
        """True when this limit has forgotten every past send (safe to drop from memory)."""
        ...

    def settle(self, taken_at: float, now: float) -> None:
        """The send recorded by `take(taken_at)` was answered at `now`."""
        ...


class SlidingWindow:
    """At most `limit` messages in any `window` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a sliding window needs limit >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._sent: deque[float] = deque()

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()

    def delay(self, now: float) -> float:
        self._forget(now)
        if len(self._sent) < self.limit:
            return 0.0
        return max(0.0, self._sent[0] + self.window - now)

    def take(self, now: float) -> None:
        self._forget(now)
        self._sent.append(now)

    def idle(self, now: float) -> bool:
        self._forget(now)
        return not self._sent

    def settle(self, taken_at: float, now: float) -> None:
        """Count the send taken at `taken_at` from `now` instead (see the module docstring)."""
        with contextlib.suppress(ValueError):  # already forgotten: a send slower than the window
            self._sent.remove(taken_at)
        bisect.insort(self._sent, now)
        self._forget(now)


class TokenBucket:
    """A steady `rate` per second with room for `burst` messages at once."""

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._at: float | None = None

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        if self._at is None or now > self._at:
            self._at = now

    def delay(self, now: float) -> float:
        self._refill(now)
        if self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        # May go below zero if a caller sends without waiting; later delays pay it back.
        self._tokens -= 1

    def idle(self, now: float) -> bool:
        self._refill(now)
        return self._tokens >= self.burst

    def settle(self, taken_at: float, now: float) -> None:
        """A bucket counts tokens, not moments: nothing to move."""


class KeyedLimiter:
    """One token bucket per key (a web chat client, an address): `per_minute` on average, up
    to `burst` at once. Buckets full again are forgotten, so memory follows the active keys."""

    def __init__(self, per_minute: float, burst: float) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self._buckets: dict[str, TokenBucket] = {}
        self._checked = 0

    def wait(self, key: str, now: float) -> float:
        """Seconds before `key` may send one more message (0: now)."""
        bucket = self._buckets.get(key)
        return bucket.delay(now) if bucket is not None else 0.0

    def take(self, key: str, now: float) -> None:
        """One message of `key` went."""
        self._checked += 1
        if self._checked % 1024 == 0:
            self._buckets = {k: b for k, b in self._buckets.items() if not b.idle(now)}
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.per_minute / 60, self.burst)
        bucket.take(now)

    def __len__(self) -> int:
        return len(self._buckets)


LimitFactory = Callable[[str], Sequence[Limit]]


@dataclass
class _Penalty:
    until: float


class ChannelPacer:
    """The limits of one channel: bot-wide limits plus per-chat limits made on first use.

    `chat_limits(chat_id)` builds the limits for a chat the first time it is seen; idle chats are
    dropped again so memory follows the active chats only.
    """

    def __init__(
        self,
        clock: Clock,
        bot_limits: Sequence[Limit],
        chat_limits: LimitFactory,
    ) -> None:
        self._clock = clock
        self._bot = list(bot_limits)
        self._chat_limits = chat_limits
        self._chats: dict[str, Sequence[Limit]] = {}
        self._bot_penalty = _Penalty(until=0.0)
        self._chat_penalties: dict[str, _Penalty] = {}
        self._takes = 0

    def _now(self) -> float:
        return _seconds(self._clock.now())

    def _limits_of(self, chat_id: str) -> Sequence[Limit]:
        limits = self._chats.get(chat_id)
        if limits is None:
            limits = self._chats[chat_id] = self._chat_limits(chat_id)
        return limits

    def bot_delay(self) -> float:
        """Seconds until the channel as a whole may send again."""
        now = self._now()
        waits = [limit.delay(now) for limit in self._bot]
        waits.append(self._bot_penalty.until - now)
        return max(0.0, *waits)

    def delay(self, chat_id: str) -> float:
        """Seconds until one more message may go to `chat_id` (bot-wide limits included)."""
        now = self._now()
        waits = [limit.delay(now) for limit in self._bot]
        waits.extend(limit.delay(now) for limit in self._limits_of(chat_id))
        waits.append(self._bot_penalty.until - now)
        penalty = self._chat_penalties.get(chat_id)
        if penalty is not None:
            waits.append(penalty.until - now)
        return max(0.0, *waits)

    def take(self, chat_id: str) -> float:
        """Record one message to `chat_id` starting now; returns the moment for `settle`."""
        now = self._now()
        for limit in self._bot:
            limit.take(now)
        for limit in self._limits_of(chat_id):
            limit.take(now)
        self._takes += 1
        if self._takes % 1000 == 0:
            self._drop_idle(now)
        return now

    def settle(self, chat_id: str, taken_at: float) -> None:
        """The send `take` returned `taken_at` for was answered (or failed) now: count it from
        now, the latest moment the platform can have counted it."""
        now = self._now()
        for limit in self._bot:
            limit.settle(taken_at, now)
        for limit in self._limits_of(chat_id):
            limit.settle(taken_at, now)

    def hold(self, seconds: float, chat_id: str | None = None) -> None:
        """The platform said wait (`RetryAfter`): hold `chat_id`, or the whole bot if None."""
        until = self._now() + max(0.0, seconds)
        if chat_id is None:
            self._bot_penalty.until = max(self._bot_penalty.until, until)
            return
        penalty = self._chat_penalties.setdefault(chat_id, _Penalty(until=0.0))
        penalty.until = max(penalty.until, until)

    def _drop_idle(self, now: float) -> None:
        for chat_id in [c for c, limits in self._chats.items() if all(x.idle(now) for x in limits)]:
            del self._chats[chat_id]
        for chat_id in [c for c, p in self._chat_penalties.items() if p.until <= now]:
            del self._chat_penalties[chat_id]

    def tracked_chats(self) -> int:
        """How many chats have limits in memory (for tests and metrics)."""
        return len(self._chats)


def _seconds(at: datetime) -> float:
    return at.timestamp()


def is_telegram_group(chat_id: str) -> bool:
    """Telegram groups, supergroups and channels have negative chat ids."""
    return chat_id.startswith("-")


def telegram_pacer(clock: Clock) -> ChannelPacer:
    """Telegram: 30 messages/s per bot, 1/s per chat, and 20 per minute per group."""

    def chat_limits(chat_id: str) -> Sequence[Limit]:
        limits: list[Limit] = [SlidingWindow(TELEGRAM_CHAT_PER_SECOND, 1.0)]
        if is_telegram_group(chat_id):
            limits.append(SlidingWindow(TELEGRAM_GROUP_PER_MINUTE, 60.0))
        return limits

    return ChannelPacer(clock, [SlidingWindow(TELEGRAM_BOT_PER_SECOND, 1.0)], chat_limits)


def whatsapp_pacer(
    clock: Clock,
    messages_per_second: float,
    user_per_second: float = WHATSAPP_USER_PER_SECOND,
    user_burst: float = WHATSAPP_USER_BURST,
) -> ChannelPacer:
    """WhatsApp: the number's throughput (`messages_per_second`) and the per-user pace."""
    if messages_per_second <= 0:
        raise ValueError("whatsapp_messages_per_second must be > 0")
    number = (
        SlidingWindow(int(messages_per_second), 1.0)
        if messages_per_second >= 1
        else SlidingWindow(1, 1 / messages_per_second)
    )
    return ChannelPacer(
        clock,
        [number],
        lambda _chat: [TokenBucket(user_per_second, user_burst)],
    )


def unlimited_pacer(clock: Clock) -> ChannelPacer:
    """Channels we deliver to ourselves (web chat, terminal) need no pacing."""
    return ChannelPacer(clock, [], lambda _chat: [])
