"""Contacts: one citizen on one channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db._sql import dialect_insert, prebuilt
from laporbot.db.models import Contact


def _touch_statement(dialect: str) -> Any:
    # Run for every citizen message: built once, a Core upsert whose returned row the ORM
    # loads (`from_statement`), which costs half of an ORM-enabled INSERT ... RETURNING.
    table = Contact.__table__
    insert = dialect_insert(dialect, table).values(
        channel=bindparam("channel"),
        platform_user_id=bindparam("platform_user_id"),
        chat_id=bindparam("chat_id"),
        locale=bindparam("locale"),
        created_at=bindparam("now"),
        last_inbound_at=bindparam("now"),
    )
    upsert = insert.on_conflict_do_update(
        index_elements=[table.c.channel, table.c.platform_user_id],
        set_={
            "chat_id": insert.excluded.chat_id,
            "last_inbound_at": insert.excluded.last_inbound_at,
        },
    ).returning(*table.c)
    return select(Contact).from_statement(upsert)


async def touch(
    session: AsyncSession,
    *,
    channel: str,
    platform_user_id: str,
    chat_id: str,
    now: datetime,
    locale: str | None = None,
) -> Contact:
    """The contact of this channel user, created on first sight; records `now` as the last
    inbound message (WhatsApp's 24-hour window) and the current chat id."""
    params = {
        "channel": channel,
        "platform_user_id": platform_user_id,
        "chat_id": chat_id,
        "locale": locale,
        "now": now,
    }
    result = await session.scalars(
        prebuilt(session, "contacts.touch", _touch_statement),
        params,
        execution_options={"populate_existing": True},
    )
    contact: Contact = result.one()
    return contact
