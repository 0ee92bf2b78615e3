"""The inbox: every inbound update is stored before it is acknowledged, then processed once.

`InboxProcessor.accept` stores the updates of one delivery in one transaction and commits; only
then does a webhook answer 200 (or the poller move its offset). A redelivery of an update already
stored inserts nothing (unique channel + platform id).

Processing takes one update at a time: claim it (a short transaction that counts an attempt and
sets a lease), then in ONE transaction translate it with its channel's adapter, run every
resulting message through the intake entry point (which writes the conversation state, any case
opened and the outbound messages), and mark it done. So either all of an update's effects are
stored, or none and the update is still there to try again.

Failures never block the rest:
- an update the adapter cannot read (`BadRequest`) is a poison update: marked `failed` with the
  error at once, never retried;
- an update type laporbot does not use translates to nothing and is marked `ignored`;
- any other error rolls the transaction back and the update is tried again after a backoff (the
  lease is pushed out), until `max_attempts`, then marked `failed` with the last error.

A process killed at any point loses nothing: an update claimed by a dead process is taken up
again when its lease expires (`lease`, one minute by default), and the intake's outbox rows carry
a dedup key per inbound message, so a replay queues no reply twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol, cast

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.base import RawUpdate
from laporbot.clock import Clock
from laporbot.db import inbox as inbox_repo
from laporbot.db.models import InboxItem
from laporbot.errors import BadRequest
from laporbot.messages import Channel, InboundMessage

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=1)
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BATCH = 20
RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 300.0
UNCONFIGURED_RETRY = timedelta(minutes=10)
MAX_ERROR_CHARS = 2000

InboundHandler = Callable[[AsyncSession, InboundMessage, datetime], Awaitable[object]]


class Translator(Protocol):
    """The part of a channel adapter the inbox needs."""

    def translate(self, update: RawUpdate) -> list[InboundMessage]: ...


def _short(error: BaseException | str) -> str:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return text[:MAX_ERROR_CHARS]


class InboxProcessor:
    """Stores inbound updates and processes them through `handle` (the intake entry point).

    `on_processed()` runs after each committed update (the service wakes the outbox dispatcher
    with it, since processing usually queued replies).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        adapters: Mapping[str, Translator],
        handle: InboundHandler,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        lease: timedelta = DEFAULT_LEASE,
        worker: str | None = None,
        on_processed: Callable[[], None] | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._adapters = dict(adapters)
        self._handle = handle
        self._max_attempts = max_attempts
        self._lease = lease
        self.worker = worker or f"inbox-{uuid.uuid4().hex[:12]}"
        self._on_processed = on_processed
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def add_adapter(self, channel: str, adapter: Translator) -> None:
        """Register the translator of a channel started after this processor."""
        self._adapters[channel] = adapter

    async def accept(self, updates: Sequence[RawUpdate]) -> list[bool]:
        """Store `updates` in one transaction and commit; True for each one new, False for a
        redelivery. Returns only after the commit, so the caller may acknowledge then."""
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            fresh = [await inbox_repo.accept(session, item, now) for item in updates]
        if any(fresh):
            self.wake()
        return fresh

    def wake(self) -> None:
        """Something was accepted: process now."""
        self._wake.set()

    async def process_one(self) -> bool:
        """Claim and process the oldest pending update; False when there was none."""
        return await self.process_batch(1) > 0

    async def process_batch(self, limit: int = DEFAULT_BATCH) -> int:
        """Claim up to `limit` pending updates in one transaction and process each in its own;
        returns how many were claimed.

        Order within a chat holds: once an update of a chat fails, that chat's later updates
        in the batch are given back (without counting an attempt) to follow it.
        """
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            claimed = await inbox_repo.claim_pending(session, limit, self.worker, now, self._lease)
        held: dict[tuple[str, str], datetime | None] = {}
        for item in claimed:
            if self._stopping.is_set() and item is not claimed[0]:
                # Stopping: give the rest back at once for the next process.
                await self._give_back(item.id, None)
                continue
            await self._process(item, held)
        return len(claimed)

    async def _process(self, item: InboxItem, held: dict[tuple[str, str], datetime | None]) -> None:
        channel = cast(Channel, item.channel)
        raw = RawUpdate(channel=channel, platform_id=item.platform_id, payload=item.payload)
        adapter = self._adapters.get(item.channel)
        if adapter is None:
            later = self._clock.now() + UNCONFIGURED_RETRY
            await self._retry_or_fail(item, f"channel {item.channel} not configured", later)
            return
        try:
            messages = adapter.translate(raw)
        except BadRequest as exc:
            reason = _short(exc)
            await self._finish(lambda s, at: inbox_repo.mark_failed(s, item.id, at, reason))
            log.warning("inbox %s (%s) is unreadable: %s", item.id, item.channel, reason)
            return
        except Exception as exc:
            log.exception("inbox %s: translating failed", item.id)
            await self._retry_or_fail(item, _short(exc), None)
            return
        if not messages:
            await self._finish(
                lambda s, at: inbox_repo.mark_ignored(s, item.id, at, "no message for laporbot")
            )
            return
        chats = {(m.channel, m.chat_id) for m in messages}
        if chats & held.keys():
            # Due again together with the failed earlier one, which sorts first (by id).
            times = [at for c in chats if (at := held.get(c)) is not None]
            until = max(times, default=None)
            await self._give_back(item.id, "waiting for an earlier update of this chat", until)
            return
        try:
            now = self._clock.now()
            async with self._sessions() as session, session.begin():
                for message in messages:
                    await self._handle(session, message, now)
                await inbox_repo.mark_done(session, item.id, now)
        except Exception as exc:
            log.exception("inbox %s: processing failed (attempt %s)", item.id, item.attempts)
            retry_at = await self._retry_or_fail(item, _short(exc), None)
            for chat in chats:
                held[chat] = retry_at
            return
        if self._on_processed is not None:
            self._on_processed()

    async def process_pending(self, limit: int = 1000) -> int:
        """Process pending updates until none is left (or about `limit`); returns how many
        were claimed."""
        done = 0
        while done < limit:
            claimed = await self.process_batch(min(DEFAULT_BATCH, limit - done))
            if not claimed:
                break
            done += claimed
        return done

    async def run(self) -> None:
        """Process until `stop()`; the update in hand is finished before returning."""
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                while not self._stopping.is_set() and await self.process_batch():
                    pass
            except Exception:
                log.exception("inbox claim failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    def stop(self) -> None:
        """Ask `run` to return after the update in hand."""
        self._stopping.set()
        self._wake.set()

    async def _finish(self, write: Callable[[AsyncSession, datetime], Awaitable[None]]) -> None:
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            await write(session, now)

    async def _give_back(
        self, item_id: int, reason: str | None, until: datetime | None = None
    ) -> None:
        """Return a claimed, untried update to the queue (claimable after `until`)."""
        await self._finish(lambda s, _at: _defer(s, item_id, until, reason, refund=True))

    async def _retry_or_fail(
        self, item: InboxItem, error: str, at: datetime | None
    ) -> datetime | None:
        """Try again later (returns when), or mark failed after `max_attempts` (None)."""
        if item.attempts >= self._max_attempts:
            final = f"gave up after {item.attempts} attempts: {error}"
            await self._finish(lambda s, now: inbox_repo.mark_failed(s, item.id, now, final))
            return None
        if at is None:
            delay = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * float(2 ** (item.attempts - 1)))
            at = self._clock.now() + timedelta(seconds=delay)
        retry_at = at
        await self._finish(lambda s, _now: _defer(s, item.id, retry_at, error))
        return retry_at


async def _defer(
    session: AsyncSession,
    item_id: int,
    until: datetime | None,
    error: str | None,
    *,
    refund: bool = False,
) -> None:
    """Give the update back, claimable again only after `until` (the expired-lease rule of
    `claim_pending` doubles as a retry time). `refund` takes back the attempt its claim
    counted: it was never tried."""
    values: dict[str, object] = {"claimed_by": None, "claimed_until": until}
    if error is not None:
        values["error"] = error
    if refund:
        values["attempts"] = InboxItem.attempts - 1
    await session.execute(update(InboxItem).where(InboxItem.id == item_id).values(**values))
