"""The statements every inbound update runs find their rows through an index, not by reading
every active conversation (SQLite plans without statistics, as a fresh deployment has)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.sessions import _load_active, _load_many

ACTIVE_INDEX = "uq_conversation_sessions_active"


async def plan(
    sessions: async_sessionmaker[AsyncSession], statement: Any, params: dict[str, Any]
) -> str:
    """SQLite's query plan of `statement` with `params`, its steps joined."""
    expanded = statement.compile(dialect=sqlite.dialect()).construct_expanded_state(params)
    values = tuple(expanded.parameters[name] for name in expanded.positiontup or ())
    async with sessions() as session:
        connection = await session.connection()
        rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {expanded.statement}", values)
        return " | ".join(str(row[-1]) for row in rows)


async def test_one_users_active_session_is_found_through_the_partial_index(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    found = await plan(db_sessionmaker, _load_active("sqlite"), {"channel": "web", "user_id": "1"})
    assert ACTIVE_INDEX in found


async def test_a_batchs_active_sessions_are_found_through_the_partial_index(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    params = {"channels": ["telegram", "web"], "users": ["1", "2", "3"]}
    found = await plan(db_sessionmaker, _load_many("sqlite"), params)
    assert ACTIVE_INDEX in found
    assert "status_" not in found  # not a status index (every active session)
