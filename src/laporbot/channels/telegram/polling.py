"""Long polling: fetch updates with getUpdates and hand each to the inbox.

The offset only moves past an update after `on_update` returned, so an update is confirmed to
Telegram only once it is stored; a crash before that means Telegram sends it again and the
inbox, keyed on `update_id`, ignores what it already has.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from laporbot.channels.base import RawUpdate, RetryAfter, SendError
from laporbot.channels.telegram.adapter import TelegramAdapter
from laporbot.errors import BadRequest

log = logging.getLogger(__name__)

OnUpdate = Callable[[RawUpdate], Awaitable[None]]
T = TypeVar("T")


def default_backoff(failures: int, cap: float = 30) -> float:
    """Seconds to wait after `failures` failures in a row: 1, 2, 4 ... at most `cap`."""
    return float(min(cap, 2 ** max(0, failures - 1)))


async def wait_or_stop(stop_event: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop_event` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop_event.wait(), timeout=seconds)


class Stopped(enum.Enum):
    """What `until_stopped` returns when the service stopped first."""

    STOPPED = "stopped"


STOPPED = Stopped.STOPPED


async def until_stopped(work: Awaitable[T], stop_event: asyncio.Event) -> T | Stopped:
    """`work`'s result, or `STOPPED` (the work cancelled, its error dropped) as soon as
    `stop_event` is set; an error of work that finished first is raised."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop_event.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stopper
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, SendError):
                await task
    if task.cancelled():
        return STOPPED
    return task.result()


async def _fetch(
    adapter: TelegramAdapter,
    offset: int | None,
    timeout: int,  # noqa: ASYNC109 - Telegram's long-poll seconds
    stop_event: asyncio.Event,
) -> list[dict[str, Any]] | None:
    """One getUpdates, abandoned (None) as soon as `stop_event` is set (safe: nothing it
    returned was confirmed)."""
    items = await until_stopped(adapter.get_raw_updates(offset=offset, timeout=timeout), stop_event)
    return None if items is STOPPED else items


async def poll(
    adapter: TelegramAdapter,
    on_update: OnUpdate,
    *,
    timeout: int,  # noqa: ASYNC109 - Telegram's long-poll seconds, not a deadline
    stop_event: asyncio.Event,
    backoff: Callable[[int], float] = default_backoff,
) -> None:
    """Poll until `stop_event` is set, handing every update to `on_update` in order.

    Deletes any webhook first (Telegram refuses getUpdates while one is set). A failed poll or a
    failing `on_update` (say, the database is down) waits `backoff(failures)` seconds and tries
    again from the first update not yet accepted; a 429 waits what Telegram asked.
    """
    await adapter.delete_webhook()
    offset: int | None = None
    failures = 0
    while not stop_event.is_set():
        try:
            items = await _fetch(adapter, offset, timeout, stop_event)
        except RetryAfter as exc:
            log.warning("telegram getUpdates: flood control, waiting %s s", exc.seconds)
            await wait_or_stop(stop_event, exc.seconds)
            continue
        except SendError as exc:
            failures += 1
            log.warning("telegram getUpdates failed (%s): %s", failures, exc.reason)
            await wait_or_stop(stop_event, backoff(failures))
            continue
        if items is None:
            break
        try:
            for item in items:
                offset = await _accept(adapter, item, on_update, offset)
        except Exception:
            failures += 1
            log.exception("telegram update not accepted; trying again from offset %s", offset)
            await wait_or_stop(stop_event, backoff(failures))
            continue
        failures = 0
    if offset is not None:
        # confirm what was accepted, so a restart does not fetch it again (the inbox would
        # ignore it anyway); a failure here changes nothing
        with contextlib.suppress(SendError):
            await adapter.get_raw_updates(offset=offset, timeout=0, limit=1)


async def _accept(
    adapter: TelegramAdapter, item: dict[str, Any], on_update: OnUpdate, offset: int | None
) -> int | None:
    """Hand one polled update to `on_update`; the offset to ask for next."""
    try:
        raws = adapter.split(item)
    except BadRequest as exc:
        update_id = item.get("update_id")
        log.error("telegram sent an update that is not one (%s); skipped", exc.reason)
        # without an update_id there is nothing to confirm past; Telegram always sends one
        return update_id + 1 if isinstance(update_id, int) else offset
    for raw in raws:
        await on_update(raw)
    return int(raws[-1].platform_id) + 1
