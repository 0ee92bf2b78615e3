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


@dataclass(frozen=True, slots=True)
class FirstReadAsk:
    """What a batch's first read is to find: the people (channel, user_id) and the Telegram
    users whose officer bindings matter, both sorted, without repeats (`first_read_ask`)."""

    keys: tuple[tuple[str, str], ...]
    officers_among: tuple[str, ...]

    def params(self) -> dict[str, Any]:
        """The first read's parameters (PostgreSQL), for `first_read_sql` too."""
        return {
            "key_channels": [channel for channel, _ in self.keys],
            "key_users": [user for _, user in self.keys],
            "officers": list(self.officers_among),
        }

    def covers(self, keys: Collection[tuple[str, str]], officers_among: Collection[str]) -> bool:
        return set(keys) <= set(self.keys) and set(officers_among) <= set(self.officers_among)


def first_read_ask(
    keys: Collection[tuple[str, str]], officers_among: Collection[str] = ()
) -> FirstReadAsk:
    return FirstReadAsk(tuple(sorted(set(keys))), tuple(sorted(set(officers_among))))


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
    ends, in key order, as `load_active` locks one session), or none when the transaction's
    first statement read them already (`keep_first_read`); two on SQLite (in process:
    nothing to save), which reads no contacts."""
    if not keys:
        return FirstRead({}, set(), None)
    ask = first_read_ask(keys, officers_among)
    if dialect_of(session) == "postgresql":
        kept = _kept_first_read(session, ask)
        if kept is not None:
            return kept
        found = await direct.dicts(session, "sessions.first_read", _first_read, ask.params())
        return first_read_of(ask, found)
    wanted = ask.keys
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


def first_read_of(ask: FirstReadAsk, found: Sequence[Mapping[str, Any]]) -> FirstRead:
    """The first read from its rows (`first_read_sql`'s columns, one row per key)."""
    sessions: dict[tuple[str, str], dict[str, Any]] = {}
    contacts: dict[tuple[str, str], dict[str, Any]] = {}
    for key, row in zip(ask.keys, found, strict=True):
        if row["s_id"] is not None:
            sessions[key] = {name: row[f"s_{name}"] for name in _SESSION_COLUMNS}
        if row["c_id"] is not None:
            contacts[key] = {name: row[f"c_{name}"] for name in _CONTACT_COLUMNS}
    return FirstRead(sessions, set(found[0]["officers"]) if found else set(), contacts)


def keep_first_read(session: AsyncSession, ask: FirstReadAsk, read: FirstRead) -> None:
    """What a transaction's first statement read along (`first_read_sql`, PostgreSQL: the
    inbox's insert of a group), for this transaction's `load_active_many` of those people:
    a round trip fewer on every group. Used once, and only in the transaction it was read
    in, outside any savepoint."""
    sync = session.sync_session
    session.info[_KEPT] = (sync.get_transaction(), ask, read)


def _kept_first_read(session: AsyncSession, ask: FirstReadAsk) -> FirstRead | None:
    kept = session.info.pop(_KEPT, None)
    if kept is None:
        return None
    transaction, asked, read = kept
    sync = session.sync_session
    current = sync.get_transaction()
    if (
        current is None
        or transaction is not current
        or not current.is_active
        or sync.get_nested_transaction() is not None
        or not asked.covers(ask.keys, ask.officers_among)
    ):
        return None
    wanted = set(ask.keys)
    return FirstRead(
        {key: row for key, row in read.sessions.items() if key in wanted},
        read.officers & set(ask.officers_among),
        None
        if read.contacts is None
        else {key: row for key, row in read.contacts.items() if key in wanted},
    )


_KEPT = "laporbot.sessions.first_read"


_SESSION_COLUMNS = tuple(c.name for c in cast(Table, ConversationSession.__table__).c)
_CONTACT_COLUMNS = tuple(c.name for c in cast(Table, Contact.__table__).c)


def first_read_sql() -> tuple[str, str, list[Any], list[Any]]:
    """The first read as parts of a statement (PostgreSQL): its select list, its FROM clause
    (ordered by `k.n`, one row per key), its bound parameters (`FirstReadAsk.params`) and its
    columns, for a statement that reads it along (`db.inbox`)."""
    # One row per person asked about, in key order (`WITH ORDINALITY`): their active
    # session and their contact, both locked (FOR UPDATE inside each LATERAL, so the outer
    # join's empty side locks nothing), beside the officers' bindings as one array. The
    # contact's lock matters: a batch that waited for another's locks reads the contact as
    # that one left it (not the statement's older snapshot), and the retention sweep and an
    # erasure cannot take a contact whose touch is still to come (its `last_inbound_at` is
    # old until the batch's last statement).
    sessions = cast(Table, ConversationSession.__table__)
    contacts = cast(Table, Contact.__table__)
    picked = ", ".join(
        ["o.officers"]
        + [f"s.{name} AS s_{name}" for name in _SESSION_COLUMNS]
        + [f"c.{name} AS c_{name}" for name in _CONTACT_COLUMNS]
    )
    source = (
        "(SELECT ARRAY(SELECT DISTINCT telegram_user_id FROM officers"
        " WHERE telegram_user_id = ANY(:officers) AND active IS true AND revoked_at IS NULL)"
        " AS officers) AS o"
        " CROSS JOIN unnest(:key_channels, :key_users) WITH ORDINALITY AS k(channel, user_id, n)"
        f" LEFT JOIN LATERAL (SELECT {', '.join(_SESSION_COLUMNS)} FROM conversation_sessions"
        " WHERE channel = k.channel AND user_id = k.user_id AND status = 'active'"
        " FOR UPDATE) AS s ON true"
        f" LEFT JOIN LATERAL (SELECT {', '.join(_CONTACT_COLUMNS)} FROM contacts"
        " WHERE channel = k.channel AND platform_user_id = k.user_id FOR UPDATE) AS c ON true"
    )
    binds = [
        bindparam("officers", type_=ARRAY(String())),
        bindparam("key_channels", type_=ARRAY(String())),
        bindparam("key_users", type_=ARRAY(String())),
    ]
    columns = [
        column("officers", ARRAY(String())),
        *(column(f"s_{c.name}", c.type) for c in sessions.c),
        *(column(f"c_{c.name}", c.type) for c in contacts.c),
    ]
    return picked, source, binds, columns


def _first_read(_dialect: str) -> Any:
    picked, source, binds, columns = first_read_sql()
    sql = f"SELECT {picked} FROM {source} ORDER BY k.n"
    return text(sql).bindparams(*binds).columns(*columns)


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
