"""A case's whole life through the officer entry points, on a real database: a citizen's
report reaches the group, an officer claims it, works every step of the Kab. Bintan procedure
and closes it; the citizen hears the news; the audit timeline has every action."""

from __future__ import annotations

from sqlalchemy import select

from laporbot.db import outbox
from laporbot.db.models import Reminder
from tests.officers.conftest import Office

GROUP = "-1001234"
OFFICER = "7001"
SUPERVISOR = "7002"
CITIZEN = "42"


async def staff(office: Office) -> None:
    """Bintan's triage group, one officer and one supervisor, all by invite."""
    group_code = await office.invite("dinsos-bintan", "group")
    assert await office.person(SUPERVISOR).says(f"/daftar {group_code}", in_group=GROUP)
    assert await office.person(OFFICER).says(
        f"/daftar {await office.invite('dinsos-bintan', 'officer')} Budi"
    )
    assert await office.person(SUPERVISOR).says(
        f"/daftar {await office.invite('dinsos-bintan', 'supervisor')} Sari"
    )


async def test_report_to_closure_through_every_bintan_step(office: Office) -> None:
    await staff(office)
    assert "terdaftar sebagai grup triase" in (await office.texts(GROUP))[0]
    assert "Selamat datang" in (await office.texts(OFFICER))[0]

    case = await office.citizen_reports(office.person(CITIZEN))
    posts = await office.outbox(GROUP)
    post = posts[-1]
    assert post.dedup_key == f"triage:{case.id}:0"
    text = str(post.payload["text"])
    assert case.number in text
    assert "Anak terlantar" in text
    assert "Kec. Bintan Timur" in text
    assert "Jl. Raya Kijang" not in text
    assert "pelabuhan" not in text
    assert [b["id"] for b in post.payload["buttons"]] == [
        f"of:c:{case.id}",
        f"of:a:{case.id}",
        f"of:e:{case.id}",
        f"of:r:{case.id}",
        f"of:n:{case.id}",
    ]

    # The post went out: Telegram gave it message id 555; later changes edit it.
    async with office.maker() as db, db.begin():
        await outbox.mark_sent(db, post.id, office.clock.now, ["555"])

    officer = office.person(OFFICER)
    assert await officer.presses(f"of:c:{case.id}", in_group=GROUP, on="555")
    claimed = await office.case(case.id)
    assert claimed.status == "claimed"
    assert claimed.assigned_officer_id is not None
    edit = (await office.outbox(GROUP))[-1]
    assert edit.payload["edit_of"] == "555"
    assert "ditangani Budi, langkah 1 dari 11" in str(edit.payload["text"])
    # The details, with the address, went to the officer's private chat only.
    private = await office.texts(OFFICER)
    assert any("Jl. Raya Kijang No. 7" in t and "RAHASIA" in t for t in private)

    for step in range(1, 12):
        assert await officer.says(f"/lanjut {case.number} langkah {step} selesai")
        current = await office.case(case.id)
        assert current.current_step == step
    assert "semua 11 langkah selesai" in (await office.texts(OFFICER))[-1]
    assert "semua langkah selesai" in str((await office.outbox(GROUP))[-1].payload["text"])

    assert await officer.says(f"/selesai {case.number}")
    close_buttons = (await office.outbox(OFFICER))[-1].payload["buttons"]
    assert close_buttons == [{"id": f"of:z:{case.id}:0", "label": "anak yang di rehab"}]
    assert await officer.presses(f"of:z:{case.id}:0")
    closed = await office.case(case.id)
    assert (closed.status, closed.outcome) == ("resolved", "anak yang di rehab")
    final = (await office.outbox(GROUP))[-1].payload
    assert "Status: selesai" in final["text"]
    assert final["buttons"] == []

    # The citizen: verified (step 2), visit scheduled (step 3) from the officer side; claimed,
    # each step and the closure are status follow-ups the reminder sweep sends.
    citizen_texts = await office.texts(f"{CITIZEN}")
    assert any("telah diverifikasi" in t for t in citizen_texts)
    assert any("melakukan kunjungan" in t for t in citizen_texts)
    assert not any("langkah 5 selesai" in t for t in citizen_texts)  # no internal notes
    async with office.maker() as db:
        follow_ups = (
            await db.scalars(
                select(Reminder.payload).where(
                    Reminder.case_id == case.id, Reminder.kind == "citizen.status"
                )
            )
        ).all()
    assert [p["event"] for p in follow_ups] == ["claimed"] + ["step"] * 10 + ["closed"]

    kinds = [(e.kind, e.actor_kind) for e in await office.events(case.id)]
    assert kinds[:4] == [
        ("opened", "citizen"),
        ("triage_posted", "system"),
        ("claimed", "officer"),
        ("details_viewed", "officer"),
    ]
    assert [k for k, _ in kinds].count("step_completed") == 11
    assert ("verified", "officer") in kinds
    assert ("visit_scheduled", "officer") in kinds
    assert kinds[-1] == ("resolved", "officer")
    notes = [e.data.get("note") for e in await office.events(case.id) if e.kind == "step_completed"]
    assert notes[0] == "langkah 1 selesai"


