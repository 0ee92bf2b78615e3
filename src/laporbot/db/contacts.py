"""Contacts: one citizen on one channel."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db import direct
from laporbot.db._sql import dialect_insert, prebuilt
from laporbot.db.models import Contact


def _upsert(dialect: str) -> Any:
    table = Contact.__table__
    insert = dialect_insert(dialect, table).values(
        channel=bindparam("channel"),
        platform_user_id=bindparam("platform_user_id"),
        chat_id=bindparam("chat_id"),
        locale=bindparam("locale"),
        # Two names for the same time: asyncpg's multi-row form of this statement sends one
        # value per name and row.
        created_at=bindparam("created_at"),
        last_inbound_at=bindparam("seen_at"),
    )
    return insert.on_conflict_do_update(
        index_elements=[table.c.channel, table.c.platform_user_id],
        set_={
            "chat_id": insert.excluded.chat_id,
            "last_inbound_at": insert.excluded.last_inbound_at,
        },
    ).returning(*table.c)


def _touch_statement(dialect: str) -> Any:
    # Built once: a Core upsert whose returned row the ORM loads (`from_statement`), which
    # costs half of an ORM-enabled INSERT ... RETURNING.
    return select(Contact).from_statement(_upsert(dialect))


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
        "created_at": now,
        "seen_at": now,
    }
    result = await session.scalars(
        prebuilt(session, "contacts.touch", _touch_statement),
        params,
        execution_options={"populate_existing": True},
    )
    contact: Contact = result.one()
    return contact


async def touch_many(
    session: AsyncSession, people: Sequence[tuple[str, str, str]], now: datetime
) -> dict[tuple[str, str], dict[str, Any]]:
    """`touch` for many (channel, platform_user_id, chat_id) at once, with ONE statement:
    the contacts as plain rows (column name to value) by (channel, platform_user_id). A person
    named twice keeps the last chat id. Rows are written in sorted order, so two transactions
    touching overlapping sets take their locks in the same order."""
    latest = {(channel, user): chat for channel, user, chat in people}
    if not latest:
        return {}
    params = [
        {
            "channel": channel,
            "platform_user_id": user,
            "chat_id": chat,
            "locale": None,
            "created_at": now,
            "seen_at": now,
        }
        for (channel, user), chat in sorted(latest.items())
    ]
    found = await direct.dicts(session, "contacts.touch_many", _upsert, params)
    return {(row["channel"], row["platform_user_id"]): row for row in found}


def unsaved(channel: str, platform_user_id: str, chat_id: str, now: datetime) -> dict[str, Any]:
    """The row a first message's `touch` will insert, its `id` None until then."""
    return {
        "id": None,
        "channel": channel,
        "platform_user_id": platform_user_id,
        "chat_id": chat_id,
        "locale": None,
        "phone": None,
        "consent_at": None,
        "last_inbound_at": now,
        "created_at": now,
        "erased_at": None,
    }


_TOUCHED = ("channel", "platform_user_id", "chat_id", "locale")


def touch_along(people: Sequence[tuple[str, str, str, str | None]], now: datetime) -> direct.Along:
    """`touch_many` for (channel, platform_user_id, chat_id, locale) people, as a write the
    caller's next statement carries (PostgreSQL, `direct.Along`). `locale`: the person's new
    language, None to keep the stored one (so a change made since the batch read the contact
    is not undone). The rows are written in the order given (sort them, as `touch_many`
    does, so two transactions writing overlapping sets take their locks in one order)."""
    columns = ", ".join(_TOUCHED)
    arrays = ", ".join(f":touch_{name}" for name in _TOUCHED)
    picked = ", ".join(f"t.{name}" for name in _TOUCHED)
    sql = (
        f"touched AS (INSERT INTO contacts ({columns}, created_at, last_inbound_at)"
        f" SELECT {picked}, :touch_now, :touch_now"
        f" FROM unnest({arrays}) WITH ORDINALITY AS t({columns}, n) ORDER BY t.n"
        " ON CONFLICT (channel, platform_user_id) DO UPDATE SET chat_id = excluded.chat_id,"
        " locale = coalesce(excluded.locale, contacts.locale),"
        " last_inbound_at = excluded.last_inbound_at)"
    )
    table = cast(Table, Contact.__table__)
    binds = (
        bindparam("touch_now", type_=table.c.created_at.type),
        *direct.array_binds(table, _TOUCHED, "touch_"),
    )
    params: dict[str, Any] = {
        f"touch_{name}": [person[index] for person in people] for index, name in enumerate(_TOUCHED)
    }
    params["touch_now"] = now
    return direct.Along("contacts.touch", sql, binds, params)


def consent_along(contact_id: int, consent_at: datetime | None, phone: str | None) -> direct.Along:
    """A report's consent (None: recorded before, kept) and phone (None: kept) on the
    contact, as a write the statement storing the report carries (PostgreSQL). A consent
    recorded already is never moved."""
    sql = (
        "consent AS (UPDATE contacts SET consent_at = coalesce(consent_at, :consent_at),"
        " phone = coalesce(:consent_phone, phone) WHERE id = :consent_contact)"
    )
    table = cast(Table, Contact.__table__)
    binds = (
        bindparam("consent_at", type_=table.c.consent_at.type),
        bindparam("consent_phone", type_=table.c.phone.type),
        bindparam("consent_contact", type_=table.c.id.type),
    )
    params = {"consent_at": consent_at, "consent_phone": phone, "consent_contact": contact_id}
    return direct.Along("contacts.consent", sql, binds, params)


async def find_many(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The contacts of many (channel, platform_user_id), as plain rows by key (the ones
    that exist)."""
    wanted = set(keys)
    if not wanted:
        return {}
    table = cast(Table, Contact.__table__)
    stmt = select(table).where(
        table.c.channel.in_(sorted({channel for channel, _ in wanted})),
        table.c.platform_user_id.in_(sorted({user for _, user in wanted})),
    )
    rows = (await session.execute(stmt)).mappings()
    found = {(row["channel"], row["platform_user_id"]): dict(row) for row in rows}
    return {key: row for key, row in found.items() if key in wanted}


async def set_locales(session: AsyncSession, locales: Mapping[int, str | None]) -> None:
    """Store the language of many contacts (contact id to locale), one statement."""
    if locales:
        rows = [{"contact_id": key, "locale": value} for key, value in sorted(locales.items())]
        await direct.execute(session, "contacts.set_locales", _set_locales, rows)


def _set_locales(_dialect: str) -> Any:
    table = cast(Table, Contact.__table__)
    return (
        update(table)
        .where(table.c.id == bindparam("contact_id"))
        .values(locale=bindparam("locale"))
    )
