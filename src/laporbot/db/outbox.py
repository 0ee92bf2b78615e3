"""Outbox: messages to send, written in the same transaction as the change that caused them.

Order within a chat is kept by `seq` (allocated per chat, in commit order): only the lowest
unsent message of a chat can be claimed, so a retry holds back the chat's later messages while
other chats go on. Senders claim under a lease; the lease must outlast a send attempt (with its
timeouts), or an expired claim may be sent twice.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from laporbot.db._sql import dialect_insert, prebuilt
from laporbot.db.models import OutboxMessage
from laporbot.db.numbers import next_value
from laporbot.messages import Button, OutboundMessage
from laporbot.privacy import screen_group_messages

DEFAULT_LEASE = timedelta(minutes=2)
_UNSENT = ("pending", "sending")


def to_payload(message: OutboundMessage) -> dict[str, Any]:
    """The JSON form of a message, as the outbox stores it."""
    # Field by field: every reply is stored so, and `dataclasses.asdict` (deep copies) costs
    # several times more. A field added to OutboundMessage must be added here (tested).
    return {
        "channel": message.channel,
        "chat_id": message.chat_id,
        "text": message.text,
        "buttons": [{"id": button.id, "label": button.label} for button in message.buttons],
        "request_location": message.request_location,
        "photo": message.photo,
        "edit_of": message.edit_of,
        "template": message.template,
        "template_params": list(message.template_params),
    }


def from_payload(payload: dict[str, Any]) -> OutboundMessage:
    """The message back from its stored JSON form."""
    data = dict(payload)
    data["buttons"] = tuple(Button(**button) for button in data.get("buttons", ()))
    data["template_params"] = tuple(data.get("template_params", ()))
    return OutboundMessage(**data)


async def enqueue(
    session: AsyncSession,
    message: OutboundMessage,
    now: datetime,
    dedup_key: str | None = None,
    case_id: int | None = None,
    *,
    strict_privacy: bool = False,
) -> OutboxMessage:
    """Queue `message` for sending; with a `dedup_key` already queued, return that row instead
    (idempotent enqueue: a replayed inbox update does not send twice). A message to a group
    chat is screened first (`laporbot.privacy.screen_group_messages`): nothing that identifies
    a protected person reaches a group, whichever path queued it; with `strict_privacy` such
    a message is refused (`PrivacyViolation`) instead of cut."""
    # Prebuilt statements: every opened case queues its triage post through here.
    by_key = prebuilt(session, "outbox.by_dedup_key", _by_dedup_key)
    if dedup_key is not None:
        existing = await session.scalar(by_key, {"dedup_key": dedup_key})
        if existing is not None:
            return existing
    (screened,) = await screen_group_messages(session, [(message, case_id)], strict=strict_privacy)
    assert screened is not None  # a message that cannot be made safe raised
    message = screened
    seq = await next_value(session, f"outbox:{message.channel}:{message.chat_id}")
    values = {
        "channel": message.channel,
        "chat_id": message.chat_id,
        "seq": seq,
        "payload": to_payload(message),
        "now": now,
        "dedup_key": dedup_key,
        "case_id": case_id,
    }
    stmt = prebuilt(session, "outbox.enqueue", _enqueue_statement)
    row = (await session.scalars(stmt, values)).one_or_none()
    if row is None:  # a concurrent transaction queued the same dedup_key first
        row = (await session.scalars(by_key, {"dedup_key": dedup_key})).one()
    return row


def _by_dedup_key(_dialect: str) -> Select[OutboxMessage]:
    return select(OutboxMessage).where(OutboxMessage.dedup_key == bindparam("dedup_key"))


def _enqueue_statement(dialect: str) -> Any:
    return (
        dialect_insert(dialect, OutboxMessage)
        .values(
            channel=bindparam("channel"),
            chat_id=bindparam("chat_id"),
            seq=bindparam("seq"),
            payload=bindparam("payload"),
            status="pending",
            attempts=0,
            next_attempt_at=bindparam("now"),
            created_at=bindparam("now"),
            dedup_key=bindparam("dedup_key"),
            case_id=bindparam("case_id"),
        )
        .on_conflict_do_nothing(index_elements=[OutboxMessage.dedup_key])
        .returning(OutboxMessage)
    )


async def claim_due(
    session: AsyncSession,
    limit: int,
    worker: str,
    now: datetime,
    lease: timedelta = DEFAULT_LEASE,
    channels: Collection[str] | None = None,
) -> list[OutboxMessage]:
    """Claim up to `limit` messages due by `now`, at most one per chat (its lowest unsent
    `seq`), marking them `sending` for `worker` until `now + lease`. With `channels`, only
    messages of those channels (the ones this worker can send) are claimed; the others stay
    pending, untouched, for a worker that can.

    A `sending` row whose lease ran out (its sender died) is claimable again. On PostgreSQL,
    rows another worker is claiming at this moment are skipped (`FOR UPDATE SKIP LOCKED`); on
    SQLite the claim is one statement under the database write lock.
    """
    row = aliased(OutboxMessage)
    earlier = aliased(OutboxMessage)
    earlier_unsent = exists().where(
        earlier.channel == row.channel,
        earlier.chat_id == row.chat_id,
        earlier.seq < row.seq,
        earlier.status.in_(_UNSENT),
    )
    candidates = (
        select(row.id)
        .where(
            # One range of the (status, next_attempt_at) index per status (a row being sent
            # was due when claimed), so sent history does not slow the claim down.
            row.status.in_(_UNSENT),
            row.next_attempt_at <= now,
            or_(row.status == "pending", row.claimed_until < now),
            ~earlier_unsent,
            *(() if channels is None else (row.channel.in_(list(channels)),)),
        )
        .order_by(row.next_attempt_at, row.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=row)
    )
    stmt = (
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(candidates.scalar_subquery()))
        .values(
            status="sending",
            claimed_by=worker,
            claimed_until=now + lease,
            attempts=OutboxMessage.attempts + 1,
        )
        .returning(OutboxMessage)
    )
    result = await session.scalars(stmt, execution_options={"populate_existing": True})
    return sorted(result.all(), key=lambda item: (item.next_attempt_at, item.id))


async def mark_sent(
    session: AsyncSession,
    item_id: int,
    now: datetime,
    platform_message_ids: list[str],
    *,
    note: str | None = None,
) -> None:
    """The platform accepted the message; its ids there are kept for later edits. `note`
    (kept in `error`) says how it went out when not as queued (e.g. as a template)."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == item_id)
        .values(
            status="sent",
            sent_at=now,
            platform_message_ids=list(platform_message_ids),
            error=note,
            claimed_by=None,
            claimed_until=None,
        )
    )


