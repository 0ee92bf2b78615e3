"""Officers read the bot in their own language: Telegram's language_code when they redeem the
invite, if the deployment speaks it; groups stay in the default language."""

from __future__ import annotations

from sqlalchemy import select

from laporbot.db.models import Officer
from laporbot.messages import InboundMessage
from tests.officers.conftest import Office
from tests.officers.test_complaints_and_questions import complain

GROUP = "-100444"
CITIZEN = "42"


async def _register(office: Office, user_id: str, role: str, language: str | None) -> None:
    code = await office.invite("dinsos-bintan", role)
    office.counter += 1
    message = InboundMessage(
        channel="telegram",
        platform_id=str(office.counter),
        user_id=user_id,
        chat_id=user_id,
        received_at=office.clock.tick(),
        kind="command",
        text=f"/daftar {code} Nama {user_id}",
        language_hint=language,
    )
    assert await office.officer_inbound(message)


async def _locale_of(office: Office, user_id: str) -> str | None:
    async with office.maker() as db:
        officer = await db.scalar(select(Officer).where(Officer.telegram_user_id == user_id))
        assert officer is not None
        return officer.locale


async def test_the_invite_takes_the_telegram_language_when_spoken(office: Office) -> None:
    assert await office.person("1").says(
        f"/daftar {await office.invite('dinsos-bintan', 'group')}", in_group=GROUP
    )
    await _register(office, "21", "supervisor", "en-GB")
    await _register(office, "22", "officer", "fr")
    await _register(office, "23", "officer", None)
    assert [await _locale_of(office, u) for u in ("21", "22", "23")] == ["en", None, None]
    assert (await office.texts("21"))[-1].startswith("Welcome. You are registered as")
    assert (await office.texts("22"))[-1].startswith("Selamat datang")
    assert (await office.texts("23"))[-1].startswith("Selamat datang")
    # Their private chats go on in their language; the group stays in the default one.
    await office.person("21").says("/antrian")
    await office.person("22").says("/antrian")
    assert (await office.texts("21"))[-1] == "No cases in the queue."
    assert (await office.texts("22"))[-1] != "No cases in the queue."
    case = await office.citizen_reports(office.person(CITIZEN))
    assert "Status: belum diambil petugas" in (await office.texts(GROUP))[-1]
    # Claimed from the group button: the details reach the officer privately, in English.
    await office.person("21").presses(f"of:c:{case.id}", in_group=GROUP)
    details = (await office.texts("21"))[-1]
    assert details.startswith(f"🔒 CONFIDENTIAL — Case {case.number}\nOffice: ")
    assert "Tuesday, 24 March 2026" in details  # received, worded in English too
    # The group's post, redrawn for the claim, stays Indonesian.
    group_post = (await office.outbox(GROUP))[-1].payload["text"]
    assert "Kategori: Anak terlantar" in group_post


async def test_complaint_handlers_are_told_each_in_their_language(office: Office) -> None:
    await _register(office, "11", "supervisor", "en")
    await _register(office, "12", "admin", "id")
    case = await office.citizen_reports(office.person(CITIZEN))
    complaint = await complain(office, case.number)
    english = (await office.outbox("11"))[-1].payload
    indonesian = (await office.outbox("12"))[-1].payload
    assert english["text"].startswith(f"📨 Complaint {complaint.number}")
    assert english["buttons"][0]["label"] == "Answer"
    assert indonesian["text"].startswith(f"📨 Pengaduan {complaint.number}")
    assert indonesian["buttons"][0]["label"] == "Jawab"
