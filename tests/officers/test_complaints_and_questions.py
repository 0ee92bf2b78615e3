"""Complaints reach the office's handlers and are answered; the citizen rates or reopens.
Officers ask anonymous reporters through the bot without learning who they are."""

from __future__ import annotations

from sqlalchemy import select

from laporbot.db import outbox
from laporbot.db.models import Complaint, Officer
from tests.officers.conftest import Office

GROUP = "-100333"
CITIZEN = "42"


async def staff(office: Office) -> None:
    await office.person("1").says(
        f"/daftar {await office.invite('dinsos-bintan', 'group')}", in_group=GROUP
    )
    await office.person("11").says(
        f"/daftar {await office.invite('dinsos-bintan', 'supervisor')} Sari"
    )
    await office.person("12").says(
        f"/daftar {await office.invite('dinsos-bintan', 'officer')} Budi"
    )


async def complain(office: Office, number: str) -> Complaint:
    citizen = office.person(CITIZEN)
    for line in ["halo", "2", "ya", "1", number, "sudah dua hari belum ada petugas datang", "ya"]:
        assert not await citizen.says(line)
    await citizen.presses("confirm")
    async with office.maker() as db:
        found = await db.scalar(select(Complaint).order_by(Complaint.id.desc()).limit(1))
        assert found is not None
        return found


async def test_complaint_answered_rated_reopened_and_answered_by_reply(office: Office) -> None:
    await staff(office)
    case = await office.citizen_reports(office.person(CITIZEN))
    complaint = await complain(office, case.number)

    handler = (await office.outbox("11"))[-1]
    assert "belum ada petugas datang" in str(handler.payload["text"])
    assert handler.payload["buttons"] == [{"id": f"of:w:{complaint.id}", "label": "Jawab"}]
    notice = (await office.texts(GROUP))[-1]
    assert complaint.number in notice
    assert "petugas datang" not in notice  # the text stays with the handlers
    # A plain officer is not a complaint handler.
    await office.person("12").says(f"/jawab {complaint.number} bukan urusan saya")
    assert "tidak berwenang" in (await office.texts("12"))[-1]

    await office.person("11").says(f"/jawab {complaint.number} Petugas kami datang besok pagi.")
    async with office.maker() as db:
        answered = await db.get(Complaint, complaint.id)
        assert answered is not None
        assert (answered.status, answered.answer) == ("answered", "Petugas kami datang besok pagi.")
    await office.sweep()
    to_citizen = await office.outbox(CITIZEN)
    assert any("Petugas kami datang besok pagi." in str(r.payload["text"]) for r in to_citizen)
    survey = [r for r in to_citizen if r.payload["buttons"]][-1]
    assert f"survey:complaint:{complaint.number}:4" in [b["id"] for b in survey.payload["buttons"]]

    # "Not resolved": reopened, the handlers hear it again.
    assert await office.person(CITIZEN).presses(f"survey:complaint:{complaint.number}:reopen")
    assert "dibuka kembali" in (await office.texts(CITIZEN))[-1]
    again = (await office.outbox("11"))[-1]
    assert "dibuka kembali" in str(again.payload["text"])
    async with office.maker() as db, db.begin():
        await outbox.mark_sent(db, again.id, office.clock.now, ["900"])
    # The handler answers by replying to the notification.
    assert await office.person("11").says("Sudah kami kunjungi hari ini.", reply_to="900")
    async with office.maker() as db:
        second = await db.get(Complaint, complaint.id)
        assert second is not None
        assert (second.status, second.answer) == ("answered", "Sudah kami kunjungi hari ini.")
    # Someone else cannot rate it; the citizen can, once it is answered.
    assert await office.person("77").presses(f"survey:complaint:{complaint.number}:1")
    assert await office.person(CITIZEN).presses(f"survey:complaint:{complaint.number}:4")
    async with office.maker() as db:
        rated = await db.get(Complaint, complaint.id)
        assert rated is not None
        assert (rated.status, rated.rating) == ("closed", 4)
    kinds = [e.kind for e in await office.events(case.id)]
    assert kinds[-5:] == [
        "complaint_filed",
        "complaint_answered",
        "complaint_reopened",
        "complaint_answered",
        "complaint_rated",
    ]


