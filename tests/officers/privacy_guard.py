"""A suite-wide guard: every message any test queues for a group chat is checked against the
protected data of the cases in that database (UU 11/2012 Pasal 19).

Installed for every test by an autouse fixture in tests/conftest.py. It listens on SQLAlchemy's
`Session`: `do_orm_execute` sees the outbox INSERT of `laporbot.db.outbox.enqueue`, and
`before_flush` sees a queued row rewritten through the ORM. A violation raises
`PrivacyViolation` inside the test's transaction, so the test fails where the leak happens.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql.dml import Insert

from laporbot.db.models import Case, OfficerGroup, OutboxMessage
from laporbot.db.outbox import from_payload
from laporbot.privacy import check_group_message, is_group_chat


class GuardStats:
    """How many group messages the guard has inspected in this run."""

    inspected = 0


def _is_group(session: Session, channel: str, chat_id: str) -> bool:
    if is_group_chat(channel, chat_id):
        return True
    with session.no_autoflush:
        found = session.execute(
            select(OfficerGroup.id).where(
                OfficerGroup.channel == channel, OfficerGroup.chat_id == chat_id
            )
        ).first()
    return found is not None


def _check(session: Session, payload: dict[str, Any]) -> None:
    channel = str(payload.get("channel", ""))
    chat_id = str(payload.get("chat_id", ""))
    if not _is_group(session, channel, chat_id):
        return
    message = from_payload(payload)
    with session.no_autoflush:
        # Every case in the test's database: a group message must leak none of them, whether
        # or not it names the case it is about.
        cases = list(session.execute(select(Case).limit(1000)).scalars())
    GuardStats.inspected += 1
    check_group_message(message, cases)


def _on_execute(state: ORMExecuteState) -> None:
    statement = state.statement
    if not isinstance(statement, Insert) or statement.table.name != OutboxMessage.__tablename__:
        return
    # A bulk insert (`execute(insert(OutboxMessage), [rows])`) carries its rows as the
    # execution parameters; `insert(...).values(...)` carries them in the statement.
    given = state.parameters
    rows: list[Any]
    if isinstance(given, list | tuple):
        rows = list(given)
    elif isinstance(given, dict) and given:
        rows = [given]
    else:
        rows = [statement.compile().params]
    for row in rows:
        payload = row.get("payload") if isinstance(row, dict) else None
        if isinstance(payload, dict):
            _check(state.session, payload)


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for item in [*session.new, *session.dirty]:
        if isinstance(item, OutboxMessage) and isinstance(item.payload, dict):
            _check(session, item.payload)


def install() -> None:
    """Start checking (idempotent)."""
    if not event.contains(Session, "do_orm_execute", _on_execute):
        event.listen(Session, "do_orm_execute", _on_execute)
        event.listen(Session, "before_flush", _before_flush)


def uninstall() -> None:
    """Stop checking."""
    if event.contains(Session, "do_orm_execute", _on_execute):
        event.remove(Session, "do_orm_execute", _on_execute)
        event.remove(Session, "before_flush", _before_flush)
