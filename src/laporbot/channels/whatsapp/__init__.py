"""WhatsApp Cloud API channel: webhook checks, translation, sending, the 24-hour window.

- `webhook`: verification handshake, `X-Hub-Signature-256` check, splitting and translating
  notifications (both user-id shapes: phone number `wa_id`, business-scoped `user_id`).
- `outbound`: an `OutboundMessage` planned as Cloud API messages within Meta's limits.
- `adapter`: `WhatsAppAdapter`, the only code that talks to the Graph API.
- `window`: the 24-hour customer service window and the template used outside it.

Pacing is the outbox dispatcher's (`laporbot.ratelimit`): the number's throughput
(`LAPORBOT_WHATSAPP_MESSAGES_PER_SECOND`, Meta's default 80/s) and the per-user pace
(`WHATSAPP_USER_PER_SECOND`, `WHATSAPP_USER_BURST`: one message per 6 s, bursts allowed).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path

from babel.messages.pofile import read_po
from sqlalchemy import String, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.channels.base import PermanentSendError, RawUpdate
from laporbot.channels.whatsapp.adapter import (
    GraphError,
    OutsideWindow,
    WhatsAppAdapter,
    classify,
    recipient_field,
)
from laporbot.channels.whatsapp.webhook import (
    SIGNATURE_HEADER,
    DeliveryStatus,
    check_signature,
    delivery_status,
    sign,
    verify_subscription,
)
from laporbot.channels.whatsapp.window import WINDOW, as_template, choose_message, window_open
from laporbot.clock import Clock
from laporbot.errors import CatalogError, ConfigError
from laporbot.inbox import StatusHook
from laporbot.messages import OutboundMessage
from laporbot.settings import Settings

__all__ = [
    "DOMAIN",
    "SIGNATURE_HEADER",
    "WINDOW",
    "DeliveryStatus",
    "GraphError",
    "OutsideWindow",
    "WhatsAppAdapter",
    "as_template",
    "catalog_text",
    "check_signature",
    "choose_message",
    "classify",
    "delivery_status",
    "make_prepare_outbound",
    "make_status_hook",
    "make_whatsapp_adapter",
    "make_window_fallback",
    "recipient_field",
    "sign",
    "verify_subscription",
    "window_open",
]

#: The catalog domain of the words the WhatsApp adapter itself shows (locales/*/whatsapp.po).
DOMAIN = "whatsapp"

Prepare = Callable[[AsyncSession, OutboundMessage, datetime], Awaitable[OutboundMessage]]


def catalog_text(locales_dir: Path, locale: str, msgid: str) -> str:
    """One message of the `whatsapp` domain, read straight from its `.po` file."""
    path = locales_dir / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    try:
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale, domain=DOMAIN)
    except OSError as exc:
        raise CatalogError(str(path), msgid, f"cannot read catalog: {exc}") from exc
    message = catalog.get(msgid)
    if message is None or not isinstance(message.string, str) or not message.string:
        raise CatalogError(str(path), msgid, "message id missing or untranslated")
    return message.string


def make_whatsapp_adapter(
    settings: Settings, *, clock: Clock | None = None, list_button_label: str | None = None
) -> WhatsAppAdapter:
    """The adapter for `settings` (token, phone number id, Graph API URL and version).

    The list's open button label comes from the `whatsapp` catalog in the default locale, as
    Telegram's location button does. `clock` is accepted for symmetry with the other channels;
    timestamps come from Meta's payloads.
    """
    del clock
    if settings.whatsapp_access_token is None or not settings.whatsapp_phone_number_id:
        raise ConfigError(
            "WhatsApp needs LAPORBOT_WHATSAPP_ACCESS_TOKEN and LAPORBOT_WHATSAPP_PHONE_NUMBER_ID"
        )
    label = list_button_label or catalog_text(
        settings.locales_dir, settings.default_locale, "whatsapp.list_button"
    )
    return WhatsAppAdapter(
        access_token=settings.whatsapp_access_token.get_secret_value(),
        phone_number_id=settings.whatsapp_phone_number_id,
        api_url=settings.whatsapp_graph_api_url,
        api_version=settings.whatsapp_graph_api_version,
        template_language=settings.whatsapp_template_language,
        list_button_label=label,
    )


def make_prepare_outbound(settings: Settings) -> Prepare:
    """The outbox's `prepare` hook for WhatsApp: swap a free-form message for the follow-up
    template when the contact's 24-hour window is closed (read from `contacts`)."""
    from laporbot.db.models import Contact

    async def prepare(
        session: AsyncSession, message: OutboundMessage, now: datetime
    ) -> OutboundMessage:
        if message.channel != "whatsapp" or message.template:
            return message
        stmt = (
            select(Contact.last_inbound_at)
            .where(
                Contact.channel == "whatsapp",
                or_(
                    Contact.chat_id == message.chat_id,
                    Contact.platform_user_id == message.chat_id,
                ),
            )
            .order_by(Contact.last_inbound_at.desc())
            .limit(1)
        )
        last = (await session.execute(stmt)).scalar_one_or_none()
        return choose_message(message, last, now, settings)

    return prepare


