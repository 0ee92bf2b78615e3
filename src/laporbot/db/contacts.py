"""Contacts: one citizen on one channel."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db._sql import upsert_insert
from laporbot.db.models import Contact


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
    insert = upsert_insert(session, Contact).values(
        channel=channel,
        platform_user_id=platform_user_id,
        chat_id=chat_id,
        locale=locale,
        created_at=now,
        last_inbound_at=now,
    )
    stmt = insert.on_conflict_do_update(
        index_elements=[Contact.channel, Contact.platform_user_id],
        set_={"chat_id": chat_id, "last_inbound_at": now},
    ).returning(Contact)
    result = await session.scalars(stmt, execution_options={"populate_existing": True})
    contact: Contact = result.one()
    return contact
