"""How updates reach laporbot: webhook when `telegram_webhook_url` is set, else long polling."""

from __future__ import annotations

import asyncio

from laporbot.channels.telegram.adapter import TelegramAdapter
from laporbot.channels.telegram.polling import OnUpdate, poll
from laporbot.channels.telegram.webhook import set_webhook, webhook_secret
from laporbot.settings import Settings


async def receive_updates(
    adapter: TelegramAdapter,
    settings: Settings,
    on_update: OnUpdate,
    *,
    stop_event: asyncio.Event,
) -> None:
    """Run until `stop_event` is set, handing every update to `on_update` (the inbox).

    Webhook mode registers `settings.telegram_webhook_url` with the secret from
    `webhook_secret(settings)` and then only waits: the HTTP route receives the updates. The
    webhook stays registered on stop, so Telegram keeps updates while the service restarts.
    Polling mode (the default, no public URL needed) runs `poll`.
    """
    if settings.telegram_webhook_url:
        await set_webhook(adapter, settings.telegram_webhook_url, webhook_secret(settings))
        await stop_event.wait()
        return
    await poll(adapter, on_update, timeout=settings.telegram_poll_timeout, stop_event=stop_event)
