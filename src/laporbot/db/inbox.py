"""Inbox: every platform update stored once, before it is acknowledged, then processed.

A webhook answers 200 only after `accept` committed; a redelivery (same channel and platform id)
inserts nothing. Workers `claim_pending` a batch under a lease; a worker that dies leaves its
claim to expire, and another takes the rows over.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import JSON, String, Table, bindparam, column, or_, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.channels.base import RawUpdate
from laporbot.db import direct
from laporbot.db._sql import dialect_insert, dialect_of, prebuilt
from laporbot.db.models import InboxItem
from laporbot.db.sessions import FirstReadAsk, first_read_of, first_read_sql, keep_first_read
from laporbot.db.types import UTCDateTime

DEFAULT_LEASE = timedelta(minutes=5)


async def accept(session: AsyncSession, update_: RawUpdate, now: datetime) -> bool:
    """Store one update; False when it was already stored (a redelivery)."""
    stmt = prebuilt(session, "inbox.accept", _accept)
    return (
        await session.execute(stmt, _params([update_], now)[0])
    ).scalar_one_or_none() is not None


async def accept_many(
    session: AsyncSession, updates: Sequence[RawUpdate], now: datetime
) -> list[bool]:
    """Store `updates` with one statement; for each, False when it was already stored (a
    redelivery, or the same update earlier in `updates`)."""
    if not updates:
        return []
    rows = _params(updates, now)
    result = await session.execute(prebuilt(session, "inbox.accept_many", _accept_many), rows)
    stored = {(channel, platform_id) for channel, platform_id in result.all()}
    fresh = []
    for item in updates:
        key = (item.channel, item.platform_id)
        fresh.append(key in stored)
        stored.discard(key)  # a repeat later in the same group is a redelivery
    return fresh


async def accept_processed(
    session: AsyncSession, updates: Sequence[RawUpdate], now: datetime
) -> list[InboxItem | None]:
    """Store `updates` as done at `now`, their first attempt counted, to be processed in this
    same transaction (`accept_many`, `claim_pending` and `mark_done_many` in one statement);
    for each, its row, or None when it was already stored (a redelivery, or the same update
    earlier in `updates`).

    No lease: the rows exist only once the transaction commits, and then they are processed.
    An update whose processing does not end done is set back by its own statement (`defer`
    makes it pending again; `mark_failed`, `mark_ignored`)."""
    if not updates:
        return []
    rows = _params(updates, now)
    returned = await direct.rows(session, "inbox.accept_processed", _accept_processed, rows)
    return _as_processed(updates, now, returned)


async def accept_processed_unless_waiting(
    session: AsyncSession,
    updates: Sequence[RawUpdate],
    now: datetime,
    *,
    first_read: FirstReadAsk | None = None,
) -> list[InboxItem | None] | None:
    """`accept_processed` when no update is waiting its turn (`any_waiting`); else None, and
    nothing is stored (store them with `accept_many`, for their turn).

    On PostgreSQL the check and the insert are ONE statement (a round trip less on every
    group): `INSERT ... SELECT FROM unnest(...) WHERE NOT EXISTS (<a waiting update>)`, so the
    whole group is stored or none of it. An insert that stores nothing is ambiguous there (an
    update waiting, or every update a redelivery): it gives None too, and `accept_many` then
    stores them as pending, or finds them all stored already. The snapshot is the statement's,
    as it was the check's: an update committed by another process in between is seen by
    neither, then or now.

    `first_read` (PostgreSQL): the same statement reads the batch's first read along (the
    people's sessions and contacts, locked, `sessions.first_read_sql`) and keeps it for this
    transaction's `sessions.load_active_many` (`keep_first_read`): a round trip fewer on
    every group. Read even when nothing is stored; kept only when something is."""
    if not updates:
        return []
    if dialect_of(session) != "postgresql":
        if await any_waiting(session, now):
            return None
        return await accept_processed(session, updates, now)
    params = {
        "now": now,
        "channels": [item.channel for item in updates],
        "platform_ids": [item.platform_id for item in updates],
        "payloads": [item.payload for item in updates],
    }
    if first_read is not None and first_read.keys:
        found = await direct.dicts(
            session,
            "inbox.accept_unless_waiting_reading",
            _accept_unless_waiting_reading,
            params | first_read.params(),
        )
        first = found[0]
        returned = list(
            zip(
                first["stored_ids"] or [],
                first["stored_channels"] or [],
                first["stored_platform_ids"] or [],
                strict=True,
            )
        )
        if not returned:
            return None
        keep_first_read(session, first_read, first_read_of(first_read, found))
        return _as_processed(updates, now, returned)
    returned = await direct.rows(
        session, "inbox.accept_unless_waiting", _accept_unless_waiting, params
    )
    return _as_processed(updates, now, returned) if returned else None


# PostgreSQL only. WITH ORDINALITY: rows are inserted (and numbered) in the group's order, as
# the multi-row insert does. The NOT EXISTS is uncorrelated: evaluated once, for all.
_INSERT_UNLESS_WAITING = (
    "INSERT INTO inbox (channel, platform_id, received_at, payload, status, attempts,"
    " processed_at)"
    " SELECT u.channel, u.platform_id, :now, u.payload, 'done', 1, :now"
    " FROM unnest(:channels, :platform_ids, :payloads) WITH ORDINALITY"
    " AS u(channel, platform_id, payload, n)"
    " WHERE NOT EXISTS (SELECT 1 FROM inbox AS waiting WHERE waiting.status = 'pending'"
    " AND (waiting.claimed_by IS NOT NULL OR waiting.claimed_until IS NULL"
    " OR waiting.claimed_until <= :now))"
    " ORDER BY u.n"
    " ON CONFLICT (channel, platform_id) DO NOTHING"
    " RETURNING inbox.id, inbox.channel, inbox.platform_id"
)


def _insert_binds() -> list[Any]:
    return [
        bindparam("now", type_=UTCDateTime()),
        bindparam("channels", type_=ARRAY(String)),
        bindparam("platform_ids", type_=ARRAY(String)),
        bindparam("payloads", type_=ARRAY(JSON, dimensions=1)),
    ]


def _accept_unless_waiting(_dialect: str) -> Any:
    table = InboxItem.__table__.c
    statement = text(_INSERT_UNLESS_WAITING).bindparams(*_insert_binds())
    return statement.columns(table.id, table.channel, table.platform_id)


def _accept_unless_waiting_reading(_dialect: str) -> Any:
    # The insert as a writable CTE, its rows gathered into arrays beside each row of the
    # first read (one row per person asked about, in key order). The first read runs on the
    # statement's snapshot, as it would have as the next statement (the insert touches no
    # session or contact), and locks what it finds.
    picked, source, binds, columns = first_read_sql()
    table = InboxItem.__table__.c
    sql = (
        f"WITH stored AS ({_INSERT_UNLESS_WAITING}),"
        " gathered AS (SELECT array_agg(id) AS stored_ids, array_agg(channel) AS stored_channels,"
        " array_agg(platform_id) AS stored_platform_ids FROM stored)"
        " SELECT gathered.stored_ids, gathered.stored_channels, gathered.stored_platform_ids,"
        f" {picked} FROM gathered CROSS JOIN {source} ORDER BY k.n"
    )
    return (
        text(sql)
        .bindparams(*_insert_binds(), *binds)
        .columns(
            column("stored_ids", ARRAY(table.id.type)),
            column("stored_channels", ARRAY(String())),
            column("stored_platform_ids", ARRAY(String())),
            *columns,
        )
    )


def _as_processed(
    updates: Sequence[RawUpdate], now: datetime, returned: Sequence[tuple[Any, ...]]
) -> list[InboxItem | None]:
    """`accept_processed`'s answer from the (id, channel, platform id) rows stored."""
    ids = {(channel, platform_id): id_ for id_, channel, platform_id in returned}
    found: list[InboxItem | None] = []
    for item in updates:
        id_ = ids.pop((item.channel, item.platform_id), None)
        # The row as stored, built here from what was sent (reading it back would parse the
        # payload's JSON again); not attached to the session.
        found.append(
            None
            if id_ is None
            else InboxItem(
                id=id_,
                channel=item.channel,
                platform_id=item.platform_id,
                received_at=now,
                payload=item.payload,
                status="done",
                attempts=1,
                processed_at=now,
            )
        )
    return found


