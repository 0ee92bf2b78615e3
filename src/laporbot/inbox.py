"""The inbox: every inbound update is stored before it is acknowledged, then processed once.

`InboxProcessor.accept` stores the updates of one delivery and commits; only then does a
webhook answer 200 (or the poller move its offset). Deliveries that arrive while a commit is
under way are stored together in the next one (group commit: one transaction, one sync, for
many webhooks). A redelivery of an update already stored inserts nothing (unique channel +
platform id).

Processing takes a batch: claim it (a short transaction that counts an attempt and sets a
lease), then in ONE transaction translate each update with its channel's adapter, hand the
batch's one-message updates to `handle_batch` together (the intake's batch path: one statement
per kind for the whole batch, in a savepoint), run every message it leaves through the intake
entry point `handle` inside a savepoint of its own, and mark the batch done. So either all of an
update's effects are stored, or none and the update is still there to try again; one update
that fails is rolled back to its savepoint and the others are committed.

With `process_on_accept` (as `laporbot serve` runs it) the group commit that stores deliveries
processes them too, in the same transaction, when no other update is waiting its turn: one
commit per group instead of three, and the webhook is answered once the replies are committed.
Durability is the same: nothing is acknowledged before its commit, and a crash before it leaves
the platform to deliver again.

On PostgreSQL several such groups may be in flight at once (`groups_in_flight`): while one
waits for the server, the next is read and handled. Each delivery is translated when it
arrives, and a delivery whose person or chat has one in a group in flight (or one waiting
before it) waits for the next group, so one person's updates are still handled one after the
other and in order. Row locks keep the rest apart: a conversation, a contact, a chat's outbox
series each belong to one person, and counters shared by all are bumped in sorted order.

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
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, cast

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.base import RawUpdate
from laporbot.clock import Clock
from laporbot.db import inbox as inbox_repo
from laporbot.db.models import InboxItem
from laporbot.db.sessions import FirstReadAsk
from laporbot.errors import BadRequest
from laporbot.messages import Channel, InboundMessage

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=1)
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BATCH = 50
MAX_ACCEPT_BATCH = 200  # deliveries stored in one group commit
RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 300.0
UNCONFIGURED_RETRY = timedelta(minutes=10)
MAX_ERROR_CHARS = 2000

InboundHandler = Callable[[AsyncSession, InboundMessage, datetime], Awaitable[object]]


class BatchHandler(Protocol):
    """Handles many messages at once (`Intake.handle_batch`): for each, None when it left the
    message to `InboundHandler` (called after it, in order), an exception when the message
    failed (its writes rolled back), anything else when it was handled. With
    `isolate=False` the inbox rolls its transaction back on any error and handles the
    messages again one by one, so a failing message may raise instead (no savepoint)."""

    def __call__(
        self, db: AsyncSession, inbounds: Sequence[InboundMessage], now: datetime, *, isolate: bool
    ) -> Awaitable[Sequence[object]]: ...


#: What `BatchHandler` reads first for these messages (`Intake.first_read_ask`): the inbox's
#: group commit reads it along with its insert, a round trip fewer (PostgreSQL).
FirstReadPlanner = Callable[[Sequence[InboundMessage]], FirstReadAsk]

#: Records an update that carries no message (a delivery status) in the processing
#: transaction, in a savepoint of its own when it writes (most such updates need nothing);
#: True when it recorded something (the update is then `done`, not `ignored`).
StatusHook = Callable[[AsyncSession, RawUpdate, datetime], Awaitable[bool]]


class Translator(Protocol):
    """The part of a channel adapter the inbox needs."""

    def translate(self, update: RawUpdate) -> list[InboundMessage]: ...


#: What translating an update gave: its messages, or the error translating raised.
Translated = list[InboundMessage] | Exception
#: Whose updates must be handled one after the other: a (channel, "user:…"/"chat:…") pair.
OrderKey = tuple[str, str]


@dataclass(slots=True)
class _Delivery:
    """One `accept` call waiting for its group commit."""

    updates: list[RawUpdate]
    waiter: asyncio.Future[list[bool]]
    #: By (channel, platform id), for updates translated on arrival (`process_on_accept`).
    translated: dict[tuple[str, str], Translated]
    keys: frozenset[OrderKey]


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
        status_hooks: Mapping[str, StatusHook] | None = None,
        handle_batch: BatchHandler | None = None,
        process_on_accept: bool = False,
        groups_in_flight: int = 1,
        first_read: FirstReadPlanner | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._adapters = dict(adapters)
        self._handle = handle
        self._handle_batch = handle_batch
        self._process_on_accept = process_on_accept
        self._first_read = first_read
        self._max_attempts = max_attempts
        self._lease = lease
        self.worker = worker or f"inbox-{uuid.uuid4().hex[:12]}"
        self._on_processed = on_processed
        self._status_hooks = dict(status_hooks or {})
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        if groups_in_flight < 1:
            raise ValueError("groups_in_flight must be at least 1")
        self._groups_in_flight = groups_in_flight
        self._accepting: list[_Delivery] = []
        #: The order keys of each group commit under way.
        self._in_flight: dict[object, frozenset[OrderKey]] = {}
        self._group_tasks: set[asyncio.Task[None]] = set()
        self._start_soon = False
        #: Called with the updates whose processing has just been committed (benchmarks time
        #: "request to committed outbox" with it).
        self.on_committed: Callable[[Sequence[InboxItem]], None] | None = None

    def add_adapter(self, channel: str, adapter: Translator) -> None:
        """Register the translator of a channel started after this processor."""
        self._adapters[channel] = adapter

    async def accept(self, updates: Sequence[RawUpdate]) -> list[bool]:
        """Store `updates` (one delivery) and commit; True for each one new, False for a
        redelivery. Returns only after the commit, so the caller may acknowledge then.

        Group commit: deliveries arriving while a commit is under way wait for the next one,
        which stores them all in ONE transaction (one fsync for many webhooks). With
        `process_on_accept`, that transaction also processes them, as `process_batch` would,
        when no other update is waiting for its turn (else they queue behind it).
        """
        waiter: asyncio.Future[list[bool]] = asyncio.get_running_loop().create_future()
        translated: dict[tuple[str, str], Translated] = {}
        keys: set[OrderKey] = set()
        if self._process_on_accept:
            for update in updates:
                outcome = self._translate_raw(update)
                if outcome is not None:
                    translated[update.channel, update.platform_id] = outcome
                    if not isinstance(outcome, Exception):
                        keys.update(_order_keys(outcome))
        self._accepting.append(_Delivery(list(updates), waiter, translated, frozenset(keys)))
        self._start_groups_soon()
        return await waiter

    def _start_groups_soon(self) -> None:
        # Once the webhooks ready in this turn of the loop have been read, so that they share
        # a group (`asyncio.create_task` started the one group task the same way).
        if not self._start_soon:
            self._start_soon = True
            asyncio.get_running_loop().call_soon(self._start_groups)

    def _start_groups(self) -> None:
        """Start group commits for the deliveries waiting, up to `groups_in_flight` at once."""
        self._start_soon = False
        limit = DEFAULT_BATCH if self._process_on_accept else MAX_ACCEPT_BATCH
        while self._accepting and len(self._in_flight) < self._groups_in_flight:
            blocked = set().union(*self._in_flight.values())
            group: list[_Delivery] = []
            waiting: list[_Delivery] = []
            for index, delivery in enumerate(self._accepting):
                if len(group) == limit:
                    waiting.extend(self._accepting[index:])
                    break
                if delivery.keys & blocked:
                    # After the group that has its person's earlier update; so are that
                    # person's later ones, behind it.
                    waiting.append(delivery)
                    blocked |= delivery.keys
                else:
                    group.append(delivery)
            if not group:
                return  # each waits for a group in flight, which starts the next when done
            self._accepting = waiting
            token = object()
            self._in_flight[token] = frozenset().union(*(d.keys for d in group))
            task = asyncio.create_task(self._commit_group(token, group))
            self._group_tasks.add(task)
            task.add_done_callback(self._group_tasks.discard)

    async def _commit_group(self, token: object, group: Sequence[_Delivery]) -> None:
        try:
            translated = {key: value for d in group for key, value in d.translated.items()}
            try:
                results = await self._store(
                    [d.updates for d in group], process=True, translated=translated
                )
            except Exception as exc:
                log.exception("inbox: storing %d deliveries failed", len(group))
                # One bad delivery must not fail the others: each on its own, stored only.
                for delivery in group:
                    try:
                        stored = await self._store([delivery.updates], process=False)
                        _settle(delivery.waiter, stored[0])
                    except Exception as single:
                        _settle(delivery.waiter, single if len(group) > 1 else exc)
                return
            for delivery, fresh in zip(group, results, strict=True):
                _settle(delivery.waiter, fresh)
        finally:
            del self._in_flight[token]
            if self._accepting:
                self._start_groups_soon()

    async def _store(
        self,
        deliveries: Sequence[Sequence[RawUpdate]],
        *,
        process: bool,
        translated: Mapping[tuple[str, str], Translated] | None = None,
    ) -> list[list[bool]]:
        now = self._clock.now()
        updates = [u for d in deliveries for u in d]
        finished: list[InboxItem] = []
        session = self._sessions()
        try:
            async with session.begin():
                stored: list[InboxItem | None] | None = None
                if process and self._process_on_accept and not self._stopping.is_set():
                    # Stored as done unless an update is waiting its turn: processed below, in
                    # this transaction; an update that does not end done is set back by the
                    # statement that records what became of it.
                    stored = await inbox_repo.accept_processed_unless_waiting(
                        session, updates, now, first_read=self._first_read_of(translated)
                    )
                process = stored is not None
                if stored is not None:
                    # No savepoint around the batch: if it fails as a whole, this transaction
                    # rolls back and the deliveries are stored alone, for the worker loop.
                    fresh_items = [item for item in stored if item is not None]
                    finished = await self._process_items(
                        session,
                        fresh_items,
                        isolate=False,
                        stored_done=True,
                        translated=translated,
                    )
                    flags = [item is not None for item in stored]
                else:
                    flags = await inbox_repo.accept_many(session, updates, now)
        finally:
            # Not `async with session`: its exit closes in a task of its own behind a shield,
            # two turns of the loop (every webhook that is ready runs first) before the
            # deliveries are answered. Once the transaction has ended, closing only gives the
            # connection back to the pool, with no round trip to shield.
            await session.close()
        fresh = iter(flags)
        results = [[next(fresh) for _ in delivery] for delivery in deliveries]
        if finished:
            self._processed(finished)
        elif not process and any(flags):
            self.wake()
        return results

    def _first_read_of(
        self, translated: Mapping[tuple[str, str], Translated] | None
    ) -> FirstReadAsk | None:
        """What `handle_batch` will read first for a group's messages, to be read along with
        its insert (`first_read`)."""
        if self._first_read is None or not translated:
            return None
        messages = [
            message
            for outcome in translated.values()
            if not isinstance(outcome, Exception)
            for message in outcome
        ]
        return self._first_read(messages) if messages else None

    def wake(self) -> None:
        """Something was accepted: process now."""
        self._wake.set()

    async def process_one(self) -> bool:
        """Claim and process the oldest pending update; False when there was none."""
        return await self.process_batch(1) > 0

    async def process_batch(self, limit: int = DEFAULT_BATCH) -> int:
        """Claim up to `limit` pending updates and process them in ONE transaction; returns
        how many were claimed.

        Each update runs in a savepoint: one that fails is rolled back alone and set to be
        retried (or failed), the others are committed. Order within a chat holds: once an
        update of a chat fails, that chat's later updates in the batch are given back (without
        counting an attempt) to follow it.
        """
        now = self._clock.now()
        async with self._sessions() as session, session.begin():
            claimed = await inbox_repo.claim_pending(session, limit, self.worker, now, self._lease)
        if not claimed:
            return 0
        items = claimed
        if self._stopping.is_set() and len(claimed) > 1:
            # Stopping: give the rest back at once for the next process.
            items = claimed[:1]
            async with self._sessions() as session, session.begin():
                for item in claimed[1:]:
                    await _defer(session, item.id, None, None, refund=True)
        async with self._sessions() as session, session.begin():
            finished = await self._process_items(session, items)
        if finished:
            self._processed(finished)
        return len(claimed)

    async def _process_items(
        self,
        session: AsyncSession,
        items: Sequence[InboxItem],
        *,
        isolate: bool = True,
        stored_done: bool = False,
        translated: Mapping[tuple[str, str], Translated] | None = None,
    ) -> list[InboxItem]:
        """Process claimed `items` in the caller's transaction (see `process_batch`); returns
        those finished (done, ignored or failed for good). Without `isolate`, a failure of
        `handle_batch` as a whole propagates (the caller rolls back) instead of being rolled
        back to a savepoint and followed by one-by-one processing. `stored_done`: the items
        were stored as done (`accept_processed`), so the done ones are not marked again.
        `translated`: what translating some of them on arrival gave, by (channel, platform id)."""
        held: dict[tuple[str, str], datetime | None] = {}
        finished: list[InboxItem] = []
        known = translated or {}
        plans = [
            (item, await self._translate(session, item, known.get(_update_key(item))))
            for item in items
        ]
        together = await self._process_together(session, plans, held, isolate=isolate)
        done: list[int] = []
        for item, plan in plans:
            if isinstance(plan, str):
                outcome = plan
            elif item.id in together:
                outcome = together[item.id]
            else:
                outcome = await self._process(session, item, plan, held)
            if outcome == "done":
                done.append(item.id)
            if outcome in ("done", "finished"):
                finished.append(item)
        if done and not stored_done:
            await inbox_repo.mark_done_many(session, done, self._clock.now())
        return finished

    def _processed(self, finished: Sequence[InboxItem]) -> None:
        """After the commit of processed updates."""
        if self.on_committed is not None:
            self.on_committed(finished)
        if self._on_processed is not None:
            self._on_processed()

    def _translate_raw(self, update: RawUpdate) -> Translated | None:
        """What the channel's adapter makes of `update` (None: no adapter for its channel)."""
        adapter = self._adapters.get(update.channel)
        if adapter is None:
            return None
        try:
            return adapter.translate(update)
        except Exception as exc:
            return exc

    async def _translate(
        self, session: AsyncSession, item: InboxItem, translated: Translated | None = None
    ) -> list[InboundMessage] | str:
        """An update's messages, or, when it has none to handle, what became of it: "done"
        (delivery news recorded), "finished" (ignored or failed for good) or "later" (to be
        retried). `translated`: what translating it on arrival gave, if it was."""
        channel = cast(Channel, item.channel)
        raw = RawUpdate(channel=channel, platform_id=item.platform_id, payload=item.payload)
        if translated is None:
            translated = self._translate_raw(raw)
        if translated is None:
            later = self._clock.now() + UNCONFIGURED_RETRY
            await self._retry_or_fail(
                session, item, f"channel {item.channel} not configured", later
            )
            return "later"
        try:
            if isinstance(translated, Exception):
                raise translated
            messages = translated
        except BadRequest as exc:
            reason = _short(exc)
            await inbox_repo.mark_failed(session, item.id, self._clock.now(), reason)
            log.warning("inbox %s (%s) is unreadable: %s", item.id, item.channel, reason)
            return "finished"
        except Exception as exc:
            log.exception("inbox %s: translating failed", item.id)
            await self._retry_or_fail(session, item, _short(exc), None)
            return "later"
        if messages:
            return messages
        now = self._clock.now()
        hook = self._status_hooks.get(item.channel)
        if hook is not None:
            try:
                recorded = await hook(session, raw, now)
            except Exception as exc:
                log.exception("inbox %s: recording a delivery status failed", item.id)
                await self._retry_or_fail(session, item, _short(exc), None)
                return "later"
            if recorded:
                return "done"  # delivery news recorded on the outbox
        await inbox_repo.mark_ignored(session, item.id, now, "no message for laporbot")
        return "finished"

    async def _process_together(
        self,
        session: AsyncSession,
        plans: Sequence[tuple[InboxItem, list[InboundMessage] | str]],
        held: dict[tuple[str, str], datetime | None],
        *,
        isolate: bool = True,
    ) -> dict[int, str]:
        """Hand the batch's one-message updates to `handle_batch` at once, inside a savepoint;
        returns the outcome ("done" or "later") of each update it took, by id. The rest, and
        everything when it fails as a whole, are processed one by one after it.

        Order within a chat holds: from a chat's first update that is not taken together
        (several messages, or left by the handler) on, its later ones follow one by one."""
        if self._handle_batch is None:
            return {}
        candidates: list[tuple[InboxItem, InboundMessage]] = []
        apart: set[tuple[str, str]] = set()
        for item, plan in plans:
            if isinstance(plan, str):
                continue
            chats = {(m.channel, m.chat_id) for m in plan}
            if len(plan) == 1 and not chats & apart:
                candidates.append((item, plan[0]))
            else:
                apart |= chats
        if not candidates:
            return {}
        messages = [message for _, message in candidates]
        try:
            now = self._clock.now()
            if isolate:
                async with session.begin_nested():
                    outcomes = await self._handle_batch(session, messages, now, isolate=True)
            else:
                outcomes = await self._handle_batch(session, messages, now, isolate=False)
        except Exception:
            if not isolate:
                raise
            log.exception("inbox: %d updates failed together; one by one now", len(candidates))
            return {}
        results: dict[int, str] = {}
        for (item, message), outcome in zip(candidates, outcomes, strict=True):
            if outcome is None:
                continue  # left for one by one
            if isinstance(outcome, BaseException):
                chat = (message.channel, message.chat_id)
                results[item.id] = await self._failed(session, item, outcome, {chat}, held)
            else:
                results[item.id] = "done"
        return results

    async def _process(
        self,
        session: AsyncSession,
        item: InboxItem,
        messages: list[InboundMessage],
        held: dict[tuple[str, str], datetime | None],
    ) -> str:
        """One update's messages inside the batch transaction, in a savepoint of its own:
        "done" (processed, to be marked done) or "later" (retried or given back)."""
        chats = {(m.channel, m.chat_id) for m in messages}
        if chats & held.keys():
            # Due again together with the failed earlier one, which sorts first (by id).
            times = [at for c in chats if (at := held.get(c)) is not None]
            until = max(times, default=None)
            reason = "waiting for an earlier update of this chat"
            await _defer(session, item.id, until, reason, refund=True)
            return "later"
        try:
            now = self._clock.now()
            async with session.begin_nested():
                for message in messages:
                    await self._handle(session, message, now)
        except Exception as exc:
            return await self._failed(session, item, exc, chats, held)
        return "done"

    async def _failed(
        self,
        session: AsyncSession,
        item: InboxItem,
        error: BaseException,
        chats: Collection[tuple[str, str]],
        held: dict[tuple[str, str], datetime | None],
    ) -> str:
        """An update whose processing failed (its writes rolled back): retried after a
        backoff, or failed for good; its chats' later updates in the batch wait behind it."""
        log.error(
            "inbox %s: processing failed (attempt %s)", item.id, item.attempts, exc_info=error
        )
        retry_at = await self._retry_or_fail(session, item, _short(error), None)
        for chat in chats:
            held[chat] = retry_at
        return "later"

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
                # A batch short of full took everything due; what comes in meanwhile wakes
                # the loop (no empty claim, a transaction of its own, after every batch).
                while not self._stopping.is_set() and await self.process_batch() >= DEFAULT_BATCH:
                    pass
            except Exception:
                log.exception("inbox claim failed; trying again shortly")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    def stop(self) -> None:
        """Ask `run` to return after the update in hand."""
        self._stopping.set()
        self._wake.set()

    async def _retry_or_fail(
        self, session: AsyncSession, item: InboxItem, error: str, at: datetime | None
    ) -> datetime | None:
        """Try again later (returns when), or mark failed after `max_attempts` (None)."""
        if item.attempts >= self._max_attempts:
            final = f"gave up after {item.attempts} attempts: {error}"
            await inbox_repo.mark_failed(session, item.id, self._clock.now(), final)
            return None
        if at is None:
            delay = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * float(2 ** (item.attempts - 1)))
            at = self._clock.now() + timedelta(seconds=delay)
        await _defer(session, item.id, at, error)
        return at


