"""Small helpers shared by the repository modules: dialect-aware INSERT ... ON CONFLICT."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


def dialect_of(session: AsyncSession) -> str:
    """ "sqlite" or "postgresql"."""
    return session.get_bind().dialect.name


def upsert_insert(session: AsyncSession, model: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that knows ON CONFLICT on both SQLite (3.24+) and PostgreSQL."""
    return dialect_insert(dialect_of(session), model)


_STATEMENTS: dict[tuple[str, str], Any] = {}


def prebuilt(session: AsyncSession, name: str, build: Callable[[str], T]) -> T:
    """The statement `build(dialect)` makes, built once per dialect and then reused.

    For the hot paths (every inbound update runs a dozen statements): a statement object
    reused with bound parameters skips building the expression and computing its cache key on
    every call; SQLAlchemy's compiled cache then finds its SQL at once. `build` must make the
    same statement every time (values come in as `bindparam`s, never as literals)."""
    dialect = dialect_of(session)
    key = (dialect, name)
    statement = _STATEMENTS.get(key)
    if statement is None:
        statement = _STATEMENTS[key] = build(dialect)
    return cast(T, statement)


def dialect_insert(dialect: str, model: Any) -> postgresql.Insert | sqlite.Insert:
    """`upsert_insert` for a dialect name (for `prebuilt` builders)."""
    return postgresql.insert(model) if dialect == "postgresql" else sqlite.insert(model)