async def test_citizen_messages_come_in_their_language(office: Office) -> None:
    await staff(office)
    english = [
        "english",
        "1",
        "1",
        "no",
        "yes",
        "Kab. Bintan",
        "Toapaya",
        "Jl. Mawar 3",
        "8",
        "2",
        "crying near the market",
        "skip",
        "yes",
    ]
    citizen = office.person("43")
    for line in english:
        await citizen.says(line)
    await citizen.presses("confirm")
    case = await office.case(1)
    assert case.locale == "en", await office.texts("43")
    officer = office.person(OFFICER)
    await officer.says(f"/ambil {case.number}")
    await officer.says(f"/verifikasi {case.number}")
    await officer.says(f"/kunjungan {case.number} Kamis 26 Maret 10.00")
    texts = await office.texts("43")
    assert any("has been verified" in t for t in texts)
    assert any("will visit for report" in t and "Kamis 26 Maret" in t for t in texts)


async def test_group_post_not_yet_sent_is_rewritten_in_place(office: Office) -> None:
    await staff(office)
    case = await office.citizen_reports(office.person(CITIZEN))
    before = len(await office.outbox(GROUP))
    await office.person(OFFICER).says(f"/darurat {case.number}")
    posts = await office.outbox(GROUP)
    assert len(posts) == before  # no edit of a message Telegram has not got yet
    assert "DARURAT" in str(posts[-1].payload["text"])
    assert (await office.case(case.id)).priority == 0


async def test_queue_lists_own_and_unclaimed_by_priority_then_due(office: Office) -> None:
    await staff(office)
    first = await office.citizen_reports(office.person("44"))
    second = await office.citizen_reports(office.person("45"))
    officer = office.person(OFFICER)
    await officer.says(f"/darurat {second.number}")
    await officer.says("/antrian")
    queue = (await office.outbox(OFFICER))[-1].payload
    lines = queue["text"].splitlines()
    assert second.number in lines[1]
    assert "DARURAT" in lines[1]
    assert first.number in lines[2]
    assert [b["id"] for b in queue["buttons"]] == [f"of:c:{second.id}", f"of:c:{first.id}"]
    # Claimed by someone else: no longer in this officer's queue.
    await office.person(SUPERVISOR).says(f"/ambil {first.number}")
    await officer.says("/queue")
    assert first.number not in (await office.outbox(OFFICER))[-1].payload["text"]


async def test_checklist_note_attach_and_reject(office: Office) -> None:
    await staff(office)
    case = await office.citizen_reports(office.person(CITIZEN))
    officer = office.person(OFFICER)
    await officer.says(f"/ambil {case.number}")
    await officer.presses(f"of:q:{case.id}:0")
    checklist = (await office.outbox(OFFICER))[-1].payload["text"]
    assert "(1/1)" in checklist
    assert "✅ 1. laporan sosial pekerja sosial anak" in checklist
    await officer.presses(f"of:t:{case.id}")
    assert "Tulis catatan" in (await office.texts(OFFICER))[-1]
    # A sticker is no note: asked again, and the note still goes where it was meant to.
    await officer.sends_sticker()
    assert (await office.texts(OFFICER))[-1] == "Mohon tulis teksnya."
    await officer.says("keluarga belum bisa dihubungi")
    await officer.says(f"/lampiran {case.number}")
    await officer.sends_sticker()
    assert "foto" in (await office.texts(OFFICER))[-1].lower()
    await officer.sends_photo("file-abc", "surat tugas")
    await officer.sends_photo("file-def", f"{case.number} foto lokasi")
    stored = await office.case(case.id)
    assert [a["ref"] for a in stored.details["attachments"]] == ["file-abc", "file-def"]
    await officer.presses(f"of:x:{case.id}")
    await officer.says("bukan anak terlantar, sudah bersama keluarga")
    rejected = await office.case(case.id)
    assert rejected.status == "rejected"
    kinds = [e.kind for e in await office.events(case.id)]
    assert kinds[-5:] == [
        "requirement_checked",
        "note_added",
        "attachment_added",
        "attachment_added",
        "rejected",
    ]
    # A finished case cannot be changed any more.
    await officer.says(f"/lanjut {rejected.number} lagi")
    assert "tidak berwenang" in (await office.texts(OFFICER))[-1]
