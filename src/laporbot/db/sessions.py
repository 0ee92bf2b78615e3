"""Conversation sessions: at most one active per (channel, user_id), kept by a partial unique
index, so two workers handling the same user at once cannot both start one."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Insert,
    Select,
    Table,
    Update,
    bindparam,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnClause

from laporbot.db import direct
from laporbot.db._sql import prebuilt
from laporbot.db.models import ConversationSession

#: "active" written into the SQL, not bound: only then may the database use the partial index
#: of active sessions (`uq_conversation_sessions_active`), whose condition it must prove from
#: the query; with a bound value SQLite scans every active session instead.
_ACTIVE: ColumnClause[str] = literal_column("'active'")


async def load_active(
    session: AsyncSession, channel: str, user_id: str
) -> ConversationSession | None:
    """The user's active session on `channel`, if any. On PostgreSQL the row is locked until
    the transaction ends, so one user's messages are handled one at a time."""
    stmt = prebuilt(session, "sessions.load_active", _load_active)
    return await session.scalar(stmt, {"channel": channel, "user_id": user_id})


def _load_active(_dialect: str) -> Select[ConversationSession]:
    return (
        select(ConversationSession)
        .where(
            ConversationSession.channel == bindparam("channel"),
            ConversationSession.user_id == bindparam("user_id"),
            ConversationSession.status == _ACTIVE,
        )
        .with_for_update()
    )


async def load_active_many(
    session: AsyncSession, keys: Collection[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The active sessions of many (channel, user_id) at once, as plain rows (column name to
    value) by key: ONE statement for a batch of updates. Rows are locked on PostgreSQL in id
    order until the transaction ends, as `load_active` locks one."""
    if not keys:
        return {}
    wanted = set(keys)
    params = {
        "channels": sorted({channel for channel, _ in wanted}),
        "users": sorted({user for _, user in wanted}),
    }
    rows = {}
    for row in await direct.dicts(session, "sessions.load_many", _load_many, params):
        key = (row["channel"], row["user_id"])
        if key in wanted:
            rows[key] = row
    return rows


def _load_many(dialect: str) -> Any:
    table = cast(Table, ConversationSession.__table__)
    if dialect == "sqlite":
        # SQLite has no statistics unless ANALYZE ran, and then plans IN lists over the
        # status index: every active session read for a batch. The partial unique index finds
        # each (channel, user_id) at once: named here, since SQLAlchemy renders no hint for
        # SQLite. (Its write lock is held already: nothing to lock.)
        names = ", ".join(column.name for column in table.c)
        sql = (
            f"SELECT {names} FROM conversation_sessions"
            " INDEXED BY uq_conversation_sessions_active"
            " WHERE channel IN :channels AND user_id IN :users AND status = 'active'"
            " ORDER BY id"
        )
        return (
            text(sql)
            .bindparams(bindparam("channels", expanding=True), bindparam("users", expanding=True))
            .columns(*table.c)
        )
    return (
        select(table)
        .where(
            table.c.channel.in_(bindparam("channels", expanding=True)),
            table.c.user_id.in_(bindparam("users", expanding=True)),
            table.c.status == _ACTIVE,
        )
        .order_by(table.c.id)
        .with_for_update()
    )


async def due_for_timeout(session: AsyncSession, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` active sessions due a nudge or their expiry by `now`, as plain rows,
    oldest first; rows another worker holds are skipped (PostgreSQL), the rest locked."""
    table = cast(Table, ConversationSession.__table__)
    stmt = (
        select(table)
        .where(
            table.c.status == "active",
            or_(table.c.nudge_at <= now, table.c.expires_at <= now),
        )
        .order_by(table.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [dict(row) for row in (await session.execute(stmt)).mappings()]


async def save(session: AsyncSession, conversation: ConversationSession) -> ConversationSession:
    """Insert or update `conversation` now (flush), so a second active session for the same
    user fails here with `IntegrityError` rather than at commit."""
    session.add(conversation)
    await session.flush()
    return conversation


# What a turn of the conversation writes (`write_turns`, with the status).
TURN_COLUMNS = (
    "chat_id",
    "flow",
    "step",
    "locale",
    "answers",
    "state",
    "updated_at",
    "nudge_at",
    "expires_at",
)


async def write_turns(
    session: AsyncSession,
    updates: Sequence[Mapping[str, Any]],
    inserts: Sequence[Mapping[str, Any]],
) -> None:
    """Store a batch's turns: `updates` (each `row_id`, `status` and every one of
    `TURN_COLUMNS`) on stored rows, then `inserts` (new rows, every column but `id`), one
    statement each. Updates go first: a session ended there frees its user for a new active
    one inserted after it (one active session per user)."""
    if updates:
        await direct.execute(session, "sessions.write_turns", _write_turns, updates)
    if inserts:
        await direct.execute(session, "sessions.insert_many", _insert_many, inserts)


def _write_turns(_dialect: str) -> Update:
    table = cast(Table, ConversationSession.__table__)
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(name) for name in (*TURN_COLUMNS, "status")})
    )


def _insert_many(_dialect: str) -> Insert:
    return direct.insert_all(cast(Table, ConversationSession.__table__))


async def end(
    session: AsyncSession, conversation: ConversationSession, now: datetime, status: str = "ended"
) -> None:
    """Close `conversation` as "ended" (finished or cancelled) or "expired" (idle too long)."""
    if status not in ("ended", "expired"):
        raise ValueError(f"a session ends as 'ended' or 'expired', not {status!r}")
    conversation.status = status
    conversation.updated_at = now
    await session.flush()