async def test_officer_asks_an_anonymous_reporter_and_sees_only_the_answer(office: Office) -> None:
    await staff(office)
    case = await office.citizen_reports(office.person(CITIZEN))
    assert case.anonymous
    officer = office.person("12")
    await officer.says(f"/ambil {case.number}")
    details = (await office.texts("12"))[-1]
    assert "anonim" in details
    assert CITIZEN not in details.split("Pelapor:")[1].splitlines()[0]
    await officer.says(f"/tanya {case.number} Apakah anak itu masih di pelabuhan?")
    question = (await office.outbox(CITIZEN))[-1].payload
    assert "Apakah anak itu masih di pelabuhan?" in question["text"]
    assert question["buttons"] == [{"id": f"anr:{case.id}", "label": "Jawab"}]

    # The reporter's next message is the answer; it reaches the officer without who sent it.
    assert await office.person(CITIZEN).says("Masih, dekat loket tiket")
    answer = (await office.texts("12"))[-1]
    assert "Masih, dekat loket tiket" in answer
    assert "Apakah anak itu masih di pelabuhan?" in answer
    assert CITIZEN not in answer
    assert "diteruskan ke petugas" in (await office.texts(CITIZEN))[-1]
    # After the answer the reporter is back in the normal conversation.
    assert not await office.person(CITIZEN).says("halo")

    # A second question while the reporter is busy elsewhere: the answer button starts it.
    await office.person(CITIZEN).says("1")
    await officer.says(f"/tanya {case.number} Ada keluarga di sekitar?")
    assert not await office.person(CITIZEN).says("1")  # still their report conversation
    assert await office.person(CITIZEN).presses(f"anr:{case.id}")
    assert await office.person(CITIZEN).says("Tidak ada")
    assert "Tidak ada" in (await office.texts("12"))[-1]
    stored = await office.case(case.id)
    assert [q["answer"] for q in stored.details["questions"]] == [
        "Masih, dekat loket tiket",
        "Tidak ada",
    ]
    kinds = [e.kind for e in await office.events(case.id)]
    assert kinds.count("reporter_asked") == 2
    assert kinds.count("reporter_answered") == 2
    # Someone else pressing the reporter's answer button gets nothing.
    assert await office.person("99").presses(f"anr:{case.id}")
    assert "tidak lagi berlaku" in (await office.texts("99"))[-1]


async def test_an_officer_of_the_office_cannot_answer_another_offices_complaint(
    office: Office,
) -> None:
    await staff(office)
    await office.person("31").says(
        f"/daftar {await office.invite('dinsospmd-babel', 'admin')} Admin Babel"
    )
    case = await office.citizen_reports(office.person(CITIZEN))
    complaint = await complain(office, case.number)
    await office.person("31").says(f"/jawab {complaint.number} jawaban dari kantor lain")
    assert "tidak berwenang" in (await office.texts("31"))[-1]
    async with office.maker() as db:
        still = await db.get(Complaint, complaint.id)
        assert still is not None
        assert still.status == "open"
        leads = (await db.scalars(select(Officer).where(Officer.role == "admin"))).all()
        assert len(leads) == 1


async def test_answer_button_asks_the_handler_for_the_answer(office: Office) -> None:
    await staff(office)
    case = await office.citizen_reports(office.person(CITIZEN))
    complaint = await complain(office, case.number)
    assert await office.person("12").presses(f"of:w:{complaint.id}")
    assert "tidak berwenang" in (await office.texts("12"))[-1]
    assert await office.person("11").presses(f"of:w:{complaint.id}")
    assert "Tulis jawaban untuk pengaduan" in (await office.texts("11"))[-1]
    assert await office.person("11").says("Mohon maaf, petugas kami datang hari ini.")
    async with office.maker() as db:
        answered = await db.get(Complaint, complaint.id)
        assert answered is not None
        assert answered.answer == "Mohon maaf, petugas kami datang hari ini."
        assert answered.handler_officer_id == answered.answered_by
