"""No group message carries a child's identity: the renderer never puts it there, the send path
refuses it, and the suite-wide guard checks every group message any test queues."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select, update

from laporbot.db import outbox
from laporbot.db.agencies import sync_agencies
from laporbot.db.cases import create_case
from laporbot.db.models import Case, Contact
from laporbot.messages import Button, OutboundMessage
from laporbot.officers.context import Turn
from laporbot.privacy import PrivacyViolation, check_group_message, protected_fragments
from tests.officers import privacy_guard
from tests.officers.conftest import Office

NOW = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)


def a_case(**fields: object) -> Case:
    values: dict[str, object] = {
        "id": 1,
        "number": "LPR-2026-000001",
        "agency_code": "dinsos-bintan",
        "standard_code": "bintan-rehab-anak",
        "category": "anak_terlantar",
        "locale": "id",
        "received_at": NOW,
        "kecamatan": "Toapaya",
        "kabupaten": "Kab. Bintan",
        "address": "Jl. Melati No. 4, RT 02",
        "subject": {"age": 9, "sex": "female", "condition": "tidur di emperan toko sejak Senin"},
    }
    values.update(fields)
    return Case(**values)


def group_message(text: str, **fields: object) -> OutboundMessage:
    return OutboundMessage(channel="telegram", chat_id="-100", text=text, **fields)  # type: ignore[arg-type]


def test_address_description_name_and_photo_are_refused() -> None:
    case = a_case(subject={"name": "Siti Aminah", "condition": "tidur di emperan toko sejak Senin"})
    for leak in ("jl. melati no. 4, rt 02", "Siti Aminah", "tidur di emperan toko sejak Senin"):
        with pytest.raises(PrivacyViolation):
            check_group_message(group_message(f"Kasus baru: {leak}"), [case])
    with pytest.raises(PrivacyViolation):
        check_group_message(group_message("ok", photo="file-1"), [case])
    with pytest.raises(PrivacyViolation):  # button labels are shown in the group too
        check_group_message(group_message("ok", buttons=(Button("x", "Siti Aminah"),)), [case])
    check_group_message(group_message("LPR-2026-000001 · Kec. Toapaya, Kab. Bintan"), [case])


def test_an_address_that_is_only_the_area_is_no_secret() -> None:
    case = a_case(address="Toapaya")
    assert [what for what, _ in protected_fragments(case)] == ["the subject's description"]


async def test_the_send_path_refuses_a_leak_before_it_is_queued(office: Office) -> None:
    await office.person("1").says(
        f"/daftar {await office.invite('dinsos-bintan', 'group')}", in_group="-100444"
    )
    case = await office.citizen_reports(office.person("42"))
    before = len(await office.outbox("-100444"))
    leak = OutboundMessage(channel="telegram", chat_id="-100444", text=f"{case.address} !")
    async with office.maker() as db, db.begin():
        turn = Turn(office.desk.ctx, db, office.clock.now)
        with pytest.raises(PrivacyViolation):
            await turn.send(leak, case=case)
    assert len(await office.outbox("-100444")) == before


async def test_the_suite_wide_guard_sees_every_group_message(office: Office) -> None:
    case = await office.citizen_reports(office.person("42"))
    before = privacy_guard.GuardStats.inspected
    async with office.maker() as db:
        stored = await db.scalar(select(Case).where(Case.id == case.id))
        assert stored is not None
        address = stored.address
    # Even a message queued by some other part of laporbot, without naming the case.
    with pytest.raises(PrivacyViolation):
        async with office.maker() as db, db.begin():
            await outbox.enqueue(
                db, group_message(f"Lokasi: {address}"), office.clock.now, dedup_key="leak"
            )
    async with office.maker() as db, db.begin():
        await outbox.enqueue(db, group_message(f"{case.number} masuk"), office.clock.now)
    assert privacy_guard.GuardStats.inspected == before + 2
    assert [r.dedup_key for r in await office.outbox("-100")] == [None]


async def test_a_case_opened_in_the_same_transaction_is_screened_without_reading_it_again(
    office: Office,
) -> None:
    """The triage post of a case just opened: the case is checked as this transaction holds
    it (no query), the reporter's phone as the database has it (even one changed by a
    statement that left the contact object as it was)."""
    async with office.maker() as db, db.begin():
        await sync_agencies(db, [("dinsos-bintan", "Dinas Sosial", "Asia/Jakarta")])
        contact = Contact(
            channel="telegram",
            platform_user_id="77",
            chat_id="77",
            phone="+6281234",
            created_at=NOW,
        )
        db.add(contact)
        await db.flush()
        case = await create_case(
            db,
            agency_code="dinsos-bintan",
            standard_code="bintan-rehab-anak",
            category="anak_terlantar",
            locale="id",
            received_at=NOW,
            kabupaten="Kab. Bintan",
            address="Jl. Melati No. 4, RT 02",
            reporter_contact_id=contact.id,
        )
        await db.execute(
            update(Contact.__table__).where(Contact.id == contact.id).values(phone="+6289999")
        )
        seen: list[str] = []

        def record(*args: object) -> None:
            seen.append(str(args[2]))

        event.listen(db.get_bind(), "before_cursor_execute", record)
        try:
            row = await outbox.enqueue(
                db,
                group_message(f"{case.number}: Jl. Melati No. 4, RT 02, +6289999, +6281234"),
                NOW,
                case_id=case.id,
            )
        finally:
            event.remove(db.get_bind(), "before_cursor_execute", record)
        # (The suite-wide guard reads every case, with a LIMIT: not the screen's query.)
        assert not [sql for sql in seen if "FROM cases" in sql and "LIMIT" not in sql]
        assert [sql for sql in seen if "FROM contacts" in sql]
        # The phone the database has is cut; the one only the stale object had is not the
        # reporter's any more.
        assert row.payload["text"] == f"{case.number}: [\u2026], [\u2026], +6281234"
