"""Assigning by a lead, and referral to another office: the case moves with its history and
the receiving office's group is told."""

from __future__ import annotations

from sqlalchemy import select

from laporbot.db.models import Officer, Reminder
from tests.officers.conftest import Office

BINTAN_GROUP = "-100111"
BABEL_GROUP = "-100222"


async def test_lead_assigns_from_the_group_and_the_assignee_gets_the_details(
    office: Office,
) -> None:
    await office.person("1").says(
        f"/daftar {await office.invite('dinsos-bintan', 'group')}", in_group=BINTAN_GROUP
    )
    await office.person("11").says(
        f"/daftar {await office.invite('dinsos-bintan', 'supervisor')} Sari"
    )
    await office.person("12").says(
        f"/daftar {await office.invite('dinsos-bintan', 'officer')} Budi"
    )
    case = await office.citizen_reports(office.person("42"))
    # An officer may not assign.
    await office.person("12").presses(f"of:a:{case.id}", in_group=BINTAN_GROUP)
    assert "tidak berwenang" in (await office.texts(BINTAN_GROUP))[-1]
    await office.person("11").presses(f"of:a:{case.id}", in_group=BINTAN_GROUP)
    picker = (await office.outbox(BINTAN_GROUP))[-1].payload
    async with office.maker() as db:
        budi = await db.scalar(select(Officer).where(Officer.telegram_user_id == "12"))
        assert budi is not None
    assert {"id": f"of:a:{case.id}:{budi.id}", "label": "Budi"} in picker["buttons"]
    await office.person("11").presses(f"of:a:{case.id}:{budi.id}", in_group=BINTAN_GROUP)
    assigned = await office.case(case.id)
    assert assigned.assigned_officer_id == budi.id
    assert assigned.status == "claimed"
    assert any("Jl. Raya Kijang" in t for t in await office.texts("12"))
    assert "Budi" in (await office.texts(BINTAN_GROUP))[-1]
    events = await office.events(case.id)
    assert [(e.kind, e.data.get("assignee")) for e in events][2] == ("assigned", budi.id)
    assert events[3].kind == "details_viewed"
    assert events[3].actor_id == str(budi.id)


async def test_referral_moves_the_case_with_history_and_tells_the_receiving_group(
    office: Office,
) -> None:
    await office.person("1").says(
        f"/daftar {await office.invite('dinsos-bintan', 'group')}", in_group=BINTAN_GROUP
    )
    await office.person("2").says(
        f"/daftar {await office.invite('dinsospmd-babel', 'group')}", in_group=BABEL_GROUP
    )
    await office.person("12").says(
        f"/daftar {await office.invite('dinsos-bintan', 'officer')} Budi"
    )
    await office.person("21").says(
        f"/daftar {await office.invite('dinsospmd-babel', 'officer')} Rina"
    )
    case = await office.citizen_reports(office.person("42"))
    bintan = office.person("12")
    await bintan.says(f"/ambil {case.number}")
    await bintan.says(f"/lanjut {case.number} ditelusuri")
    await bintan.presses(f"of:n:{case.id}", in_group=BINTAN_GROUP)
    picker = (await office.outbox(BINTAN_GROUP))[-1].payload["buttons"]
    assert {
        "id": f"of:r:{case.id}:dinsospmd-babel",
        "label": "DINAS SOSIAL DAN PEMBERDAYAAN MASYARAKAT DESA"
        " (Pemerintah Provinsi Kepulauan Bangka Belitung)",
    } in picker
    assert f"of:r:{case.id}:dinsos-bintan" not in [b["id"] for b in picker]
    await bintan.says(f"/rujuk {case.number} dinsospmd-babel klien warga Pangkalpinang")

    moved = await office.case(case.id)
    assert moved.agency_code == "dinsospmd-babel"
    assert moved.standard_code == "babel-rehab-orang-terlantar"
    assert (moved.status, moved.current_step, moved.assigned_officer_id) == ("referred", 0, None)
    assert moved.track == "A"
    # The old group's post (not sent yet, so rewritten in the queue) says where it went and
    # offers nothing more.
    old = next(
        r for r in await office.outbox(BINTAN_GROUP) if r.dedup_key == f"triage:{case.id}:0"
    ).payload
    assert "Dirujuk ke DINAS SOSIAL DAN PEMBERDAYAAN" in old["text"]
    assert old["buttons"] == []
    # The receiving group gets its own post, with the buttons.
    new = (await office.outbox(BABEL_GROUP))[-1]
    assert new.dedup_key == f"triage:{case.id}:1"
    assert "rujukan dari kantor lain" in str(new.payload["text"])
    assert new.payload["buttons"][0]["id"] == f"of:c:{case.id}"
    # Bintan can no longer touch it; Babel can.
    await bintan.says(f"/kasus {case.number}")
    assert "tidak ditemukan" in (await office.texts("12"))[-1]
    rina = office.person("21")
    await rina.presses(f"of:c:{case.id}", in_group=BABEL_GROUP)
    await rina.says(f"/jalur {case.number} B")
    assert (await office.case(case.id)).track == "B"
    kinds = [e.kind for e in await office.events(case.id)]
    assert kinds[:6] == [
        "opened",
        "triage_posted",
        "claimed",
        "details_viewed",
        "step_completed",
        "referred",
    ]
    assert kinds[6:] == ["triage_posted", "claimed", "details_viewed", "track_set"]
    async with office.maker() as db:
        events = (
            await db.scalars(
                select(Reminder.payload).where(
                    Reminder.case_id == case.id, Reminder.kind == "citizen.status"
                )
            )
        ).all()
    assert [p["event"] for p in events] == ["claimed", "step", "referred", "claimed"]