def make_window_fallback(
    settings: Settings,
) -> Callable[[OutboundMessage, PermanentSendError], OutboundMessage | None]:
    """The outbox's `fallback` hook for WhatsApp: a free-form message Meta refused as outside
    the 24-hour window (131047; our `last_inbound_at` thought it open, e.g. a reply that
    reached Meta but not us) goes once more as the follow-up template."""

    def fallback(message: OutboundMessage, error: PermanentSendError) -> OutboundMessage | None:
        if not isinstance(error, OutsideWindow) or message.template:
            return None
        return as_template(message, settings)

    return fallback


def make_status_hook(settings: Settings) -> StatusHook:
    """The inbox's hook for WhatsApp status callbacks: a `failed` status is recorded on the
    outbox row that sent that `wamid` (failed, with Meta's code and reason), and a 131047
    (outside the 24-hour window) queues the message once more as the follow-up template.
    Returns whether something was recorded; `sent`, `delivered` and `read` are not (the outbox
    keeps no delivery time), nor is news of a message we do not know."""
    from laporbot.db import outbox as outbox_repo
    from laporbot.db.models import OutboxMessage

    async def on_status(session: AsyncSession, update: RawUpdate, now: datetime) -> bool:
        status = delivery_status(update)
        if status is None or status.state != "failed":
            return False  # sent, delivered, read: nothing to record, no savepoint spent
        async with session.begin_nested():
            return await record_failure(session, update, status, now)

    async def record_failure(
        session: AsyncSession, update: RawUpdate, status: DeliveryStatus, now: datetime
    ) -> bool:
        # The ids are stored as a JSON list of strings: match the quoted id in its text, among
        # the chat's sent rows (the (channel, chat_id, status, ...) index narrows them).
        ids_text = cast(OutboxMessage.platform_message_ids, String)
        stmt = select(OutboxMessage).where(
            OutboxMessage.channel == "whatsapp",
            OutboxMessage.status == "sent",
            ids_text.contains(f'"{status.message_id}"', autoescape=True),
        )
        # The row's chat is the phone number or the scoped user id, whichever it was sent to;
        # a status names both when Meta knows both.
        named = update.payload.get("status") or {}
        chats = {named.get("recipient_id"), named.get("recipient_user_id"), status.recipient}
        chats = {chat for chat in chats if isinstance(chat, str)}
        if chats:
            stmt = stmt.where(OutboxMessage.chat_id.in_(sorted(chats)))
        row = (await session.scalars(stmt.order_by(OutboxMessage.id.desc()).limit(1))).first()
        if row is None:
            return False
        reason = f"whatsapp {status.error_code}: {status.error_reason or 'failed'} (status)"
        message = outbox_repo.from_payload(row.payload)
        if status.error_code == 131047 and not message.template:
            again = await outbox_repo.enqueue(
                session,
                as_template(message, settings),
                now,
                dedup_key=f"whatsapp-window:{row.id}",
                case_id=row.case_id,
            )
            reason += f"; sent again as {settings.whatsapp_followup_template} (outbox {again.id})"
        await outbox_repo.mark_failed(session, row.id, reason)
        return True

    return on_status
