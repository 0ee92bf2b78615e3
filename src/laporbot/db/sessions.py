"""Conversation sessions: at most one active per (channel, user_id), kept by a partial unique
index, so two workers handling the same user at once cannot both start one."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, Update, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from laporbot.db._sql import prebuilt
from laporbot.db.models import ConversationSession


async def load_active(
    session: AsyncSession, channel: str, user_id: str
) -> ConversationSession | None:
    """The user's active session on `channel`, if any. On PostgreSQL the row is locked until
    the transaction ends, so one user's messages are handled one at a time."""
    stmt = prebuilt(session, "sessions.load_active", _load_active)
    return await session.scalar(stmt, {"channel": channel, "user_id": user_id})


def _load_active(_dialect: str) -> Select[ConversationSession]:
    return (
        select(ConversationSession)
        .where(
            ConversationSession.channel == bindparam("channel"),
            ConversationSession.user_id == bindparam("user_id"),
            ConversationSession.status == "active",
        )
        .with_for_update()
    )


async def save(session: AsyncSession, conversation: ConversationSession) -> ConversationSession:
    """Insert or update `conversation` now (flush), so a second active session for the same
    user fails here with `IntegrityError` rather than at commit."""
    session.add(conversation)
    await session.flush()
    return conversation


# What a turn of the conversation writes (`update_turn`).
TURN_COLUMNS = (
    "chat_id",
    "flow",
    "step",
    "locale",
    "answers",
    "state",
    "updated_at",
    "nudge_at",
    "expires_at",
)


async def update_turn(
    session: AsyncSession, conversation: ConversationSession, values: Mapping[str, Any]
) -> None:
    """Write a turn's `values` (every one of `TURN_COLUMNS`) to a stored `conversation`: one
    prebuilt UPDATE, and the object holds them as saved. Every citizen message does this; the
    ORM's flush of the same change costs several times more."""
    stmt = prebuilt(session, "sessions.update_turn", _update_turn)
    await session.execute(stmt, {"row_id": conversation.id, **values})
    for name in TURN_COLUMNS:
        set_committed_value(conversation, name, values[name])


def _update_turn(_dialect: str) -> Update:
    table = cast(Table, ConversationSession.__table__)
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(name) for name in TURN_COLUMNS})
    )


async def end(
    session: AsyncSession, conversation: ConversationSession, now: datetime, status: str = "ended"
) -> None:
    """Close `conversation` as "ended" (finished or cancelled) or "expired" (idle too long)."""
    if status not in ("ended", "expired"):
        raise ValueError(f"a session ends as 'ended' or 'expired', not {status!r}")
    conversation.status = status
    conversation.updated_at = now
    await session.flush()
