"""The hot path's statements, run straight on the transaction's driver connection.

Every inbound batch runs about a dozen statements. Through `Session.execute` each costs 100 to
200 µs of CPU (execution context, parameter handling, result wrapping) where the driver takes
10 to 20 µs; at a few hundred updates a second that overhead was the largest single cost of the
pipeline (bench/inbound.py, README "Benchmarks"). For the statements of that path, built once
(`db._sql.prebuilt`), this module keeps what SQLAlchemy compiles, the SQL and its column types'
bind and result processors, and executes it on the session's own driver connection: the same
SQL with the same values, in the same transaction and savepoint.

What SQLAlchemy's execution does and this does too:
- autoflush: the session's pending ORM changes are flushed first;
- literal values in the statement (`status = 'pending'`, `LIMIT 1`) are bound as compiled;
- expanding IN parameters (`bindparam(..., expanding=True)`): SQLite gets one placeholder per
  value (the SQL kept per list length), PostgreSQL one array (`= ANY($n::VARCHAR[])`, one
  prepared statement for every length);
- many parameter sets (a list): executemany; with RETURNING, SQLite steps the statement once
  per set and asyncpg pipelines them (`fetchmany`, one round trip); rows come back in order;
- driver errors surface as SQLAlchemy's (`sqlalchemy.exc.IntegrityError`, ...);
- `before_cursor_execute` listeners are told of each statement (counters, tracing).

What it does not: rows are tuples or dicts, never ORM objects; Python-side column defaults are
not applied (a statement that would need one is refused when compiled: give every value, see
`insert_all`); a parameter not given is a `KeyError`, never NULL; `echo` does not log these.
SQLite statements run inline on the loop thread, as `db.sqlite_inline` runs a transaction's
statements. On PostgreSQL the transaction is begun the way SQLAlchemy's asyncpg adapter begins
it, through the adapter's own (private) members: `tests/db/test_direct.py` checks it.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import ARRAY, BindParameter, Table, bindparam, exc, insert, text
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Insert

from laporbot.db._sql import prebuilt

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]]
_Processor = Callable[[Any], Any] | None

_EXPANDING = re.compile(r"__\[POSTCOMPILE_(\w+)\]")
_EXPANDING_IN = re.compile(r"(NOT )?IN \(__\[POSTCOMPILE_(\w+)\]\)")


@dataclass(slots=True)
class _Bind:
    name: str
    process: _Processor
    expanding: bool
    default: Any  # the compiled literal value, or _REQUIRED: the caller gives it


@dataclass(slots=True)
class _Compiled:
    """One statement compiled for one dialect, ready for the driver."""

    dialect: str
    sql: str
    binds: list[_Bind]
    keys: list[str]  # the returned columns' names
    results: list[_Processor] | None  # their result processors (None: none has one)
    expands: bool  # has an expanding IN list
    #: SQLite: the SQL for each tuple of expanding-list lengths.
    expanded: dict[tuple[int, ...], str] = field(default_factory=dict)

    @property
    def returns(self) -> bool:
        return bool(self.keys)

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for one parameter set (processed for the driver)."""
        values: list[Any] = []
        tail: list[Any] = []  # PostgreSQL: the expanding arrays come last ($m+1, ...)
        for bind in self.binds:
            value = params[bind.name] if bind.default is _REQUIRED else bind.default
            process = bind.process
            if bind.expanding:
                items = [process(v) for v in value] if process is not None else list(value)
                if self.dialect == "sqlite":
                    values.extend(items)
                else:
                    tail.append(items)
            else:
                values.append(value if process is None else process(value))
        return values + tail if tail else values

    def sql_for(self, params: Mapping[str, Any]) -> str:
        """The SQL for one parameter set (SQLite expands IN lists to one `?` per value)."""
        if self.dialect != "sqlite" or not self.expands:
            return self.sql
        lengths = tuple(len(params[b.name]) for b in self.binds if b.expanding)
        sql = self.expanded.get(lengths)
        if sql is None:
            if len(self.expanded) >= _MAX_EXPANDED:
                self.expanded.clear()
            sizes = iter(lengths)
            sql = _EXPANDING.sub(lambda _m: ", ".join("?" * next(sizes)), self.sql)
            self.expanded[lengths] = sql
        return sql

    def row(self, raw: Sequence[Any]) -> tuple[Any, ...]:
        if self.results is None:
            return tuple(raw)
        return tuple(
            value if process is None else process(value)
            for value, process in zip(raw, self.results, strict=True)
        )


_REQUIRED = object()
_COMPILED: dict[tuple[str, str], _Compiled] = {}
#: SQLite keeps the SQL of at most this many list lengths per statement.
_MAX_EXPANDED = 256


