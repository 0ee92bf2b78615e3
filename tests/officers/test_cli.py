"""`laporbot officers invite|list|revoke|set-role` and the audit timeline in `cases show`."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from laporbot.cli import main
from laporbot.db.cases import append_event, create_case
from laporbot.db.engine import create_engine_for_url, make_sessionmaker
from laporbot.officers import invites
from laporbot.settings import Settings
from tests.db.support import copy_sqlite_template

NOW = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)


def test_invite_list_set_role_revoke(migrated_sqlite_template: Path, tmp_path: Path) -> None:
    url = copy_sqlite_template(migrated_sqlite_template, tmp_path / "db")
    obj = {"settings": Settings(database_url=url, data_dir=tmp_path)}
    runner = CliRunner()
    made = runner.invoke(
        main, ["officers", "invite", "--agency", "dinsos-bintan", "--role", "supervisor"], obj=obj
    )
    assert made.exit_code == 0, made.output
    code = made.stdout.strip()
    assert len(code) == 10
    assert code.isalnum()
    assert "/daftar" in made.stderr

    unknown = runner.invoke(main, ["officers", "invite", "--agency", "dinsos-mars"], obj=obj)
    assert unknown.exit_code != 0
    assert "dinsos-bintan" in unknown.output  # the known agencies are listed

    empty = runner.invoke(main, ["officers", "list", "--json"], obj=obj)
    assert json.loads(empty.stdout) == []
    missing = runner.invoke(main, ["officers", "revoke", "99"], obj=obj)
    assert missing.exit_code != 0
    assert "no officer '99'" in missing.output
    bad_role = runner.invoke(main, ["officers", "set-role", "1", "boss"], obj=obj)
    assert bad_role.exit_code != 0


def test_roles_revocation_and_the_case_timeline(
    migrated_sqlite_template: Path, tmp_path: Path
) -> None:
    url = copy_sqlite_template(migrated_sqlite_template, tmp_path / "db")
    obj = {"settings": Settings(database_url=url, data_dir=tmp_path)}
    runner = CliRunner()
    code = runner.invoke(
        main, ["officers", "invite", "--agency", "dinsos-bintan"], obj=obj
    ).stdout.strip()

    async def redeem_and_open() -> None:
        engine = create_engine_for_url(url)
        try:
            async with make_sessionmaker(engine)() as db, db.begin():
                done = await invites.redeem_officer(
                    db, code, user_id="7001", display_name="Budi", now=NOW
                )
                assert done.officer is not None
                case = await create_case(
                    db,
                    agency_code="dinsos-bintan",
                    standard_code="bintan-rehab-anak",
                    category="anak_terlantar",
                    locale="id",
                    received_at=NOW,
                )
                await append_event(
                    db, case.id, at=NOW, actor_kind="officer", actor_id="1", kind="claimed"
                )
        finally:
            await engine.dispose()

    asyncio.run(redeem_and_open())
    listed = json.loads(runner.invoke(main, ["officers", "list", "--json"], obj=obj).stdout)
    assert listed == [
        {
            "id": 1,
            "agency": "dinsos-bintan",
            "role": "officer",
            "name": "Budi",
            "telegram_user_id": "7001",
            "state": "active",
        }
    ]
    assert runner.invoke(main, ["officers", "set-role", "1", "supervisor"], obj=obj).exit_code == 0
    assert runner.invoke(main, ["officers", "revoke", "1"], obj=obj).exit_code == 0
    table = runner.invoke(main, ["officers", "list"], obj=obj).stdout
    assert "supervisor" in table
    assert "revoked" in table
    shown = runner.invoke(main, ["cases", "show", "LPR-2026-000001"], obj=obj)
    assert shown.exit_code == 0, shown.output
    assert "2026-03-24T02:00:00+00:00  officer:1 claimed" in shown.stdout
