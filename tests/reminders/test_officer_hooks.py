"""What the officer side asked of the reminders: the complaint survey's "not resolved" button,
a rejected case worded as rejected, re-plans when a case turns emergency or a complaint is
reopened, and officers reminded in their own language."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.telegram.common import check_callback_data
from laporbot.channels.whatsapp.outbound import LIST_ROW_TITLE_LIMIT, plan
from laporbot.db.complaints import create_complaint
from laporbot.db.models import Case, Complaint, Deadline, Officer, Reminder
from laporbot.messages import OutboundMessage
from laporbot.reminders.digest import DailyDigest
from laporbot.reminders.render import Context, survey_buttons
from tests.reminders.support import World, make_world, registry, translator, wib

T0 = wib(2026, 3, 17, 10, 0)


async def _complain(world: World, contact: str = "tg-en") -> int:
    async with world.sessionmaker() as session, session.begin():
        complaint = await create_complaint(
            session,
            agency_code="dinsos-riau",
            text="Belum ada kabar",
            locale="id",
            received_at=T0,
            case_id=None,
            contact_id=world.contacts[contact],
        )
        await world.service.on_complaint_filed(session, complaint, T0)
        return complaint.id


async def _answer(world: World, complaint_id: int, at_hours: float) -> None:
    now = T0 + timedelta(hours=at_hours)
    world.clock.set(now)
    async with world.sessionmaker() as session, session.begin():
        complaint = await session.get(Complaint, complaint_id)
        assert complaint is not None
        complaint.status, complaint.answer, complaint.answered_at = "answered", "Sudah.", now
        await world.service.on_complaint_answered(session, complaint, now)


async def test_the_complaint_survey_has_a_not_resolved_button(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    complaint_id = await _complain(world)
    await world.tick()
    await _answer(world, complaint_id, 2)
    answer, survey = await world.tick()
    number = "ADU-2026-000001"
    assert answer.buttons == ()
    assert survey.buttons == (
        *(f"survey:complaint:{number}:{score}" for score in (1, 2, 3, 4)),
        f"survey:complaint:{number}:reopen",
    )
    assert '"Not resolved"' in survey.text
    # The reminder of an unanswered question offers it too.
    world.clock.set(T0 + timedelta(hours=26))
    [again] = await world.tick()
    assert again.buttons[-1] == f"survey:complaint:{number}:reopen"


async def test_the_case_survey_keeps_its_four_scores(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case_id = await world.open_case(contact="tg-en")
    await world.tick()
    async with world.sessionmaker() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        case.status, case.closed_at = "resolved", T0
        await world.service.on_closed(session, case, T0)
    _, survey = await world.tick()
    assert [b.rsplit(":", 1)[1] for b in survey.buttons] == ["1", "2", "3", "4"]


def test_the_not_resolved_button_fits_telegram_and_whatsapp() -> None:
    # The longest number the column holds (32 characters).
    complaint = Complaint(number="ADU-" + "9" * 28)
    ctx = Context(
        reminder=Reminder(kind="citizen.survey", payload={}),
        case=None,
        complaint=complaint,
        deadline=None,
        standard=None,
        office="Dinas Sosial",
        time_zone="Asia/Jakarta",
        officer=None,
    )
    for locale in ("id", "en"):
        buttons = survey_buttons(translator(), ctx, locale)
        assert len(buttons) == 5
        for button in buttons:
            check_callback_data(button.id)  # raises past 64 bytes
            assert len(button.label) <= LIST_ROW_TITLE_LIMIT
        [payload] = plan(
            OutboundMessage(channel="whatsapp", chat_id="62811", text="?", buttons=buttons),
            list_button_label="Pilih",
            template_language="id",
        )
        interactive = payload["interactive"]
        assert interactive["type"] == "list"
        rows = interactive["action"]["sections"][0]["rows"]
        assert [(row["id"], row["title"]) for row in rows] == [(b.id, b.label) for b in buttons]


async def _deadlines(session: AsyncSession, kind: str, subject_id: int) -> list[Deadline]:
    return list(
        (
            await session.scalars(
                select(Deadline)
                .where(Deadline.subject_kind == kind, Deadline.subject_id == subject_id)
                .order_by(Deadline.id)
            )
        ).all()
    )


async def _close(world: World, case_id: int, status: str, outcome: str) -> None:
    async with world.sessionmaker() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        case.status, case.outcome, case.closed_at = status, outcome, world.clock.now()
        await world.service.on_closed(session, case, world.clock.now())


async def test_a_rejected_case_is_not_called_handled(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    english = await world.open_case(contact="tg-en")
    indonesian = await world.open_case(contact="tg-id")
    await world.tick()
    world.clock.set(T0 + timedelta(hours=1))
    reason = "Anak sudah bersama keluarganya di Pekanbaru"
    await _close(world, english, "rejected", reason)
    await _close(world, indonesian, "rejected", reason)
    told_en, _, told_id, _ = await world.tick()
    assert told_en.text == (
        "Report LPR-2026-000001 cannot be followed up by Dinas Sosial and has been closed. "
        "Please contact the office if you need an explanation."
    )
    assert told_id.text == (
        "Laporan LPR-2026-000002 tidak dapat ditindaklanjuti oleh Dinas Sosial dan telah "
        "ditutup. Silakan hubungi kantor tersebut bila Anda memerlukan keterangan."
    )
    # The officer's reason is the audit log's, never the citizen's.
    assert reason not in told_en.text + told_id.text


async def test_a_resolved_case_is_still_called_handled(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case_id = await world.open_case(contact="tg-id")
    await world.tick()
    await _close(world, case_id, "resolved", "Rekomendasi")
    told, _ = await world.tick()
    assert told.text.startswith("Laporan LPR-2026-000001 telah selesai ditangani oleh")


async def _mark_emergency(world: World, case_id: int, at_minutes: int) -> None:
    now = T0 + timedelta(minutes=at_minutes)
    world.clock.set(now)
    async with world.sessionmaker() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        case.priority = 0
        await world.service.on_priority_changed(session, case, now)
        [triage] = [d for d in await _deadlines(session, "case", case_id) if d.kind == "triage"]
        assert triage.status == "open"


async def test_marked_emergency_soon_after_receipt_escalates_15_minutes_after_it(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case_id = await world.open_case(contact="tg-en")
    await world.tick()
    await _mark_emergency(world, case_id, 5)
    async with world.sessionmaker() as session:
        [triage] = [d for d in await _deadlines(session, "case", case_id) if d.kind == "triage"]
        assert triage.due_at == T0 + timedelta(minutes=15)
    world.clock.set(T0 + timedelta(minutes=14))
    assert await world.tick() == []
    world.clock.set(T0 + timedelta(minutes=15))
    group, supervisor = await world.tick()
    assert group.chat == "telegram:grp-dinsos-riau"
    assert "Prioritas: DARURAT" in group.text
    assert supervisor.chat == "telegram:sup-dinsos-riau"
    # The routine escalation at one hour is gone: nobody hears twice.
    world.clock.set(T0 + timedelta(hours=1))
    assert await world.tick() == []


async def test_marked_emergency_late_escalates_15_minutes_after_the_marking(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case_id = await world.open_case(contact="tg-en")
    await world.tick()
    await _mark_emergency(world, case_id, 40)
    world.clock.set(T0 + timedelta(minutes=54))
    assert await world.tick() == []
    world.clock.set(T0 + timedelta(minutes=55))
    chats = [m.chat for m in await world.tick()]
    assert chats == ["telegram:grp-dinsos-riau", "telegram:sup-dinsos-riau"]
    world.clock.set(T0 + timedelta(hours=2))
    assert await world.tick() == []


async def test_a_claimed_case_marked_emergency_escalates_nothing(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    case_id = await world.open_case(contact="tg-en")
    world.clock.set(T0 + timedelta(minutes=3))
    async with world.sessionmaker() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        case.status, case.assigned_officer_id = "claimed", world.officers["off-dinsos-riau"]
        await world.service.on_case_claimed(session, case, world.clock.now())
    await world.tick()
    async with world.sessionmaker() as session, session.begin():
        case = await session.get(Case, case_id)
        assert case is not None
        case.priority = 0
        await world.service.on_priority_changed(session, case, T0 + timedelta(minutes=5))
    world.clock.set(T0 + timedelta(hours=2))
    assert await world.tick() == []


async def test_a_reopened_complaint_gets_a_new_answer_deadline(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    complaint_id = await _complain(world, contact="tg-id")
    await world.tick()
    await _answer(world, complaint_id, 2)
    await world.tick()  # the answer and the survey
    reopened_at = T0 + timedelta(hours=3)
    world.clock.set(reopened_at)
    async with world.sessionmaker() as session, session.begin():
        complaint = await session.get(Complaint, complaint_id)
        assert complaint is not None
        complaint.status, complaint.rating = "reopened", None
        complaint.handler_officer_id = world.officers["off-dinsos-riau"]
        await world.service.on_complaint_reopened(session, complaint, reopened_at)
        # 2x24 jam from the reopening: Thursday 19 March 13:00 WIB.
        assert complaint.due_at == wib(2026, 3, 19, 13, 0)
        deadlines = await _deadlines(session, "complaint", complaint_id)
    assert [(d.status, d.due_at) for d in deadlines] == [
        ("met", wib(2026, 3, 19, 10, 0)),
        ("open", wib(2026, 3, 19, 13, 0)),
    ]
    # The survey's reminder is not sent: the citizen just answered it with "not resolved".
    world.clock.set(T0 + timedelta(hours=26, minutes=30))
    assert await world.tick() == []
    world.clock.set(reopened_at + timedelta(hours=24))
    [handler] = await world.tick()
    assert handler.chat == "telegram:off-dinsos-riau"
    assert handler.text == (
        "📨 Pengaduan ADU-2026-000001 harus dijawab paling lambat Kamis, 19 Maret 2026 pukul "
        "13.00 WIB (1 hari lagi)."
    )
    world.clock.set(reopened_at + timedelta(hours=48))
    chats = [m.chat for m in await world.tick()]
    assert chats == ["telegram:off-dinsos-riau", "telegram:sup-dinsos-riau"]  # 4 h; due
    # Answered again: the deadline is met and the survey asked again.
    await _answer(world, complaint_id, 51)
    answer, survey = await world.tick()
    assert answer.text.endswith("Sudah.")
    assert survey.buttons[-1] == "survey:complaint:ADU-2026-000001:reopen"
    async with world.sessionmaker() as session:
        statuses = [d.status for d in await _deadlines(session, "complaint", complaint_id)]
    assert statuses == ["met", "met"]


async def _speaks(world: World, key: str, locale: str | None) -> None:
    async with world.sessionmaker() as session, session.begin():
        officer = await session.get(Officer, world.officers[key])
        assert officer is not None
        officer.locale = locale


async def test_officers_are_reminded_in_their_own_language(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, T0)
    await _speaks(world, "off-dinsos-riau", "en")
    await _speaks(world, "sup-dinsos-riau", "fr")  # not spoken here: the default
    complaint_id = await _complain(world, contact="tg-id")
    async with world.sessionmaker() as session, session.begin():
        complaint = await session.get(Complaint, complaint_id)
        assert complaint is not None
        complaint.handler_officer_id = world.officers["off-dinsos-riau"]
    await world.tick()
    world.clock.set(T0 + timedelta(hours=24))
    [handler] = await world.tick()
    assert handler.chat == "telegram:off-dinsos-riau"
    assert handler.text == (
        "📨 Complaint ADU-2026-000001 must be answered by Thursday, 19 March 2026 at 10:00 WIB "
        "(in 1 day)."
    )
    world.clock.set(T0 + timedelta(hours=48))
    _, supervisor = await world.tick()
    assert supervisor.chat == "telegram:sup-dinsos-riau"
    assert supervisor.text.startswith("⚠️ Batas waktu jawaban pengaduan ADU-2026-000001")


async def test_the_digest_is_worded_per_supervisor_language(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    world = await make_world(db_sessionmaker, tmp_path, wib(2026, 3, 17, 7, 0))
    await _speaks(world, "sup-dinsos-riau", "en")
    async with world.sessionmaker() as session, session.begin():
        second = Officer(
            agency_code="dinsos-riau",
            telegram_user_id="sup2-dinsos-riau",
            role="supervisor",
            display_name="Second",
            active=True,
            created_at=T0 - timedelta(days=1),
        )
        session.add(second)
    digest = DailyDigest(world.sessionmaker, registry(), translator(), world.settings, world.clock)
    world.clock.set(wib(2026, 3, 17, 7, 30))
    await digest.run_due()
    sent = {m.chat: m.text for m in await world.new_messages()}
    assert sent["telegram:sup-dinsos-riau"].startswith("📋 Daily digest of Dinas Sosial, Tuesday")
    assert sent["telegram:sup2-dinsos-riau"].startswith("📋 Ringkasan harian")
    assert sent["telegram:sup-dinsosp3a-lumajang"].startswith("📋 Ringkasan harian")
