"""A report made in the chat is acknowledged once: by the chat's own confirmation (number,
requirements, due time), not again by the reminder plan's `ack` a moment later."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from laporbot.cli import main
from laporbot.clock import FixedClock
from laporbot.db.engine import create_engine, make_sessionmaker
from laporbot.db.models import OutboxMessage, Reminder
from laporbot.settings import Settings
from tests.flows.test_cli import NOW, report_with_photo


async def _stored(settings: Settings) -> tuple[list[OutboxMessage], list[Reminder]]:
    engine = create_engine(settings)
    try:
        async with make_sessionmaker(engine)() as session:
            outbox = list((await session.scalars(select(OutboxMessage))).all())
            reminders = list((await session.scalars(select(Reminder))).all())
            return outbox, reminders
    finally:
        await engine.dispose()


def test_a_chat_report_is_confirmed_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    runner = CliRunner()
    obj = {"settings": settings, "clock": FixedClock(NOW)}
    chat = runner.invoke(
        main, ["chat", "--user", "sari"], input=report_with_photo(tmp_path), obj=obj
    )
    assert chat.exit_code == 0, chat.output
    assert "Nomor laporan: LPR-2026-000001" in chat.output
    # The sweep runs later (its own clock: now), as `laporbot serve` would.
    tick = runner.invoke(main, ["reminders", "tick"], obj=obj)
    assert tick.exit_code == 0, tick.output

    outbox, reminders = asyncio.run(_stored(settings))
    to_citizen = [row.payload["text"] for row in outbox if row.chat_id == "sari"]
    assert sum("LPR-2026-000001" in text for text in to_citizen) == 1
    assert not any("telah diterima oleh" in text for text in to_citizen)
    [ack] = [r for r in reminders if r.kind == "citizen.ack"]
    assert ack.status == "sent"
    assert ack.sent_at == NOW
    assert ack.payload == {"sent_by": "chat"}