def _accept_processed(dialect: str) -> Any:
    table = InboxItem.__table__.c
    return _insert_pending(dialect, processed=True).returning(
        table.id, table.channel, table.platform_id
    )


def _params(updates: Sequence[RawUpdate], now: datetime) -> list[dict[str, Any]]:
    """The parameters of `_insert_pending` for `updates`."""
    return [
        {
            "channel": item.channel,
            "platform_id": item.platform_id,
            "received_at": now,
            "payload": item.payload,
        }
        for item in updates
    ]


async def any_waiting(session: AsyncSession, now: datetime) -> bool:
    """Whether an update is waiting its turn: pending and claimable now, or claimed (being
    processed, or left by a dead process). Updates given back to be retried later do not
    count. A new update may be processed at once only when none is waiting (a chat's
    updates in order)."""
    return bool(await direct.rows(session, "inbox.any_waiting", _any_waiting, {"now": now}))


def _any_waiting(_dialect: str) -> Any:
    table = InboxItem.__table__.c
    return (
        select(table.id)
        .where(
            table.status == "pending",
            or_(
                table.claimed_by.is_not(None),
                table.claimed_until.is_(None),
                table.claimed_until <= bindparam("now"),
            ),
        )
        .limit(1)
    )


def _accept_many(dialect: str) -> Any:
    table = InboxItem.__table__.c
    return _insert_pending(dialect).returning(table.channel, table.platform_id)


