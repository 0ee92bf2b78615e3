"""Queue a sweep batch's messages into the outbox with a handful of statements.

`laporbot.db.outbox.enqueue` takes three statements per message (dedup check, per-chat sequence,
insert); a sweep of thousands of due reminders spent most of its time there. This queues a whole
batch in two statements (one on PostgreSQL, a writable CTE): one bump of every chat's sequence
counter by the number of its messages, and one multi-row insert that skips a message whose dedup
key is queued already (ON CONFLICT on the key's unique index: a check beforehand would find
something only when a batch is replayed). The keys are looked up only for group messages the
privacy screen refuses, so that one queued the first time is not reported refused on a replay.
Same rows, same counter series, same per-chat order as `enqueue`; a skipped message leaves a gap
in its chat's `seq`, which only orders. Chats' counters are locked in sorted order so concurrent
workers cannot deadlock on them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any, cast

from sqlalchemy import JSON, Integer, String, Table, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db import direct
from laporbot.db._sql import dialect_insert, dialect_of
from laporbot.db.models import OutboxMessage
from laporbot.db.numbers import next_values
from laporbot.db.outbox import to_payload
from laporbot.db.types import UTCDateTime
from laporbot.messages import OutboundMessage
from laporbot.privacy import screen_group_messages


@dataclass(frozen=True, slots=True)
class Queued:
    """One message to queue, with its idempotency key and the case it is about."""

    message: OutboundMessage
    dedup_key: str
    case_id: int | None = None


def sequence_name(channel: str, chat_id: str) -> str:
    """The `number_counters` series that orders one chat's outbox (as `db.outbox.enqueue`)."""
    return f"outbox:{channel}:{chat_id}"


async def enqueue_many(
    session: AsyncSession,
    items: Sequence[Queued],
    now: datetime,
    *,
    refused: list[Queued] | None = None,
    along: direct.Along | None = None,
) -> None:
    """Queue `items` (in order within each chat); one whose dedup key is already queued, or
    given earlier in `items`, is skipped. A group message the privacy screen refuses is not
    queued; it is added to `refused` when given, unless its key was queued already (a batch
    replayed after the screen's answer changed). `along` (PostgreSQL): another write the
    insert carries (`db.direct.Along`), run whatever is queued."""
    if along is not None and dialect_of(session) != "postgresql":
        raise ValueError("only PostgreSQL statements carry another write")
    if not items:
        if along is not None:
            await direct.run_along(session, along)
        return
    # Group messages are screened here, where their rows are made, as `db.outbox.enqueue` does.
    screened = await screen_group_messages(
        session, [(item.message, item.case_id) for item in items], drop_refused=True
    )
    if refused is not None:
        turned_away = [i for i, m in zip(items, screened, strict=True) if m is None]
        if turned_away:
            # A replayed batch's message queued the first time is not refused now: its key
            # is looked up only here, when something was refused (rare), not for every batch.
            keys = [item.dedup_key for item in turned_away]
            queued = set(await direct.scalars(session, "outbox.queued", _queued, {"keys": keys}))
            refused.extend(item for item in turned_away if item.dedup_key not in queued)
    fresh = [
        item if message is item.message else dataclasses.replace(item, message=message)
        for item, message in zip(items, screened, strict=True)
        if message is not None
    ]
    # Stable sort: one chat's messages keep the order they were given in.
    fresh.sort(key=lambda item: (item.message.channel, item.message.chat_id))
    chats = [
        (sequence_name(channel, chat_id), list(group))
        for (channel, chat_id), group in groupby(
            fresh, key=lambda item: (item.message.channel, item.message.chat_id)
        )
    ]
    if not chats:
        if along is not None:
            await direct.run_along(session, along)
        return
    if dialect_of(session) == "postgresql":
        await _queue_in_one(session, chats, now, along)
        return
    last = await next_values(session, {series: len(chat_items) for series, chat_items in chats})
    rows: list[dict[str, Any]] = []
    for series, chat_items in chats:
        first = last[series] - len(chat_items) + 1
        for offset, item in enumerate(chat_items):
            rows.append(
                {
                    "channel": item.message.channel,
                    "chat_id": item.message.chat_id,
                    "seq": first + offset,
                    "payload": to_payload(item.message),
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "dedup_key": item.dedup_key,
                    "case_id": item.case_id,
                }
            )
    if rows:
        await direct.execute(session, "outbox.insert_new", _insert, rows)