def _update_key(item: InboxItem) -> tuple[str, str]:
    return (item.channel, item.platform_id)


def _order_keys(messages: Sequence[InboundMessage]) -> set[OrderKey]:
    """Whose turn `messages` take: their senders' (a conversation is one person's) and their
    chats' (an office group's officers answer one after the other)."""
    keys: set[OrderKey] = set()
    for message in messages:
        keys.add((message.channel, f"user:{message.user_id}"))
        keys.add((message.channel, f"chat:{message.chat_id}"))
    return keys


def _settle(waiter: asyncio.Future[list[bool]], outcome: list[bool] | BaseException) -> None:
    """Answer a waiting `accept` (unless its request went away meanwhile)."""
    if waiter.done():
        return
    if isinstance(outcome, BaseException):
        waiter.set_exception(outcome)
    else:
        waiter.set_result(outcome)


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
    counted: it was never tried. Pending again, also when it was stored as done
    (`accept_processed`)."""
    values: dict[str, object] = {
        "status": "pending",
        "processed_at": None,
        "claimed_by": None,
        "claimed_until": until,
    }
    if error is not None:
        values["error"] = error
    if refund:
        values["attempts"] = InboxItem.attempts - 1
    await session.execute(update(InboxItem).where(InboxItem.id == item_id).values(**values))