def _accept(dialect: str) -> Any:
    return _insert_pending(dialect).returning(InboxItem.__table__.c.id)


def _insert_pending(dialect: str, *, processed: bool = False) -> Any:
    """INSERT of a new update (ON CONFLICT: a redelivery inserts nothing); `processed`: as
    done at `received_at`, its first attempt counted (see `accept_processed`)."""
    table = InboxItem.__table__.c
    values: dict[str, Any] = {
        "channel": bindparam("channel"),
        "platform_id": bindparam("platform_id"),
        "received_at": bindparam("received_at"),
        "payload": bindparam("payload"),
        "status": "pending",
        "attempts": 0,
    }
    if processed:
        values |= {"status": "done", "attempts": 1, "processed_at": bindparam("received_at")}
    return (
        dialect_insert(dialect, InboxItem.__table__)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[table.channel, table.platform_id])
    )


async def claim_pending(
    session: AsyncSession,
    limit: int,
    worker: str,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
) -> list[InboxItem]:
    """Claim up to `limit` pending updates, oldest first, for `worker` until `now + lease`.

    Rows another worker holds (an unexpired claim, or a row lock on PostgreSQL) are skipped.
    Each claim counts as an attempt.
    """
    params = {"now": now, "limit": limit, "worker": worker, "until": now + lease}
    stmt = prebuilt(session, "inbox.claim_pending", _claim)
    result = await session.scalars(stmt, params, execution_options={"populate_existing": True})
    return sorted(result.all(), key=lambda item: item.id)


def _claim(_dialect: str) -> Any:
    # Run for every batch: built once, a Core UPDATE ... RETURNING whose rows the ORM loads
    # (`from_statement`), cheaper than an ORM-enabled UPDATE.
    table = cast(Table, InboxItem.__table__)
    candidates = (
        select(table.c.id)
        .where(
            table.c.status == "pending",
            or_(table.c.claimed_until.is_(None), table.c.claimed_until < bindparam("now")),
        )
        .order_by(table.c.id)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
    )
    claim = (
        update(table)
        .where(table.c.id.in_(candidates.scalar_subquery()))
        .values(
            claimed_by=bindparam("worker"),
            claimed_until=bindparam("until"),
            attempts=table.c.attempts + 1,
        )
        .returning(*table.c)
    )
    return select(InboxItem).from_statement(claim)


async def _finish(
    session: AsyncSession, item_id: int, status: str, now: datetime, error: str | None
) -> None:
    await session.execute(
        update(InboxItem)
        .where(InboxItem.id == item_id)
        .values(status=status, processed_at=now, error=error, claimed_by=None, claimed_until=None)
    )


async def mark_done(session: AsyncSession, item_id: int, now: datetime) -> None:
    """The update was processed."""
    await _finish(session, item_id, "done", now, None)


async def mark_done_many(session: AsyncSession, item_ids: Sequence[int], now: datetime) -> None:
    """The updates were processed (one statement for a batch)."""
    params = {"ids": list(item_ids), "now": now}
    await direct.execute(session, "inbox.mark_done_many", _mark_done_many, params)


def _mark_done_many(_dialect: str) -> Any:
    # Every batch runs it: a prebuilt Core UPDATE (the ORM-enabled one costs several times
    # more: it looks for the rows in the session to keep them in step).
    table = cast(Table, InboxItem.__table__)
    return (
        update(table)
        .where(table.c.id.in_(bindparam("ids", expanding=True)))
        .values(
            status="done",
            processed_at=bindparam("now"),
            error=None,
            claimed_by=None,
            claimed_until=None,
        )
    )


async def mark_ignored(session: AsyncSession, item_id: int, now: datetime, reason: str) -> None:
    """The update is of a kind laporbot does not use (a status callback, an edit)."""
    await _finish(session, item_id, "ignored", now, reason)


async def mark_failed(session: AsyncSession, item_id: int, now: datetime, error: str) -> None:
    """The update cannot be processed (malformed, or out of attempts); kept for inspection."""
    await _finish(session, item_id, "failed", now, error)


async def release(session: AsyncSession, item_id: int, error: str) -> None:
    """Give a claimed update back for another attempt (a transient failure)."""
    await session.execute(
        update(InboxItem)
        .where(InboxItem.id == item_id)
        .values(error=error, claimed_by=None, claimed_until=None)
    )
