"""Conversation sessions: at most one active per (channel, user_id), kept by a partial unique
index, so two workers handling the same user at once cannot both start one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

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


async def end(
    session: AsyncSession, conversation: ConversationSession, now: datetime, status: str = "ended"
) -> None:
    """Close `conversation` as "ended" (finished or cancelled) or "expired" (idle too long)."""
    if status not in ("ended", "expired"):
        raise ValueError(f"a session ends as 'ended' or 'expired', not {status!r}")
    conversation.status = status
    conversation.updated_at = now
    await session.flush()
