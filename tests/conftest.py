"""Suite-wide guards: unit tests never reach past loopback."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: Any) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_local(address):
        raise RuntimeError(f"test tried to reach the network: {address!r}")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_local(address):
        raise RuntimeError(f"test tried to reach the network: {address!r}")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", _guarded_connect_ex)


# Storage fixtures for any test that needs a real database: a fresh, migrated SQLite file (WAL)
# per test, copied from a template migrated once per run. The storage contract suite in
# tests/db/ also runs on PostgreSQL.


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once per run; tests get copies, never this file."""
    from tests.db.support import build_sqlite_template

    return build_sqlite_template(tmp_path_factory.mktemp("db-template"))


@pytest.fixture
async def db_engine(migrated_sqlite_template: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An async engine on a fresh, migrated SQLite database of this test's own."""
    from laporbot.db.engine import create_engine_for_url
    from tests.db.support import copy_sqlite_template

    engine = create_engine_for_url(copy_sqlite_template(migrated_sqlite_template, tmp_path / "db"))
    yield engine
    await engine.dispose()


@pytest.fixture
def db_sessionmaker(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on `db_engine` (`expire_on_commit=False`, as in production)."""
    from laporbot.db.engine import make_sessionmaker

    return make_sessionmaker(db_engine)


@pytest.fixture(autouse=True)
def _no_child_identity_in_groups() -> Iterator[None]:
    """Every group message any test queues is checked for a child's identity (UU 11/2012
    Pasal 19): see tests/officers/privacy_guard.py."""
    from tests.officers import privacy_guard

    privacy_guard.install()
    yield
    privacy_guard.uninstall()
