"""Contacts: one citizen on one channel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db._sql import dialect_insert, prebuilt
from laporbot.db.models import Contact


def _touch_statement(dialect: str) -> Any:
    insert = dialect_insert(dialect, Contact).values(
        channel=bindparam("channel"),
        platform_user_id=bindparam("platform_user_id"),
        chat_id=bindparam("chat_id"),
        locale=bindparam("locale"),
        created_at=bindparam("now"),
        last_inbound_at=bindparam("now"),
    )
    return insert.on_conflict_do_update(
        index_elements=[Contact.channel, Contact.platform_user_id],
        set_={
            "chat_id": insert.excluded.chat_id,
            "last_inbound_at": insert.excluded.last_inbound_at,
        },
    ).returning(Contact)


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
