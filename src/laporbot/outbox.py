"""The outbox dispatcher: sends queued messages per channel, in order per chat, within limits.

One loop claims due rows (only the head of each chat's queue, see `laporbot.db.outbox`) and
starts one task per claimed row. A task waits until the channel's pacer allows its chat, sends
through the channel's adapter, and records the outcome in its own short transaction:

- sent: the platform's message ids are kept (an officer group message is edited later);
- `RetryAfter`: the chat (or the whole bot) is held for the platform's `seconds` and the row
  is due again then; these waits do not count against `max_attempts` the way errors do;
- `TransientSendError` (network, 5xx) or any unexpected exception: exponential backoff with
  jitter (random injected), given up after `max_attempts` with the last reason recorded;
- `PermanentSendError` (blocked by the user, chat not found): failed at once, reason recorded,
  never retried, and the chat's later messages go on; except that a sender's `fallback` may
  offer one replacement to send instead (WhatsApp outside the 24-hour window: the follow-up
  template), recorded on the sent row.

A message that takes several platform calls (a Telegram text over 4096 characters, a WhatsApp
body too long for buttons, more than 10 options) is sent as the parts of the adapter's
`split_outbound`, one call each; the ids of the parts already delivered are committed on the
row after each part, so a retry (after a failure, a pace wait or a crash) starts at the first
part not yet delivered instead of repeating the others.

Delivery is at-least-once with a small window, stated honestly: the row is marked `sending`
(commit), then sent, then marked `sent` (commit). A process killed after the platform accepted a
message but before the `sent` commit leaves the row `sending`; when its claim (lease) expires,
another dispatcher sends it again. A message confirmed `sent` is never sent again. The window is
the time between the platform's answer and our commit: milliseconds in normal operation.

No transaction is held open across a network call: on SQLite every transaction takes the write
lock, and a send may take seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.base import (
    ChannelAdapter,
    PermanentSendError,
    RetryAfter,
    SendResult,
    TransientSendError,
)
from laporbot.clock import Clock
from laporbot.db import outbox as outbox_repo
from laporbot.db.models import OutboxMessage
from laporbot.messages import OutboundMessage
from laporbot.ratelimit import ChannelPacer

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=2)
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_CAP_SECONDS = 600.0
# RetryAfter is the platform pacing us, not a failure; still, a chat that is refused forever
# must end somewhere.
RETRY_AFTER_ATTEMPTS_FACTOR = 4
UNCONFIGURED_RETRY = timedelta(minutes=10)

Prepare = Callable[[AsyncSession, OutboundMessage, datetime], Awaitable[OutboundMessage]]
Split = Callable[[OutboundMessage], list[OutboundMessage]]
Fallback = Callable[[OutboundMessage, PermanentSendError], OutboundMessage | None]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class ChannelSender:
    """How one channel sends: its adapter, its pacer, and optional hooks.

    `prepare` runs in the claim transaction and may swap the message (WhatsApp: a template
    outside the 24-hour window). `split` cuts a message into parts of one platform call each
    (default: the adapter's `split_outbound` when it has one). `fallback(part, error)` may
    answer a permanent failure with one replacement to send instead (WhatsApp's 131047: the
    follow-up template). `on_sent(chat_id)` runs after the `sent` commit (web chat: wake the
    page's long poll).
    """

    adapter: ChannelAdapter
    pacer: ChannelPacer
    prepare: Prepare | None = None
    on_sent: Callable[[str], None] | None = None
    hold_whole_bot: bool = False  # True: a RetryAfter holds every chat, not only its own
    split: Split | None = None
    fallback: Fallback | None = None

    def __post_init__(self) -> None:
        if self.split is None:
            split = getattr(self.adapter, "split_outbound", None)
            if callable(split):
                self.split = split


def backoff_seconds(attempt: int, rand: Callable[[], float]) -> float:
    """Delay before retry number `attempt` (1 = first retry): exponential, capped, half jitter.

    Half of the delay is fixed so retries never bunch at zero; the other half is random so many
    chats failing together (a platform outage) do not retry in lockstep.
    """
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * float(2 ** max(0, attempt - 1)))
    return ceiling / 2 + rand() * ceiling / 2


@dataclass
class _Claimed:
    row_id: int
    channel: str
    chat_id: str
    attempts: int
    parts: list[OutboundMessage]  # the parts not yet delivered, in order
    delivered: list[str]  # platform ids of the parts delivered by earlier attempts


class Dispatcher:
    """Sends due outbox rows through the channels' adapters; see the module docstring."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        senders: Mapping[str, ChannelSender],
        *,
        max_attempts: int,
        worker: str | None = None,
        rand: Callable[[], float] = random.random,
        sleep: Sleep | None = None,
        lease: timedelta = DEFAULT_LEASE,
        batch: int = 50,
        max_in_flight: int = 200,
        poll_interval: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._senders = dict(senders)
        self._max_attempts = max_attempts
        self.worker = worker or f"outbox-{uuid.uuid4().hex[:12]}"
        self._rand = rand
        self._sleep = sleep or self._sleep_unless_stopping
        self._lease = lease
        self._batch = batch
        self._max_in_flight = max_in_flight
        self._poll_interval = poll_interval
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    # -- public surface ---------------------------------------------------------------------

    def wake(self) -> None:
        """Something was queued or a chat was freed: look for due rows now."""
        self._wake.set()

    def add_sender(self, channel: str, sender: ChannelSender) -> None:
        """Start sending `channel`, one that came up after the dispatcher did (Telegram once
        its Bot API answers). Until then its rows waited unclaimed, their attempts untouched."""
        self._senders[channel] = sender
        self.wake()

    async def tick(self) -> int:
        """Claim what is due now (within the in-flight bound) and start sending it.

        Returns how many rows were claimed. Tests call this with a fixed clock, then `drain`.
        """
        room = self._max_in_flight - len(self._tasks)
        if room <= 0:
            return 0
        claimed = await self._claim(min(room, self._batch))
        for item in claimed:
            task = asyncio.create_task(self._deliver(item), name=f"outbox-{item.row_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(claimed)

    async def drain(self) -> None:
        """Wait until every started send has finished and been recorded."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    @property
    def in_flight(self) -> int:
        """Rows claimed and not yet recorded."""
        return len(self._tasks)

    async def run(self) -> None:
        """Dispatch until `stop()`; then let in-flight sends finish."""
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("outbox claim failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)
        await self.drain()

    def stop(self) -> None:
        """Ask `run` to stop claiming; it returns once in-flight sends are recorded."""
        self._stopping.set()
        self._wake.set()

    # -- internals --------------------------------------------------------------------------

    async def _sleep_unless_stopping(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _claim(self, limit: int) -> list[_Claimed]:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            # Only the channels this process can send: rows of another channel stay pending,
            # unclaimed, instead of being claimed and put back over and over.
            rows = await outbox_repo.claim_due(
                session, limit, self.worker, now, self._lease, channels=self._senders.keys()
            )
            claimed: list[_Claimed] = []
            for row in rows:
                item = await self._prepare(session, row, now)
                if item is not None:
                    claimed.append(item)
        return claimed

    async def _prepare(
        self, session: AsyncSession, row: OutboxMessage, now: datetime
    ) -> _Claimed | None:
        sender = self._senders.get(row.channel)
        if sender is None:
            # Not configured in this process (e.g. no Telegram token): keep it for later.
            await outbox_repo.mark_retry(
                session, row.id, now + UNCONFIGURED_RETRY, f"channel {row.channel} not configured"
            )
            return None
        delivered = list(row.platform_message_ids or ())
        try:
            message = outbox_repo.from_payload(row.payload)
            if not delivered:
                # Nothing delivered yet: prepare the whole message (one template, not one per
                # part), then cut it.
                if sender.prepare is not None:
                    message = await sender.prepare(session, message, now)
                parts = sender.split(message) if sender.split is not None else [message]
            else:
                # Resuming: the same cut as before (it is a pure function of the stored
                # message), minus the parts already delivered, each prepared anew.
                cut = sender.split(message) if sender.split is not None else [message]
                parts = []
                for part in cut[len(delivered) :]:
                    if sender.prepare is not None:
                        part = await sender.prepare(session, part, now)
                    parts.append(part)
        except Exception as exc:
            await outbox_repo.mark_failed(session, row.id, f"cannot build message: {exc!r}")
            return None
        return _Claimed(row.id, row.channel, row.chat_id, row.attempts, parts, delivered)

    async def _deliver(self, item: _Claimed) -> None:
        try:
            await self._deliver_one(item)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Recording the outcome failed (database gone?): the row stays `sending` and is
            # taken up again when its lease expires.
            log.exception("outbox %s: could not record the outcome", item.row_id)

    async def _deliver_one(self, item: _Claimed) -> None:
        sender = self._senders[item.channel]
        ids = list(item.delivered)
        notes: list[str] = []
        try:
            for index, part in enumerate(item.parts):
                if index > 0:
                    # Commit the delivered parts (and renew the claim) before the next call,
                    # so a retry or a crash from here on never repeats them.
                    await self._record(self._progress_writer(item.row_id, list(ids)))
                wait = await self._wait_for_pace(sender.pacer, item)
                if wait is not None:
                    # Stopping, or the pace wait would outlast the claim: give the row back.
                    await self._record(self._retry_writer(item.row_id, wait, "paced"))
                    return
                taken = sender.pacer.take(item.chat_id)
                try:
                    result = await self._send_part(sender, item, part, notes)
                finally:
                    sender.pacer.settle(item.chat_id, taken)  # counted from the answer
                ids.extend(result.platform_message_ids)
        except RetryAfter as exc:
            sender.pacer.hold(exc.seconds, None if sender.hold_whole_bot else item.chat_id)
            await self._after_retry_after(item, exc)
            return
        except PermanentSendError as exc:
            reason = exc.reason
            await self._record(lambda s, now: outbox_repo.mark_failed(s, item.row_id, reason))
            log.info("outbox %s to %s given up: %s", item.row_id, item.channel, reason)
            self.wake()
            return
        except TransientSendError as exc:
            await self._after_error(item, exc.reason)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("outbox %s: unexpected error while sending", item.row_id)
            await self._after_error(item, f"unexpected: {exc!r}")
            return
        await self._after_sent(sender, item, ids, "; ".join(notes) or None)

    def _progress_writer(
        self, row_id: int, ids: list[str]
    ) -> Callable[[AsyncSession, datetime], Awaitable[None]]:
        async def write(session: AsyncSession, now: datetime) -> None:
            await outbox_repo.mark_progress(session, row_id, ids, now + self._lease)

        return write

    @staticmethod
    def _retry_writer(
        row_id: int, seconds: float, reason: str
    ) -> Callable[[AsyncSession, datetime], Awaitable[None]]:
        async def write(session: AsyncSession, now: datetime) -> None:
            await outbox_repo.mark_retry(session, row_id, now + timedelta(seconds=seconds), reason)

        return write

    async def _send_part(
        self, sender: ChannelSender, item: _Claimed, part: OutboundMessage, notes: list[str]
    ) -> SendResult:
        """Send one part; on a permanent failure the sender's fallback, once, if it has one."""
        try:
            return await sender.adapter.send(part)
        except PermanentSendError as exc:
            replacement = sender.fallback(part, exc) if sender.fallback is not None else None
            if replacement is None:
                raise
            log.info("outbox %s: %s; sending its fallback once", item.row_id, exc.reason)
            result = await sender.adapter.send(replacement)
            what = replacement.template or "a replacement"
            notes.append(f"sent as {what} after: {exc.reason}")
            return result

    async def _wait_for_pace(self, pacer: ChannelPacer, item: _Claimed) -> float | None:
        """Wait until the pacer lets this chat send; None when it may send now, else the delay
        after which the row should be tried again (stopping, or waiting on would outlast half
        the claim). The waits add up: a send that keeps losing the bot's budget to others
        must not wait past its claim, or the row is claimed again and sent twice."""
        longest = self._lease.total_seconds() / 2
        waited = 0.0
        while (delay := pacer.delay(item.chat_id)) > 0:
            if self._stopping.is_set() or waited + delay > longest:
                return delay
            await self._sleep(delay)
            waited += delay
        return None

    async def _after_sent(
        self, sender: ChannelSender, item: _Claimed, ids: list[str], note: str | None
    ) -> None:
        await self._record(
            lambda s, now: outbox_repo.mark_sent(s, item.row_id, now, ids, note=note)
        )
        if sender.on_sent is not None:
            sender.on_sent(item.chat_id)
        self.wake()  # the chat's next message can be claimed now

    async def _after_retry_after(self, item: _Claimed, exc: RetryAfter) -> None:
        if item.attempts >= self._max_attempts * RETRY_AFTER_ATTEMPTS_FACTOR:
            reason = f"gave up after {item.attempts} attempts: {exc.reason}"
            await self._record(lambda s, now: outbox_repo.mark_failed(s, item.row_id, reason))
            self.wake()
            return
        wait = timedelta(seconds=max(0.0, exc.seconds))
        await self._record(
            lambda s, now: outbox_repo.mark_retry(s, item.row_id, now + wait, exc.reason)
        )

    async def _after_error(self, item: _Claimed, reason: str) -> None:
        if item.attempts >= self._max_attempts:
            final = f"gave up after {item.attempts} attempts: {reason}"
            await self._record(lambda s, now: outbox_repo.mark_failed(s, item.row_id, final))
            self.wake()
            return
        wait = timedelta(seconds=backoff_seconds(item.attempts, self._rand))
        await self._record(
            lambda s, now: outbox_repo.mark_retry(s, item.row_id, now + wait, reason)
        )

    async def _record(self, write: Callable[[AsyncSession, datetime], Awaitable[None]]) -> None:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            await write(session, now)