@dataclass(frozen=True, slots=True)
class Along:
    """A write that the caller's next statement carries as a writable CTE (PostgreSQL): two
    writes in one round trip. `sql` is the CTE, `name AS (...)`, with `:name` parameters;
    `binds` type them and `params` give their values. PostgreSQL runs a data-modifying CTE
    once and to completion whether or not the statement reads it (`run_along` runs one on
    its own)."""

    name: str
    sql: str
    binds: tuple[BindParameter[Any], ...]
    params: Mapping[str, Any]

    @staticmethod
    def both(first: Along | None, second: Along | None) -> Along | None:
        """Two writes carried by one statement, `first`'s CTE before `second`'s (their CTE
        and parameter names must differ); either alone when the other is None."""
        if first is None or second is None:
            return first or second
        return Along(
            f"{first.name}+{second.name}",
            f"{first.sql}, {second.sql}",
            first.binds + second.binds,
            {**first.params, **second.params},
        )


def array_binds(table: Table, names: Sequence[str], prefix: str) -> tuple[BindParameter[Any], ...]:
    """One array parameter `<prefix><name>` per column of `table` named, typed as arrays of
    that column's type (for `unnest(...)` over many rows, PostgreSQL)."""
    return tuple(
        bindparam(f"{prefix}{name}", type_=ARRAY(table.c[name].type, dimensions=1))
        for name in names
    )


async def run_along(session: AsyncSession, along: Along) -> None:
    """`along` on its own, when the statement that was to carry it has nothing to do."""

    def build(_dialect: str) -> Any:
        return text(f"WITH {along.sql} SELECT 1").bindparams(*along.binds)

    await execute(session, f"along:{along.name}", build, along.params)


def insert_all(table: Table) -> Insert:
    """An INSERT of every column but an autoincrement primary key, each bound by its name
    (a direct INSERT names its values)."""
    return insert(table).values(
        {c.name: bindparam(c.name) for c in table.c if not (c.primary_key and c.autoincrement)}
    )


def _compile(session: AsyncSession, name: str, build: Callable[[str], Any]) -> _Compiled:
    dialect = session.get_bind().dialect
    compiled = _COMPILED.get((dialect.name, name))
    if compiled is None:
        statement = prebuilt(session, name, build)
        compiled = _COMPILED[dialect.name, name] = _prepare(statement, dialect)
    return compiled


def _prepare(statement: Any, dialect: Dialect) -> _Compiled:
    """Compile `statement` for `dialect` (an INSERT names its values: `.values(...)`)."""
    options: dict[str, Any] = {}
    if isinstance(statement, Insert):
        # No implicit RETURNING of the primary key (SQLAlchemy adds it to a one-row INSERT).
        options["for_executemany"] = True
    compiled = statement.compile(dialect=dialect, **options)
    if getattr(compiled, "insert_prefetch", None):
        missing = ", ".join(column.name for column in compiled.insert_prefetch)
        raise ValueError(f"a direct INSERT must give every value; Python defaults of: {missing}")
    if not compiled.positional or compiled.positiontup is None:
        raise ValueError(f"direct statements need a positional paramstyle, not {dialect.name}")
    sql = compiled.string
    expanding = {name for name in compiled.positiontup if compiled.binds[name].expanding}
    if dialect.name != "sqlite" and expanding:
        sql = _as_any(sql, compiled, dialect, len(compiled.positiontup) - len(expanding))
    binds = []
    for name in compiled.positiontup:
        bind = compiled.binds[name]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        default = _REQUIRED if bind.required else bind.effective_value
        binds.append(_Bind(name, process, name in expanding, default))
    # A textual statement returns nothing unless given its columns (`text(...).columns(...)`).
    columns = list(getattr(statement, "exported_columns", ()))
    results = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
    return _Compiled(
        dialect=dialect.name,
        sql=sql,
        binds=binds,
        keys=[column.key for column in columns],
        results=results if any(p is not None for p in results) else None,
        expands=bool(expanding),
    )


def _as_any(sql: str, compiled: Any, dialect: Dialect, plain: int) -> str:
    """PostgreSQL: each `IN (<expanding>)` becomes `= ANY($n::TYPE[])`, numbered after the
    `plain` other parameters (in the order `arguments` appends them)."""
    order = [name for name in compiled.positiontup if compiled.binds[name].expanding]

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            raise ValueError("direct statements do not take NOT IN lists")
        name = match.group(2)
        element = dialect.type_compiler_instance.process(compiled.binds[name].type)
        return f"= ANY(${plain + 1 + order.index(name)}::{element}[])"

    return _EXPANDING_IN.sub(replace, sql)


async def _flush_pending(session: AsyncSession) -> None:
    """Autoflush, as an ORM statement would: pending ORM changes go first."""
    sync = session.sync_session
    if sync.autoflush and (sync.new or sync.deleted or sync.identity_map.check_modified()):
        await session.flush()


