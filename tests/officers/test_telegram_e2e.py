"""End to end through the Telegram contract harness: `laporbot serve` (aiogram, long polling)
against the Bot API emulator. A citizen's report reaches the office group, an officer claims
it from the group, works all 11 steps of the Kab. Bintan procedure in a private chat and closes
it; the citizen receives the news; the audit timeline has every action; no group message
carries the child's identity."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from laporbot.clock import SystemClock
from laporbot.db.models import Case, CaseEvent, InboxItem, OutboxMessage
from laporbot.officers.invites import create_invite
from laporbot.ratelimit import unlimited_pacer
from laporbot.serve import Service
from laporbot.settings import Settings
from tests.officers.conftest import BINTAN_REPORT
from tests.support.botapi import BotApiEmulator, FloodLimits, Limit

LOOSE = Limit(10_000, 1.0)

pytestmark = pytest.mark.integration


class Deployment:
    """The service, the emulated Telegram, and the people in it."""

    def __init__(self, api: BotApiEmulator, service: Service) -> None:
        self.api = api
        self.service = service
        self.group = api.add_group("Dinsos Bintan — triase")
        self.officer = api.add_user(first_name="Budi", language_code="id")
        self.citizen = api.add_user(first_name="Sari", language_code="id")

    async def settle(self, within: float = 20.0) -> None:
        """Until every update is processed and nothing is left to send."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            async with self.service.sessions() as db:
                waiting = await db.scalar(
                    select(func.count()).select_from(InboxItem).where(InboxItem.status == "pending")
                )
                unsent = await db.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.status.in_(("pending", "sending")))
                )
            if not self.api.pending_updates and not waiting and not unsent:
                return
            assert loop.time() < deadline, f"not settled: {waiting} inbox, {unsent} outbox"
            await asyncio.sleep(0.02)

    async def until(self, chat: int, words: str, within: float = 20.0) -> dict[str, Any]:
        """Wait for a message containing `words` in `chat` (sweeps send on their tick)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for message in self.api.sent(chat):
                if words in (message.get("text") or ""):
                    return message
            assert loop.time() < deadline, f"{words!r} never reached {chat}"
            await asyncio.sleep(0.05)

    async def say(self, chat: int, text: str, user: int | None = None) -> None:
        self.api.send_text(chat, text, user_id=user)
        await self.settle()

    async def press(self, chat: int, data: str, user: int | None = None) -> None:
        for message in reversed(self.api.sent(chat)):
            keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            if any(button.get("callback_data") == data for row in keyboard for button in row):
                self.api.press_button(chat, message["message_id"], data, user_id=user)
                await self.settle()
                return
        raise AssertionError(f"no message in {chat} offers {data!r}")

    async def invite(self, role: str) -> str:
        async with self.service.sessions() as db, db.begin():
            made = await create_invite(
                db, agency_code="dinsos-bintan", role=role, now=self.service.clock.now()
            )
            return made.code


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    api = BotApiEmulator(limits=FloodLimits(bot=LOOSE, private_chat=LOOSE, group=LOOSE))
    await api.start()
    clock = SystemClock()
    settings = Settings(
        data_dir=tmp_path,
        http_host="127.0.0.1",
        http_port=0,
        telegram_token=api.token,
        telegram_backend="aiogram",
        telegram_api_url=api.url,
        telegram_poll_timeout=1,
        sweep_interval_seconds=0.2,
    )
    service = Service(settings, clock, pacers={"telegram": unlimited_pacer(clock)})
    await service.start()
    try:
        yield Deployment(api, service)
    finally:
        await service.stop()
        await api.stop()


async def test_report_claim_eleven_steps_close_over_telegram(deployment: Deployment) -> None:
    d = deployment
    await d.say(d.officer, f"/daftar {await d.invite('officer')} Budi")
    assert "Selamat datang" in d.api.sent(d.officer)[-1]["text"]
    await d.say(d.group, f"/daftar {await d.invite('group')}", user=d.officer)
    # Not necessarily the group's last message: past 07:30 WIB the day's digest may follow.
    await d.until(d.group, "grup triase", within=0.1)

    for line in BINTAN_REPORT:
        await d.say(d.citizen, line)
    await d.press(d.citizen, "confirm")
    async with d.service.sessions() as db:
        case = (await db.scalars(select(Case))).one()
    assert any(case.number in (m.get("text") or "") for m in d.api.sent(d.citizen))
    post = await d.until(d.group, case.number)
    assert "Kec. Bintan Timur" in post["text"]

    await d.press(d.group, f"of:c:{case.id}", user=d.officer)
    # The same post, edited (api.sent shows each message as it reads now).
    edited = next(m for m in d.api.sent(d.group) if m["message_id"] == post["message_id"])
    assert "ditangani Budi, langkah 1 dari 11" in edited["text"]
    assert sum("ditangani Budi" in (m.get("text") or "") for m in d.api.sent(d.group)) == 1
    details = await d.until(d.officer, "RAHASIA")
    assert "Jl. Raya Kijang No. 7" in details["text"]

    for step in range(1, 12):
        await d.say(d.officer, f"/lanjut {case.number} langkah {step} beres")
    assert "semua 11 langkah selesai" in d.api.sent(d.officer)[-1]["text"]
    await d.say(d.officer, f"/selesai {case.number}")
    await d.press(d.officer, f"of:z:{case.id}:0")
    assert "selesai: anak yang di rehab" in d.api.sent(d.officer)[-1]["text"]
    final = next(m for m in d.api.sent(d.group) if m["message_id"] == post["message_id"])
    assert "Status: selesai" in final["text"]
    assert not (final.get("reply_markup") or {}).get("inline_keyboard")

    # The citizen's news: verified and visit from the officer side, the rest from the sweep.
    await d.until(d.citizen, "telah diverifikasi")
    await d.until(d.citizen, "melakukan kunjungan")
    await d.until(d.citizen, "sedang ditangani")
    await d.until(d.citizen, "langkah 11 dari 11")
    await d.until(d.citizen, "telah selesai ditangani")
    citizen_texts = [m.get("text") or "" for m in d.api.sent(d.citizen)]
    assert not any("beres" in text for text in citizen_texts)  # officers' notes stay inside

    # Nothing the group ever saw identifies the child.
    for message in d.api.sent(d.group):
        text = message.get("text") or message.get("caption") or ""
        assert "Jl. Raya Kijang" not in text
        assert "pelabuhan" not in text
        assert "photo" not in message

    async with d.service.sessions() as db:
        events = (
            await db.scalars(
                select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
            )
        ).all()
    kinds = [e.kind for e in events]
    assert kinds[:4] == ["opened", "triage_posted", "claimed", "details_viewed"]
    assert kinds.count("step_completed") == 11
    assert kinds[-1] == "resolved"
    assert all(e.actor_id is not None for e in events if e.actor_kind == "officer")