async def mark_progress(
    session: AsyncSession, item_id: int, platform_message_ids: list[str], claimed_until: datetime
) -> None:
    """The first parts of a message of several parts were delivered (their ids): a retry
    starts after them. The claim is renewed for the parts still to send."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == item_id)
        .values(platform_message_ids=list(platform_message_ids), claimed_until=claimed_until)
    )


async def last_id(session: AsyncSession) -> int:
    """The highest outbox row id so far (0 when empty): rows queued later have higher ids."""
    return (await session.scalar(select(func.max(OutboxMessage.id)))) or 0


async def mark_shown(
    session: AsyncSession, channel: str, chat_id: str, after_id: int, now: datetime
) -> int:
    """Rows of `chat_id` queued after row `after_id` were shown to the reader directly (the
    terminal chat prints its replies): mark them sent so no dispatcher holds them. Returns
    how many."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.id > after_id,
            OutboxMessage.status == "pending",
        )
        .values(status="sent", sent_at=now, error=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def mark_retry(session: AsyncSession, item_id: int, next_at: datetime, error: str) -> None:
    """Sending failed for now; try again at `next_at` (the chat's later messages wait)."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == item_id)
        .values(
            status="pending",
            next_attempt_at=next_at,
            error=error,
            claimed_by=None,
            claimed_until=None,
        )
    )


async def mark_failed(session: AsyncSession, item_id: int, reason: str) -> None:
    """The message can never be delivered; the chat's later messages go on."""
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == item_id)
        .values(status="failed", error=reason, claimed_by=None, claimed_until=None)
    )
