"""WhatsApp status callbacks reach the outbox: a `failed` status marks the row that sent that
message failed with Meta's reason, and 131047 (outside the 24-hour window) queues it once more
as the follow-up template. Other news (sent, delivered, read, unknown ids) changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.whatsapp import make_status_hook, make_whatsapp_adapter
from laporbot.channels.whatsapp.webhook import split
from laporbot.clock import FixedClock
from laporbot.db import outbox as outbox_repo
from laporbot.db.models import InboxItem, OutboxMessage
from laporbot.inbox import InboxProcessor
from laporbot.messages import OutboundMessage
from laporbot.settings import Settings
from tests.support.graphapi import WaUser, WebhookBuilder

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SETTINGS = Settings(
    whatsapp_access_token="token",
    whatsapp_phone_number_id="106540352242922",
    whatsapp_followup_template="lb_followup",
)
CITIZEN = WaUser("Ani", wa_id="6289876543210", user_id="ID.9988776655443322")


class Unused:
    """The inbox's message handler: status updates carry no message, so it is never called."""

    async def __call__(self, *args: object) -> None:
        raise AssertionError("a status update reached the conversation handler")


async def _sent_row(sessions: async_sessionmaker[AsyncSession], wamid: str) -> int:
    message = OutboundMessage(channel="whatsapp", chat_id="6289876543210", text="Kasus diproses.")
    async with sessions() as session, session.begin():
        row = await outbox_repo.enqueue(session, message, NOW)
        await outbox_repo.mark_sent(session, row.id, NOW, [wamid])
        return row.id


async def _deliver(
    sessions: async_sessionmaker[AsyncSession], body: dict[str, object]
) -> list[str]:
    """Accept `body` into the inbox and process it; the inbox rows' final states."""
    inbox = InboxProcessor(
        sessions,
        FixedClock(NOW),
        {"whatsapp": make_whatsapp_adapter(SETTINGS)},
        Unused(),
        status_hooks={"whatsapp": make_status_hook(SETTINGS)},
    )
    await inbox.accept(split(body))
    await inbox.process_pending()
    async with sessions() as session:
        return list((await session.scalars(select(InboxItem.status))).all())


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        return list((await session.scalars(query)).all())


async def test_a_failed_status_marks_its_row_failed_with_metas_reason(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    row_id = await _sent_row(db_sessionmaker, "wamid.A1")
    body = WebhookBuilder().status(
        CITIZEN, "wamid.A1", "failed", error_code=131026, error_title="Message undeliverable"
    )
    assert await _deliver(db_sessionmaker, body) == ["done"]
    [row] = await _rows(db_sessionmaker)
    assert (row.id, row.status) == (row_id, "failed")
    assert row.error is not None
    assert row.error.startswith("whatsapp 131026: Message undeliverable")


async def test_outside_the_window_the_message_goes_again_once_as_the_template(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await _sent_row(db_sessionmaker, "wamid.B1")
    hooks = WebhookBuilder()
    failed = hooks.status(CITIZEN, "wamid.B1", "failed", error_code=131047)
    assert await _deliver(db_sessionmaker, failed) == ["done"]
    # The same news delivered twice (another webhook id) queues nothing more.
    again = hooks.status(CITIZEN, "wamid.B1", "failed", error_code=131047)
    await _deliver(db_sessionmaker, again)
    first, retry = await _rows(db_sessionmaker)
    assert first.status == "failed"
    assert first.error is not None
    assert f"sent again as lb_followup (outbox {retry.id})" in first.error
    assert retry.status == "pending"
    assert outbox_repo.from_payload(retry.payload).template == "lb_followup"
    assert retry.chat_id == first.chat_id


async def test_other_news_and_unknown_messages_change_nothing(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await _sent_row(db_sessionmaker, "wamid.C1")
    hooks = WebhookBuilder()
    for state in ("sent", "delivered", "read"):
        assert await _deliver(db_sessionmaker, hooks.status(CITIZEN, "wamid.C1", state))
    unknown = hooks.status(CITIZEN, "wamid.NOT-OURS", "failed", error_code=131026)
    statuses = await _deliver(db_sessionmaker, unknown)
    assert statuses == ["ignored"] * 4
    [row] = await _rows(db_sessionmaker)
    assert (row.status, row.error) == ("sent", None)
