"""Small helpers shared by the repository modules: dialect-aware INSERT ... ON CONFLICT."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_of(session: AsyncSession) -> str:
    """ "sqlite" or "postgresql"."""
    return session.get_bind().dialect.name


def upsert_insert(session: AsyncSession, model: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that knows ON CONFLICT on both SQLite (3.24+) and PostgreSQL."""
    if dialect_of(session) == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)