async def _driver_of(session: AsyncSession) -> tuple[Connection, Any]:
    """The connection of the session's transaction and its pooled DBAPI connection (driver
    and adapter), begun if it was not. Kept for the innermost transaction, since asking the
    session costs more than a statement here; a new savepoint asks again (SQLAlchemy emits
    SAVEPOINT only then)."""
    sync = session.sync_session
    current = sync.get_nested_transaction() or sync.get_transaction()
    known = session.info.get(_DRIVER)
    if known is not None and current is not None and known[0] is current and current.is_active:
        return cast(tuple[Connection, Any], known[1])
    connection = (await session.connection()).sync_connection  # begins it, or raises
    assert connection is not None
    kept = (connection, connection.connection)
    session.info[_DRIVER] = (sync.get_nested_transaction() or sync.get_transaction(), kept)
    return kept


_DRIVER = "laporbot.direct.driver"


async def _run(
    session: AsyncSession, name: str, build: Callable[[str], Any], params: Params
) -> tuple[_Compiled, list[tuple[Any, ...]]]:
    compiled = _compile(session, name, build)
    many = not isinstance(params, Mapping)
    sets: list[Mapping[str, Any]] = [params] if isinstance(params, Mapping) else list(params)
    if not sets:
        return compiled, []
    await _flush_pending(session)
    connection, fairy = await _driver_of(session)
    listeners = connection.dispatch.before_cursor_execute
    if listeners:
        # What SQLAlchemy tells `before_cursor_execute` listeners (statement counters,
        # tracing), without a cursor or an execution context.
        for listen in listeners:
            listen(connection, None, compiled.sql, sets if many else sets[0], None, many)
    if compiled.dialect == "sqlite":
        driver: Any = fairy.driver_connection
        found = _run_sqlite(driver.sqlite, compiled, sets, many)
    else:
        found = await _run_asyncpg(fairy.dbapi_connection, compiled, sets, many)
    return compiled, found


async def rows(
    session: AsyncSession, name: str, build: Callable[[str], Any], params: Params
) -> list[tuple[Any, ...]]:
    """Run the statement `build` makes (kept as `name`, see `prebuilt`) with `params` (one
    set, or a list of sets) on the session's driver connection; the rows it returns, if any
    (in the order of the parameter sets)."""
    return (await _run(session, name, build, params))[1]


async def execute(
    session: AsyncSession, name: str, build: Callable[[str], Any], params: Params
) -> None:
    """`rows` for a statement whose rows are not wanted."""
    await _run(session, name, build, params)


async def dicts(
    session: AsyncSession, name: str, build: Callable[[str], Any], params: Params
) -> list[dict[str, Any]]:
    """`rows` as dicts (column name to value)."""
    compiled, found = await _run(session, name, build, params)
    return [dict(zip(compiled.keys, row, strict=True)) for row in found]


async def scalars(
    session: AsyncSession, name: str, build: Callable[[str], Any], params: Params
) -> list[Any]:
    """The first column of `rows`."""
    return [row[0] for row in await rows(session, name, build, params)]


def _run_sqlite(
    connection: sqlite3.Connection,
    compiled: _Compiled,
    sets: Sequence[Mapping[str, Any]],
    many: bool,
) -> list[tuple[Any, ...]]:
    # Inline on the loop thread: inside laporbot's transactions (BEGIN IMMEDIATE) SQLite's
    # write lock is held already, so nothing here waits (see db.sqlite_inline).
    found: list[tuple[Any, ...]] = []
    try:
        if many and not compiled.returns and not compiled.expands:
            connection.executemany(compiled.sql, [compiled.arguments(p) for p in sets])
            return found
        for params in sets:
            cursor = connection.execute(compiled.sql_for(params), compiled.arguments(params))
            try:
                if compiled.returns:
                    found.extend(compiled.row(raw) for raw in cursor.fetchall())
            finally:
                cursor.close()
    except sqlite3.Error as error:
        raise exc.DBAPIError.instance(compiled.sql, None, error, sqlite3.Error) from error
    return found


async def _run_asyncpg(
    adapted: Any, compiled: _Compiled, sets: Sequence[Mapping[str, Any]], many: bool
) -> list[tuple[Any, ...]]:
    # SQLAlchemy's asyncpg adapter starts the transaction with the first statement run
    # through it; a statement here may be the first, so it starts it the same way, under the
    # adapter's lock.
    driver = adapted.driver_connection
    arguments = [compiled.arguments(p) for p in sets]
    async with adapted._execute_mutex:
        if adapted._transaction is None:
            await adapted._start_transaction()
        try:
            if many:
                if not compiled.returns:
                    await driver.executemany(compiled.sql, arguments)
                    return []
                raw = await driver.fetchmany(compiled.sql, arguments)
            else:
                raw = await driver.fetch(compiled.sql, *arguments[0])
        except Exception as error:
            try:
                adapted._handle_exception(error)  # raises it translated
            except Exception as translated:
                raise exc.DBAPIError.instance(
                    compiled.sql, None, translated, adapted.dbapi.Error
                ) from error
            raise
    return [compiled.row(record) for record in raw]
