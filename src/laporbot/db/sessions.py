"""Conversation sessions: at most one active per (channel, user_id), kept by a partial unique
index, so two workers handling the same user at once cannot both start one."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Insert,
    Integer,
    Select,
    String,
    Table,
    Update,
    bindparam,
    column,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnClause

from laporbot.db import direct
from laporbot.db._sql import dialect_of, prebuilt
from laporbot.db.models import Contact, ConversationSession, Officer

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


@dataclass(frozen=True, slots=True)
class FirstRead:
    """What a batch's first read found (`load_active_many`)."""

    #: The active sessions, as plain rows (column name to value) by (channel, user_id).
    sessions: dict[tuple[str, str], dict[str, Any]]
    #: Which of the Telegram users asked about have an active officer binding.
    officers: set[str]
    #: The contacts that exist, as plain rows by (channel, platform_user_id), locked; None
    #: when they were not read (SQLite): `contacts.touch_many` then reads them as it writes.
    contacts: dict[tuple[str, str], dict[str, Any]] | None


async def load_active_many(
    session: AsyncSession,
    keys: Collection[tuple[str, str]],
    *,
    officers_among: Collection[str] = (),
) -> FirstRead:
    """A batch's first read: the active sessions of many (channel, user_id) at once, which of
    the Telegram users `officers_among` have an active officer binding (the officer side's
    say, `OfficerDesk.may_take`) and, on PostgreSQL, the people's contacts. ONE statement for
    a batch of updates on PostgreSQL (sessions and contacts locked until the transaction
    ends, in key order, as `load_active` locks one session); two on SQLite (in process:
    nothing to save), which reads no contacts."""
    if not keys:
        return FirstRead({}, set(), None)
    wanted = sorted(set(keys))
    if dialect_of(session) == "postgresql":
        params = {
            "key_channels": [channel for channel, _ in wanted],
            "key_users": [user for _, user in wanted],
            "officers": sorted(officers_among),
        }
        found = await direct.dicts(session, "sessions.first_read", _first_read, params)
        sessions: dict[tuple[str, str], dict[str, Any]] = {}
        contacts: dict[tuple[str, str], dict[str, Any]] = {}
        for key, row in zip(wanted, found, strict=True):
            if row["s_id"] is not None:
                sessions[key] = {name: row[f"s_{name}"] for name in _SESSION_COLUMNS}
            if row["c_id"] is not None:
                contacts[key] = {name: row[f"c_{name}"] for name in _CONTACT_COLUMNS}
        return FirstRead(sessions, set(found[0]["officers"]), contacts)
    params = {
        "channels": sorted({channel for channel, _ in wanted}),
        "users": sorted({user for _, user in wanted}),
    }
    rows = await direct.dicts(session, "sessions.load_many", _load_many, params)
    officers: set[str] = set()
    if officers_among:
        users = {"officers": sorted(officers_among)}
        officers = set(await direct.scalars(session, "sessions.officers", _officers, users))
    keyed = {(row["channel"], row["user_id"]): row for row in rows}
    return FirstRead({key: keyed[key] for key in wanted if key in keyed}, officers, None)


_SESSION_COLUMNS = tuple(c.name for c in cast(Table, ConversationSession.__table__).c)
_CONTACT_COLUMNS = tuple(c.name for c in cast(Table, Contact.__table__).c)


def _first_read(_dialect: str) -> Any:
    # PostgreSQL: one row per person asked about, in key order (`WITH ORDINALITY`): their
    # active session and their contact, both locked (FOR UPDATE inside each LATERAL, so the
    # outer join's empty side locks nothing), beside the officers' bindings as one array.
    # The contact's lock matters: a batch that waited for another's locks reads the contact
    # as that one left it (not the statement's older snapshot), and the retention sweep and
    # an erasure cannot take a contact whose touch is still to come (its `last_inbound_at`
    # is old until the batch's last statement).
    sessions = cast(Table, ConversationSession.__table__)
    contacts = cast(Table, Contact.__table__)
    picked = ", ".join(
        [f"s.{name} AS s_{name}" for name in _SESSION_COLUMNS]
        + [f"c.{name} AS c_{name}" for name in _CONTACT_COLUMNS]
    )
    sql = (
        f"SELECT o.officers, {picked} FROM"
        " (SELECT ARRAY(SELECT DISTINCT telegram_user_id FROM officers"
        " WHERE telegram_user_id = ANY(:officers) AND active IS true AND revoked_at IS NULL)"
        " AS officers) AS o"
        " CROSS JOIN unnest(:key_channels, :key_users) WITH ORDINALITY AS k(channel, user_id, n)"
        f" LEFT JOIN LATERAL (SELECT {', '.join(_SESSION_COLUMNS)} FROM conversation_sessions"
        " WHERE channel = k.channel AND user_id = k.user_id AND status = 'active'"
        " FOR UPDATE) AS s ON true"
        f" LEFT JOIN LATERAL (SELECT {', '.join(_CONTACT_COLUMNS)} FROM contacts"
        " WHERE channel = k.channel AND platform_user_id = k.user_id FOR UPDATE) AS c ON true"
        " ORDER BY k.n"
    )
    return (
        text(sql)
        .bindparams(
            bindparam("officers", type_=ARRAY(String())),
            bindparam("key_channels", type_=ARRAY(String())),
            bindparam("key_users", type_=ARRAY(String())),
        )
        .columns(
            column("officers", ARRAY(String())),
            *(column(f"s_{c.name}", c.type) for c in sessions.c),
            *(column(f"c_{c.name}", c.type) for c in contacts.c),
        )
    )


def _officers(_dialect: str) -> Select[Any]:
    return (
        select(Officer.telegram_user_id)
        .where(
            Officer.telegram_user_id.in_(bindparam("officers", expanding=True)),
            Officer.active.is_(True),
            Officer.revoked_at.is_(None),
        )
        .distinct()
    )


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
    *,
    along_next: bool = False,
) -> direct.Along | None:
    """Store a batch's turns: `updates` (each `row_id`, `status` and every one of
    `TURN_COLUMNS`) on stored rows, then `inserts` (new rows, every column but `id`), one
    statement each. Updates go first: a session ended there frees its user for a new active
    one inserted after it (one active session per user).

    `along_next`, on PostgreSQL with no inserts: the updates are not run here but returned,
    for the caller's next statement to carry (`enqueue_many(along=...)`): a round trip less
    per batch. The caller must then run that statement (or `direct.run_along`)."""
    if updates and along_next and not inserts and dialect_of(session) == "postgresql":
        return _turns_along(updates)
    if updates:
        await direct.execute(session, "sessions.write_turns", _write_turns, updates)
    if inserts:
        await direct.execute(session, "sessions.insert_many", _insert_many, inserts)
    return None


def _turns_along(updates: Sequence[Mapping[str, Any]]) -> direct.Along:
    set_ = (*TURN_COLUMNS, "status")
    names = ("row_id", *set_)
    columns = ", ".join(names)
    arrays = ", ".join(f":turn_{name}" for name in names)
    assignments = ", ".join(f"{name} = u.{name}" for name in set_)
    sql = (
        f"turns AS (UPDATE conversation_sessions AS c SET {assignments}"
        f" FROM unnest({arrays}) AS u({columns}) WHERE c.id = u.row_id)"
    )
    table = cast(Table, ConversationSession.__table__)
    binds = (
        bindparam("turn_row_id", type_=ARRAY(Integer())),
        *direct.array_binds(table, set_, "turn_"),
    )
    params = {f"turn_{name}": [row[name] for row in updates] for name in names}
    return direct.Along("sessions.turns", sql, binds, params)


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