async def _queue_in_one(
    session: AsyncSession,
    chats: Sequence[tuple[str, Sequence[Queued]]],
    now: datetime,
    along: direct.Along | None,
) -> None:
    """PostgreSQL: the counters' bump and the insert in ONE statement (a round trip less for
    every group and sweep batch), the same rows as the two statements give, and `along` as
    one more CTE. Each message is numbered from its chat's bumped counter: the last value,
    minus how many of the chat's messages follow it."""
    rows: dict[str, list[Any]] = {
        "row_series": [],
        "channels": [],
        "chat_ids": [],
        "backs": [],
        "payloads": [],
        "dedup_keys": [],
        "case_ids": [],
    }
    for series, chat_items in chats:
        for offset, item in enumerate(chat_items):
            rows["row_series"].append(series)
            rows["channels"].append(item.message.channel)
            rows["chat_ids"].append(item.message.chat_id)
            rows["backs"].append(len(chat_items) - 1 - offset)
            rows["payloads"].append(to_payload(item.message))
            rows["dedup_keys"].append(item.dedup_key)
            rows["case_ids"].append(item.case_id)
    # The statement bumps the counters in code-point order (ORDER BY ... COLLATE "C"), as
    # `next_values` sorts them, so concurrent batches take their row locks in one order.
    params = {
        "series": [series for series, _ in chats],
        "steps": [len(chat_items) for _, chat_items in chats],
        "now": now,
        **rows,
    }
    if along is None:
        await direct.execute(session, "outbox.queue_in_one", _queue_in_one_statement, params)
        return

    def build(dialect: str) -> Any:
        return _queue_in_one_statement(dialect, along)

    name = f"outbox.queue_in_one+{along.name}"
    await direct.execute(session, name, build, {**params, **along.params})


def _queue_in_one_statement(_dialect: str, along: direct.Along | None = None) -> Any:
    carried = f"{along.sql}, " if along is not None else ""
    return text(
        f"WITH {carried}bumped AS ("
        " INSERT INTO number_counters (name, value)"
        " SELECT s.name, s.step FROM unnest(:series, :steps) AS s(name, step)"
        ' ORDER BY s.name COLLATE "C"'
        " ON CONFLICT (name) DO UPDATE SET value = number_counters.value + excluded.value"
        " RETURNING number_counters.name, number_counters.value)"
        " INSERT INTO outbox (channel, chat_id, seq, payload, status, attempts,"
        " next_attempt_at, created_at, dedup_key, case_id)"
        " SELECT m.channel, m.chat_id, bumped.value - m.back, m.payload, 'pending', 0,"
        " :now, :now, m.dedup_key, m.case_id"
        " FROM unnest(:row_series, :channels, :chat_ids, :backs, :payloads, :dedup_keys,"
        " :case_ids) WITH ORDINALITY"
        " AS m(series, channel, chat_id, back, payload, dedup_key, case_id, n)"
        " JOIN bumped ON bumped.name = m.series"
        " ORDER BY m.n"
        " ON CONFLICT (dedup_key) DO NOTHING"
    ).bindparams(
        bindparam("series", type_=ARRAY(String)),
        bindparam("steps", type_=ARRAY(Integer)),
        bindparam("now", type_=UTCDateTime()),
        bindparam("row_series", type_=ARRAY(String)),
        bindparam("channels", type_=ARRAY(String)),
        bindparam("chat_ids", type_=ARRAY(String)),
        bindparam("backs", type_=ARRAY(Integer)),
        bindparam("payloads", type_=ARRAY(JSON, dimensions=1)),
        bindparam("dedup_keys", type_=ARRAY(String)),
        bindparam("case_ids", type_=ARRAY(Integer)),
        *(along.binds if along is not None else ()),
    )


def _queued(_dialect: str) -> Any:
    table = OutboxMessage.__table__.c
    return select(table.dedup_key).where(table.dedup_key.in_(bindparam("keys", expanding=True)))


#: The columns `enqueue_many` gives (`db.direct` applies no Python-side defaults).
_INSERTED = (
    "channel",
    "chat_id",
    "seq",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "dedup_key",
    "case_id",
)


def _insert(dialect: str) -> Any:
    table = cast(Table, OutboxMessage.__table__)
    return (
        dialect_insert(dialect, table)
        .values({name: bindparam(name) for name in _INSERTED})
        .on_conflict_do_nothing(index_elements=[table.c.dedup_key])
    )
