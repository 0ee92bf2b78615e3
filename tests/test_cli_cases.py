"""`laporbot cases show`: an administrator's look at personal data is audited; `--redacted`
shows the case without it and records nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from laporbot.cli import main
from laporbot.clock import FixedClock
from laporbot.db.agencies import sync_agencies
from laporbot.db.cases import create_case
from laporbot.db.engine import create_engine_for_url, make_sessionmaker
from laporbot.db.models import CaseEvent
from laporbot.settings import Settings
from tests.db.support import copy_sqlite_template

OPENED = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)
VIEWED = datetime(2026, 3, 25, 9, 30, tzinfo=UTC)
ADDRESS = "Jl. Kenanga No. 7, RT 02/RW 04"
NAME = "Siti Aminah"


async def _open_case(url: str) -> None:
    engine = create_engine_for_url(url)
    try:
        async with make_sessionmaker(engine)() as db, db.begin():
            await sync_agencies(
                db, [("dinsos-bintan", "Dinas Sosial Kabupaten Bintan", "Asia/Jakarta")]
            )
            await create_case(
                db,
                agency_code="dinsos-bintan",
                standard_code="bintan-rehab-anak",
                category="anak_terlantar",
                locale="id",
                received_at=OPENED,
                address=ADDRESS,
                latitude=1.0812,
                longitude=104.4921,
                subject={"name": NAME},
            )
    finally:
        await engine.dispose()


async def _events(url: str) -> list[CaseEvent]:
    engine = create_engine_for_url(url)
    try:
        async with make_sessionmaker(engine)() as db:
            return list((await db.scalars(select(CaseEvent).order_by(CaseEvent.id))).all())
    finally:
        await engine.dispose()


@pytest.fixture
def world(migrated_sqlite_template: Path, tmp_path: Path) -> tuple[str, dict[str, object]]:
    url = copy_sqlite_template(migrated_sqlite_template, tmp_path / "db")
    asyncio.run(_open_case(url))
    obj: dict[str, object] = {
        "settings": Settings(database_url=url, data_dir=tmp_path),
        "clock": FixedClock(VIEWED),
    }
    return url, obj


def test_showing_personal_data_is_recorded_with_the_os_user(
    world: tuple[str, dict[str, object]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, obj = world
    monkeypatch.setenv("LOGNAME", "ayu")
    runner = CliRunner()
    shown = runner.invoke(main, ["cases", "show", "lpr-2026-000001"], obj=obj)
    assert shown.exit_code == 0, shown.output
    assert ADDRESS in shown.stdout
    assert NAME in shown.stdout
    (event,) = asyncio.run(_events(url))
    assert (event.actor_kind, event.actor_id, event.kind) == (
        "system",
        "ayu",
        "viewed_personal_data",
    )
    assert event.at == VIEWED
    assert event.data == {"via": "cli", "command": "cases show"}
    # The view is on the timeline the administrator just read.
    assert "system:ayu viewed_personal_data" in shown.stdout

    again = runner.invoke(main, ["cases", "show", "LPR-2026-000001", "--format", "json"], obj=obj)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["address"] == ADDRESS
    assert len(asyncio.run(_events(url))) == 2  # every look, not only the first


def test_redacted_prints_no_personal_data_and_records_nothing(
    world: tuple[str, dict[str, object]],
) -> None:
    url, obj = world
    runner = CliRunner()
    for output in ("table", "json"):
        shown = runner.invoke(
            main, ["cases", "show", "LPR-2026-000001", "--redacted", "--format", output], obj=obj
        )
        assert shown.exit_code == 0, shown.output
        assert "LPR-2026-000001" in shown.stdout
        for secret in (ADDRESS, NAME, "1.0812", "104.4921"):
            assert secret not in shown.stdout
    assert json.loads(shown.stdout)["subject"] == "(redacted)"
    assert asyncio.run(_events(url)) == []


def test_an_unknown_number_records_nothing(world: tuple[str, dict[str, object]]) -> None:
    url, obj = world
    missing = CliRunner().invoke(main, ["cases", "show", "LPR-2026-999999"], obj=obj)
    assert missing.exit_code != 0
    assert asyncio.run(_events(url)) == []
