"""Which registered group a message goes to: complaints to the office's complaints group, else
to its triage group (one query for both)."""

from __future__ import annotations

from datetime import UTC, datetime

from laporbot.db.agencies import sync_agencies
from laporbot.db.models import OfficerGroup
from laporbot.officers.context import COMPLAINTS, TRIAGE, groups_for, groups_of
from tests.officers.conftest import Office

NOW = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)


async def test_complaints_go_to_the_complaints_group_else_to_triage(office: Office) -> None:
    async with office.maker() as db, db.begin():
        await sync_agencies(
            db,
            [
                ("dinsos-bintan", "Dinas Sosial", "Asia/Jakarta"),
                ("dinsos-riau", "Dinas Sosial", "Asia/Jakarta"),
            ],
        )
        for agency, chat, purpose in (
            ("dinsos-bintan", "-1", TRIAGE),
            ("dinsos-bintan", "-2", COMPLAINTS),
            ("dinsos-bintan", "-3", TRIAGE),
            ("dinsos-riau", "-4", TRIAGE),
        ):
            db.add(
                OfficerGroup(
                    agency_code=agency, channel="telegram", chat_id=chat, purpose=purpose,
                    created_at=NOW,
                )
            )  # fmt: skip
        await db.flush()
        both = (COMPLAINTS, TRIAGE)
        assert [g.chat_id for g in await groups_for(db, "dinsos-bintan", both)] == ["-2"]
        assert [g.chat_id for g in await groups_for(db, "dinsos-riau", both)] == ["-4"]
        assert await groups_for(db, "dinsos-lumajang", both) == []
        assert [g.chat_id for g in await groups_of(db, "dinsos-bintan", TRIAGE)] == ["-1", "-3"]
