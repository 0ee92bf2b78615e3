"""A case and a complaint of each seed standard walked through their whole reminder plan with an
injected clock: every reminder's time, recipient and text.

The walker sweeps one second before each expected moment (nothing may go out) and at it (exactly
the expected messages go out), so a reminder early, late, twice or to the wrong person fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.db.complaints import create_complaint
from laporbot.db.models import Case, Complaint
from tests.reminders.support import World, make_world, registry, wib

T0 = wib(2026, 3, 17, 10, 0)  # Tuesday, the day before Nyepi and the Idul Fitri cuti bersama

Action = Callable[[AsyncSession, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Expect:
    """At `at`, one message to `chat` whose text contains every fragment (or equals `exact`)."""

    at: datetime
    chat: str
    fragments: tuple[str, ...] = ()
    exact: str | None = None


async def walk(
    world: World,
    expected: list[Expect],
    actions: dict[datetime, Action],
    end: datetime,
) -> None:
    """Move the clock through every expected moment and action; check what the sweep sends."""
    moments = sorted({e.at for e in expected} | set(actions))
    for at in moments:
        world.clock.set(at - timedelta(seconds=1))
        early = await world.tick()
        assert early == [], f"sent before {at}: {early}"
        world.clock.set(at)
        if at in actions:
            async with world.sessionmaker() as session, session.begin():
                await actions[at](session, at)
        # In the order they were queued: due time, then the order they were planned in.
        sent = await world.tick()
        wanted = [e for e in expected if e.at == at]
        assert [m.chat for m in sent] == [e.chat for e in wanted], f"at {at}: {sent}"
        for message, expect in zip(sent, wanted, strict=True):
            if expect.exact is not None:
                assert message.text == expect.exact
            for fragment in expect.fragments:
                assert fragment in message.text, f"at {at}: {fragment!r} not in {message.text!r}"
            assert "terlambat terkirim" not in message.text  # on time: never flagged late
    world.clock.set(end)
    assert await world.tick() == []


# Per standard: the completion reminders (officer half time, officer one working day or 24 hours
# before, supervisor at the deadline, monthly check-ins) and the due time as worded in Indonesian.
COMPLETION: dict[str, tuple[str, list[tuple[datetime, str]]]] = {
    "lumajang-rekomendasi-anak": (
        "Rabu, 25 Maret 2026 pukul 16.00 WIB",
        [
            # One working day before: the close of the working day before the due day. Wednesday
            # 18 March to Tuesday 24 March are Nyepi, Idul Fitri and cuti bersama.
            (wib(2026, 3, 17, 16, 0), "officer_before"),
            # Half of the office time (6 h on the 17th, 8 h on the 25th) falls at 09:00 on the 25th.
            (wib(2026, 3, 25, 9, 0), "officer_half"),
            (wib(2026, 3, 25, 16, 0), "supervisor_due"),
        ],
    ),
    "babel-rehab-orang-terlantar": (
        "Selasa, 24 Maret 2026 pukul 23.59 WIB",
        [
            (wib(2026, 3, 21, 4, 59, 59), "officer_half"),
            (wib(2026, 3, 23, 23, 59, 59), "officer_before"),
            (wib(2026, 3, 24, 23, 59, 59), "supervisor_due"),
        ],
    ),
    "riau-penyerahan-anak-lansia": (
        "Selasa, 24 Maret 2026 pukul 23.59 WIB",
        [
            (wib(2026, 3, 21, 4, 59, 59), "officer_half"),
            (wib(2026, 3, 23, 23, 59, 59), "officer_before"),
            (wib(2026, 3, 24, 23, 59, 59), "supervisor_due"),
        ],
    ),
    "bintan-rehab-anak": (
        "Rabu, 17 Juni 2026 pukul 23.59 WIB",
        [
            (wib(2026, 4, 17, 10, 0), "checkin"),
            (wib(2026, 5, 2, 16, 59, 59), "officer_half"),
            (wib(2026, 5, 17, 10, 0), "checkin"),
            (wib(2026, 6, 16, 23, 59, 59), "officer_before"),
            (wib(2026, 6, 17, 23, 59, 59), "supervisor_due"),
        ],
    ),
    "banten-rehab-anak-terlantar": (
        "Rabu, 17 Maret 2027 pukul 23.59 WIB",
        [
            *[(wib(2026, month, 17, 10, 0), "checkin") for month in range(4, 13)],
            (wib(2026, 9, 16, 4, 59, 59), "officer_half"),
            (wib(2027, 1, 17, 10, 0), "checkin"),
            (wib(2027, 2, 17, 10, 0), "checkin"),
            (wib(2027, 3, 16, 23, 59, 59), "officer_before"),
            (wib(2027, 3, 17, 23, 59, 59), "supervisor_due"),
        ],
    ),
}

COMPLETION_PHRASES = {
    "officer_half": "Separuh waktu penyelesaian kasus",
    "officer_before": "harus selesai paling lambat",
    "supervisor_due": "Batas waktu penyelesaian kasus",
    "checkin": "Laporan perkembangan bulanan kasus",
}


def _agency_of(standard_code: str) -> tuple[str, str, str]:
    reg = registry()
    standard = reg.standard(standard_code)
    agency = reg.agency_of(standard)
    return agency.code, agency.name, agency.areas[0].kabupaten


async def _open_case(world: World, standard_code: str, *, contact: str = "tg-id") -> int:
    agency_code, _, kabupaten = _agency_of(standard_code)
    return await world.open_case(
        agency_code=agency_code,
        standard_code=standard_code,
        category=registry().standard(standard_code).categories[0].value,
        contact=contact,
        kabupaten=kabupaten,
    )


@pytest.mark.parametrize("standard_code", sorted(COMPLETION))
async def test_case_walks_its_whole_plan(
    standard_code: str, db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    agency_code, office, kabupaten = _agency_of(standard_code)
    standard = registry().standard(standard_code)
    due_text, completion = COMPLETION[standard_code]
    case_id = await _open_case(world, standard_code)
    number = "LPR-2026-000001"
    group, officer = f"telegram:grp-{agency_code}", f"telegram:off-{agency_code}"
    supervisor, citizen = f"telegram:sup-{agency_code}", "telegram:tg-id"
    steps = standard.procedure[0].steps
    closed_at = max(at for at, _ in completion) + timedelta(hours=1)

    async def claim(session: AsyncSession, now: datetime) -> None:
        case = await session.get(Case, case_id)
        assert case is not None
        case.status, case.assigned_officer_id = "claimed", world.officers[f"off-{agency_code}"]
        await world.service.on_case_claimed(session, case, now)

    async def step(session: AsyncSession, now: datetime) -> None:
        case = await session.get(Case, case_id)
        assert case is not None
        case.status, case.current_step = "in_progress", 1
        await world.service.on_step(session, case, now)

    async def close(session: AsyncSession, now: datetime) -> None:
        case = await session.get(Case, case_id)
        assert case is not None
        case.status, case.closed_at = "closed", now
        await world.service.on_closed(session, case, now)

    expected = [
        Expect(
            T0,
            citizen,
            exact=(
                f"Laporan Anda telah diterima oleh {office} dengan nomor {number}. Sesuai "
                f"standar pelayanan, penanganan selesai paling lambat {due_text}. Kami akan "
                "mengabari Anda setiap ada perkembangan."
            ),
        ),
        Expect(
            T0 + timedelta(hours=1),
            group,
            (f"⏰ Kasus {number} belum diambil petugas.", f"Wilayah: {kabupaten}", "biasa (2)"),
        ),
        Expect(
            T0 + timedelta(hours=1),
            supervisor,
            (f"⚠️ Eskalasi: kasus {number}", "sejak Selasa, 17 Maret 2026 pukul 10.00 WIB"),
        ),
        Expect(
            T0 + timedelta(hours=2),
            citizen,
            exact=f"Laporan {number} sedang ditangani oleh petugas {office}.",
        ),
        Expect(
            T0 + timedelta(hours=3),
            citizen,
            exact=f"Perkembangan laporan {number}: {steps[1]} (langkah 2 dari {len(steps)}).",
        ),
        *[
            Expect(
                at,
                supervisor if key == "supervisor_due" else officer,
                (COMPLETION_PHRASES[key], number, due_text),
            )
            for at, key in completion
        ],
        Expect(closed_at, citizen, (f"Laporan {number} telah selesai ditangani oleh {office}",)),
        Expect(closed_at, citizen, (f"Bagaimana penilaian Anda atas pelayanan {office}",)),
        Expect(
            closed_at + timedelta(days=1),
            citizen,
            (f"Kami masih menunggu penilaian Anda atas pelayanan untuk laporan {number}",),
        ),
    ]
    actions = {
        T0 + timedelta(hours=2): claim,
        T0 + timedelta(hours=3): step,
        closed_at: close,
    }
    await walk(world, expected, actions, end=closed_at + timedelta(days=400))


async def test_lumajang_texts_in_full(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """The working-day case across Idul Fitri 2026, every officer text word for word."""
    world = await make_world(db_sessionmaker, tmp_path, T0)
    await _open_case(world, "lumajang-rekomendasi-anak")
    title = registry().standard("lumajang-rekomendasi-anak").title
    await world.tick()  # the acknowledgment
    world.clock.set(wib(2026, 3, 17, 11, 0))
    assert len(await world.tick()) == 2  # unclaimed: the group and the supervisor
    world.clock.set(wib(2026, 3, 17, 16, 0))
    [before] = await world.tick()
    assert before.chat == "telegram:grp-dinsosp3a-lumajang"  # nobody claimed: the group hears
    assert before.text == (
        f"⏰ Kasus LPR-2026-000001 ({title}) harus selesai paling lambat Rabu, 25 Maret 2026 "
        "pukul 16.00 WIB (1 minggu lagi).\n(Belum ada petugas yang mengambil kasus/pengaduan ini.)"
    )
    world.clock.set(wib(2026, 3, 25, 9, 0))
    [half] = await world.tick()
    assert half.text == (
        f"⏳ Separuh waktu penyelesaian kasus LPR-2026-000001 ({title}) telah berlalu. Batas: "
        "Rabu, 25 Maret 2026 pukul 16.00 WIB (7 jam lagi).\n"
        "(Belum ada petugas yang mengambil kasus/pengaduan ini.)"
    )
    world.clock.set(wib(2026, 3, 25, 16, 0))
    [due] = await world.tick()
    assert due.chat == "telegram:sup-dinsosp3a-lumajang"
    assert due.text == (
        f"⚠️ Batas waktu penyelesaian kasus LPR-2026-000001 ({title}) telah tiba: Rabu, 25 Maret "
        "2026 pukul 16.00 WIB. Langkah 1 dari 7. Petugas: belum ada."
    )


@pytest.mark.parametrize("standard_code", sorted(COMPLETION))
async def test_complaint_walks_its_whole_plan(
    standard_code: str, db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """2x24 jam: the handler at 24 h and 4 h before, the supervisor at the deadline and daily
    after it until answered; the citizen's acknowledgment, the answer and the survey — on
    WhatsApp, through the template once the 24-hour window has closed."""
    world = await make_world(db_sessionmaker, tmp_path, T0)
    agency_code, office, _ = _agency_of(standard_code)
    case_id = await _open_case(world, standard_code)
    # The case's own reminders are not what this test watches: close it at once.
    async with world.sessionmaker() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        case.status, case.closed_at = "closed", T0
        await world.service.on_closed(session, case, T0)
        # ... and rate it, so the case's survey reminder is not sent either.
        await world.service.on_rated(session, T0, case=case)
        complaint = await create_complaint(
            session,
            agency_code=agency_code,
            text="Belum ada kabar",
            locale="id",
            received_at=T0,
            case_id=case_id,
            contact_id=world.contacts["wa-id"],
        )
        await world.service.on_complaint_filed(session, complaint, T0)
        complaint_id = complaint.id
    number = "ADU-2026-000001"
    due = "Kamis, 19 Maret 2026 pukul 10.00 WIB"
    first = await world.tick()
    # The case's acknowledgment and closing, then the complaint's acknowledgment.
    assert [m.chat for m in first] == ["telegram:tg-id"] * 2 + ["whatsapp:wa-id"]
    assert first[-1].text == (
        f"Pengaduan Anda telah diterima oleh {office} dengan nomor {number}. Jawaban akan kami "
        f"sampaikan paling lambat {due}."
    )
    assert first[-1].template is None
    officer, supervisor = f"telegram:off-{agency_code}", f"telegram:sup-{agency_code}"
    answered_at = T0 + timedelta(hours=100)

    async def assign(session: AsyncSession, now: datetime) -> None:
        complaint = await session.get(Complaint, complaint_id)
        assert complaint is not None
        complaint.handler_officer_id = world.officers[f"off-{agency_code}"]

    async def answer(session: AsyncSession, now: datetime) -> None:
        complaint = await session.get(Complaint, complaint_id)
        assert complaint is not None
        complaint.status, complaint.answer, complaint.answered_at = "answered", "Sudah.", now
        await world.service.on_complaint_answered(session, complaint, now)

    answer_text = f"Jawaban atas pengaduan {number} dari {office}:\nSudah."
    expected = [
        Expect(
            T0 + timedelta(hours=24),
            officer,
            exact=f"📨 Pengaduan {number} harus dijawab paling lambat {due} (1 hari lagi).",
        ),
        Expect(
            T0 + timedelta(hours=44),
            officer,
            exact=(
                f"⏰ Pengaduan {number} harus dijawab paling lambat {due} (4 jam lagi). "
                "Mohon segera dijawab."
            ),
        ),
        Expect(
            T0 + timedelta(hours=48),
            supervisor,
            exact=(
                f"⚠️ Batas waktu jawaban pengaduan {number} telah tiba ({due}) dan belum "
                f"dijawab. Penanggung jawab: Officer {agency_code}."
            ),
        ),
        Expect(
            T0 + timedelta(hours=72),
            supervisor,
            exact=(
                f"⚠️ Pengaduan {number} belum dijawab, terlambat 1 hari (batas {due}). "
                f"Penanggung jawab: Officer {agency_code}."
            ),
        ),
        Expect(
            T0 + timedelta(hours=96),
            supervisor,
            exact=(
                f"⚠️ Pengaduan {number} belum dijawab, terlambat 2 hari (batas {due}). "
                f"Penanggung jawab: Officer {agency_code}."
            ),
        ),
        Expect(answered_at, "whatsapp:wa-id", exact=answer_text),
        Expect(answered_at, "whatsapp:wa-id", (f"atas jawaban pengaduan {number}?",)),
        Expect(
            answered_at + timedelta(days=1),
            "whatsapp:wa-id",
            (f"Kami masih menunggu penilaian Anda atas jawaban pengaduan {number}",),
        ),
    ]
    actions = {T0 + timedelta(hours=1): assign, answered_at: answer}
    world.clock.set(T0 + timedelta(hours=1))
    await walk(world, expected, actions, end=answered_at + timedelta(days=30))


async def test_whatsapp_uses_the_template_only_outside_the_window(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    await _open_case(world, "riau-penyerahan-anak-lansia", contact="wa-id")
    [ack] = await world.tick()
    assert ack.template is None  # the citizen wrote just now: free-form text
    async with world.sessionmaker() as session, session.begin():
        case = await session.get(Case, 1)
        assert case is not None
        case.status, case.closed_at = "closed", T0 + timedelta(hours=25)
        await world.service.on_closed(session, case, T0 + timedelta(hours=25))
    world.clock.set(T0 + timedelta(hours=25))
    closed, survey = await world.tick()
    assert closed.template == "laporbot_followup"
    assert closed.template_params == ("LPR-2026-000001", " ".join(closed.text.split()))
    assert survey.template == "laporbot_followup"
    world.clock.set(T0 + timedelta(hours=49))
    [reminder] = await world.tick()
    assert reminder.template == "laporbot_reminder"
