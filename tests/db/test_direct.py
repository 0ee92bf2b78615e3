"""`db.direct`: prebuilt statements run on the driver connection behave as through SQLAlchemy,
on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from laporbot.db import direct
from laporbot.db.models import Agency, InboxItem, NumberCounter
from tests.db.conftest import Store

NOW = datetime(2026, 3, 25, 9, 0, tzinfo=UTC)
AGENCIES = Agency.__table__
INBOX = cast(Table, InboxItem.__table__)


def _add_agency(_dialect: str) -> Any:
    return insert(AGENCIES).values(
        code=bindparam("code"), name=bindparam("name"), time_zone="Asia/Jakarta"
    )


def _codes_in(_dialect: str) -> Any:
    # An expanding list between two plain parameters, and a literal ("Asia/Jakarta").
    table = AGENCIES.c
    return (
        select(table.code, table.name)
        .where(
            table.name != bindparam("not_named"),
            table.code.in_(bindparam("codes", expanding=True)),
            table.time_zone == "Asia/Jakarta",
            table.name.in_(bindparam("names", expanding=True)),
        )
        .order_by(table.code)
    )


def _store_update(_dialect: str) -> Any:
    return (
        insert(INBOX)
        .values(
            channel="telegram",
            platform_id=bindparam("platform_id"),
            received_at=bindparam("at"),
            payload=bindparam("payload"),
            status="pending",
            attempts=0,
        )
        .returning(INBOX.c.platform_id, INBOX.c.received_at, INBOX.c.payload)
    )


def _received(_dialect: str) -> Any:
    return select(INBOX.c.received_at).where(INBOX.c.platform_id == bindparam("platform_id"))


async def _count(store: Store) -> int:
    async with store.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(AGENCIES)) or 0)


async def test_many_parameter_sets_expanding_lists_and_literals(store: Store) -> None:
    names = [{"code": f"a{i}", "name": f"Office {i}"} for i in range(5)]
    async with store.sessionmaker() as session, session.begin():
        await direct.execute(session, "test.add_agency", _add_agency, names)
        cases = [
            (["a1", "a3", "zz"], ["a1"]),  # a3 is "Office 3", left out by the plain parameter
            (["a4"], ["a4"]),
            ([f"a{i}" for i in range(5)], ["a0", "a1", "a2", "a4"]),
            ([], []),
        ]
        for codes, expected in cases:
            params = {"codes": codes, "names": [n["name"] for n in names], "not_named": "Office 3"}
            found = await direct.rows(session, "test.codes_in", _codes_in, params)
            assert found == [(code, f"Office {code[1:]}") for code in expected]
    assert await _count(store) == 5


async def test_returning_rows_come_in_order_with_the_column_types_applied(store: Store) -> None:
    wib = timezone(timedelta(hours=7))  # stored as UTC, read back in UTC
    sets = [
        {
            "platform_id": str(i),
            "at": (NOW + timedelta(minutes=i)).astimezone(wib),
            "payload": {"n": i},
        }
        for i in (3, 1, 2)
    ]
    async with store.sessionmaker() as session, session.begin():
        found = await direct.dicts(session, "test.store_update", _store_update, sets)
        one = await direct.scalars(session, "test.received", _received, {"platform_id": "1"})
    assert [row["platform_id"] for row in found] == ["3", "1", "2"]
    assert found[1] == {
        "platform_id": "1",
        "received_at": NOW + timedelta(minutes=1),
        "payload": {"n": 1},
    }
    assert found[1]["received_at"].tzinfo is UTC
    assert one == [NOW + timedelta(minutes=1)]
    async with store.sessionmaker() as session:
        item = await session.scalar(select(InboxItem).where(InboxItem.platform_id == "2"))
    assert item is not None
    assert item.payload == {"n": 2}
    assert item.received_at == NOW + timedelta(minutes=2)


async def test_writes_belong_to_the_session_transaction_and_its_savepoints(store: Store) -> None:
    async with store.sessionmaker() as session:
        # The first statement of the (autobegun) transaction: it must begin it (asyncpg starts
        # the transaction lazily), or the rollback below would leave the row.
        await direct.execute(session, "test.add_agency", _add_agency, {"code": "x", "name": "X"})
        await session.rollback()
    assert await _count(store) == 0
    async with store.sessionmaker() as session, session.begin():
        await direct.execute(session, "test.add_agency", _add_agency, {"code": "kept", "name": "K"})
        savepoint = await session.begin_nested()
        await direct.execute(session, "test.add_agency", _add_agency, {"code": "gone", "name": "G"})
        await savepoint.rollback()
    async with store.sessionmaker() as session:
        assert list(await session.scalars(select(Agency.code))) == ["kept"]


async def test_pending_orm_changes_are_flushed_first(store: Store) -> None:
    async with store.sessionmaker() as session, session.begin():
        session.add(Agency(code="orm", name="From the ORM", time_zone="Asia/Jakarta"))
        found = await direct.rows(
            session,
            "test.codes_in",
            _codes_in,
            {"codes": ["orm"], "names": ["From the ORM"], "not_named": ""},
        )
    assert found == [("orm", "From the ORM")]


async def test_integrity_errors_surface_as_sqlalchemy_ones_and_the_session_goes_on(
    store: Store,
) -> None:
    async with store.sessionmaker() as session, session.begin():
        await direct.execute(session, "test.add_agency", _add_agency, {"code": "dup", "name": "A"})
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await direct.execute(
                    session, "test.add_agency", _add_agency, {"code": "dup", "name": "B"}
                )
        await direct.execute(session, "test.add_agency", _add_agency, {"code": "ok", "name": "C"})
    assert await _count(store) == 2


def _counter_without_value(_dialect: str) -> Any:
    return insert(cast(Table, NumberCounter.__table__)).values(name=bindparam("name"))


def _inbox_without_defaults(_dialect: str) -> Any:
    # status and attempts have Python-side defaults, which direct statements do not apply.
    return insert(INBOX).values(
        channel="telegram",
        platform_id=bindparam("platform_id"),
        received_at=bindparam("at"),
        payload={},
    )


def _not_in(_dialect: str) -> Any:
    return select(AGENCIES.c.code).where(AGENCIES.c.code.not_in(bindparam("codes", expanding=True)))


async def test_statements_direct_execution_cannot_run_as_compiled_are_refused(
    store: Store,
) -> None:
    async with store.sessionmaker() as session, session.begin():
        with pytest.raises(ValueError, match=r"status, attempts|attempts, status"):
            await direct.execute(
                session,
                "test.inbox_without_defaults",
                _inbox_without_defaults,
                {"platform_id": "1", "at": NOW},
            )
        if store.dialect == "postgresql":
            with pytest.raises(ValueError, match="NOT IN"):
                await direct.rows(session, "test.not_in", _not_in, {"codes": ["a"]})
        with pytest.raises(IntegrityError):  # value NOT NULL: the database says so
            await direct.execute(
                session, "test.counter_without_value", _counter_without_value, {"name": "n"}
            )


async def test_an_update_with_many_sets_and_an_empty_list_of_sets(store: Store) -> None:
    def rename(_dialect: str) -> Any:
        return update(AGENCIES).where(AGENCIES.c.code == bindparam("c")).values(name=bindparam("n"))

    async with store.sessionmaker() as session, session.begin():
        await direct.execute(
            session,
            "test.add_agency",
            _add_agency,
            [{"code": "a", "name": "A"}, {"code": "b", "name": "B"}],
        )
        await direct.execute(
            session, "test.rename", rename, [{"c": "a", "n": "A2"}, {"c": "b", "n": "B2"}]
        )
        assert await direct.rows(session, "test.rename", rename, []) == []
    async with store.sessionmaker() as session:
        assert list(await session.scalars(select(Agency.name).order_by(Agency.code))) == [
            "A2",
            "B2",
        ]


async def test_a_parameter_not_given_is_an_error_not_a_null(store: Store) -> None:
    async with store.sessionmaker() as session, session.begin():
        with pytest.raises(KeyError, match="name"):
            await direct.execute(session, "test.add_agency", _add_agency, {"code": "x"})
        # insert_all binds every column but the key, by name.
        table = cast(Table, Agency.__table__)
        stmt = direct.insert_all(table)
        assert sorted(stmt.compile().params) == ["code", "name", "time_zone"]
