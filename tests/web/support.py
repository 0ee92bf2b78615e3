"""A web chat client that speaks real HTTP to a running laporbot, and waits for quiet."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.models import InboxItem, OutboxMessage


async def settled(sessions: async_sessionmaker[AsyncSession], within: float = 10.0) -> None:
    """Wait until no inbox update is pending and no outbox message is unsent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        async with sessions() as session:
            inbox = await session.scalar(
                select(func.count()).select_from(InboxItem).where(InboxItem.status == "pending")
            )
            outbox = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status.in_(("pending", "sending")))
            )
        if not inbox and not outbox:
            return
        if loop.time() > deadline:
            raise AssertionError(f"not settled: {inbox} inbox pending, {outbox} outbox unsent")
        await asyncio.sleep(0.02)


class WebChatClient:
    """One browser tab: a client id, a cursor, and the bot's messages seen so far."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base_url: str,
        sessions: async_sessionmaker[AsyncSession],
        client_id: str | None = None,
    ) -> None:
        self.http = http
        self.base = base_url.rstrip("/")
        self.sessions = sessions
        self.client_id = client_id or uuid.uuid4().hex
        self.cursor = 0
        self.seen: list[dict[str, Any]] = []

    async def post(self, message_id: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {"client_id": self.client_id, "message_id": message_id or uuid.uuid4().hex[:16]}
        body.update(fields)
        async with self.http.post(f"{self.base}/api/chat/send", json=body) as response:
            assert response.status == 200, await response.text()
            result: dict[str, Any] = await response.json()
            return result

    async def fetch(self, wait: float = 0) -> list[dict[str, Any]]:
        params = {"client_id": self.client_id, "after": str(self.cursor), "wait": str(wait)}
        async with self.http.get(f"{self.base}/api/chat/messages", params=params) as response:
            assert response.status == 200, await response.text()
            data = await response.json()
        self.cursor = data["cursor"]
        self.seen.extend(data["messages"])
        messages: list[dict[str, Any]] = data["messages"]
        return messages

    async def say(self, **fields: Any) -> list[dict[str, Any]]:
        """Send one message, wait until the service is quiet, return the new bot messages."""
        await self.post(**fields)
        await settled(self.sessions)
        return await self.fetch()

    def last_buttons(self) -> list[str]:
        for message in reversed(self.seen):
            if message["buttons"]:
                return [button["id"] for button in message["buttons"]]
        return []
