"""The daily digest: at 07:30 in the office's zone, once a day, overdue / due today / unclaimed /
by officer."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.cases import create_case
from laporbot.db.complaints import create_complaint
from laporbot.reminders.digest import DailyDigest, parse_digest_time
from tests.reminders.support import World, make_world, registry, translator, wib

LUMAJANG, STANDARD = "dinsosp3a-lumajang", "lumajang-rekomendasi-anak"


async def _case(world: World, received: datetime, *, claimed: bool, closed: bool = False) -> None:
    async with world.sessionmaker() as session, session.begin():
        case = await create_case(
            session,
            agency_code=LUMAJANG,
            standard_code=STANDARD,
            category="anak_jalanan",
            locale="id",
            received_at=received,
            kabupaten="Kab. Lumajang",
            kecamatan="Sukodono",
        )
        await world.service.on_case_opened(session, case, received)
        if claimed:
            case.status = "claimed"
            case.assigned_officer_id = world.officers[f"off-{LUMAJANG}"]
            await world.service.on_case_claimed(session, case, received + timedelta(minutes=5))
        if closed:
            case.status = "closed"
            await world.service.on_closed(session, case, received + timedelta(hours=1))


def _digest(world: World) -> DailyDigest:
    return DailyDigest(world.sessionmaker, registry(), translator(), world.settings, world.clock)


async def test_digest_at_0730_local_once_a_day(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, wib(2026, 3, 13, 9, 0))
    await _case(world, wib(2026, 3, 13, 10, 0), claimed=False)  # due Mon 16 March 16:00
    await _case(world, wib(2026, 3, 16, 10, 0), claimed=True)  # due Tue 17 March 16:00
    await _case(world, wib(2026, 3, 16, 11, 0), claimed=True, closed=True)
    async with world.sessionmaker() as session, session.begin():
        complaint = await create_complaint(
            session,
            agency_code=LUMAJANG,
            text="Belum ada kabar",
            locale="id",
            received_at=wib(2026, 3, 15, 9, 0),
            handler_officer_id=world.officers[f"off-{LUMAJANG}"],
        )
        await world.service.on_complaint_filed(session, complaint, wib(2026, 3, 15, 9, 0))
    await world.new_messages()  # leave the reminders' own messages aside
    digest = _digest(world)

    world.clock.set(wib(2026, 3, 17, 7, 29, 59))
    assert await digest.run_due() == 0
    world.clock.set(wib(2026, 3, 17, 7, 30))
    assert await digest.run_due() == 5  # one per office: each has a supervisor
    sent = {m.chat: m.text for m in await world.new_messages()}
    assert sent[f"telegram:sup-{LUMAJANG}"] == "\n".join(
        [
            "📋 Ringkasan harian Dinas Sosial, Pemberdayaan Perempuan dan Perlindungan Anak, "
            "Selasa, 17 Maret 2026",
            "",
            "Terlambat (1):",
            "• Kasus LPR-2026-000001 — Senin, 16 Maret 2026 pukul 16.00 WIB (terlambat 16 jam)",
            "",
            "Jatuh tempo hari ini (2):",
            "• Pengaduan ADU-2026-000001 — Selasa, 17 Maret 2026 pukul 09.00 WIB (2 jam lagi)",
            "• Kasus LPR-2026-000002 — Selasa, 17 Maret 2026 pukul 16.00 WIB (8 jam lagi)",
            "",
            "Belum diambil (1):",
            "• LPR-2026-000001 (anak jalanan, Sukodono, Kab. Lumajang, biasa (2)) — diterima "
            "Jumat, 13 Maret 2026 pukul 10.00 WIB",
            "",
            "Per petugas:",
            f"• Officer {LUMAJANG}: 2 terbuka, 0 terlambat",
            "• belum ada: 1 terbuka, 1 terlambat",
        ]
    )
    assert "Terlambat (0):\n• tidak ada" in sent["telegram:sup-dinsos-riau"]

    # Later the same day, or from a second worker: nothing more.
    world.clock.set(wib(2026, 3, 17, 12, 0))
    assert await digest.run_due() == 0
    assert await _digest(world).run_due() == 0
    # The next morning, again.
    world.clock.set(wib(2026, 3, 18, 7, 30))
    assert await digest.run_due() == 5


def test_digest_time_parses() -> None:
    assert parse_digest_time("07:30").hour == 7
    assert parse_digest_time(" 6:05 ").minute == 5
