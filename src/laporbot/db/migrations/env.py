"""Alembic environment: runs on the connection `laporbot.db.migrate` hands over.

There is no alembic.ini: an installed laporbot migrates with `laporbot db upgrade` (or on
`laporbot serve` start), which opens the async engine and calls Alembic inside `run_sync`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from laporbot.db.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = context.config.attributes.get("connection")
if not isinstance(_connection, Connection):
    raise RuntimeError(
        "run laporbot's migrations through laporbot.db.migrate (laporbot db upgrade)"
    )
_run(_connection)
