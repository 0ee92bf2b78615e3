"""Access control: agency scoping, roles, revocation; pure rules and through the entry point."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from laporbot.db.models import Case, Officer
from laporbot.errors import PermissionDenied
from laporbot.officers.access import Action, allowed, require
from laporbot.officers.invites import revoke
from tests.officers.conftest import Office

NOW = datetime(2026, 3, 24, 2, 0, tzinfo=UTC)


def officer(id_: int, agency: str = "dinsos-bintan", role: str = "officer") -> Officer:
    return Officer(
        id=id_,
        agency_code=agency,
        telegram_user_id=str(1000 + id_),
        role=role,
        display_name=f"O{id_}",
        active=True,
        created_at=NOW,
        revoked_at=None,
    )


def case(status: str = "new", assigned: int | None = None) -> Case:
    return Case(
        id=1,
        number="LPR-2026-000001",
        agency_code="dinsos-bintan",
        standard_code="bintan-rehab-anak",
        category="anak_terlantar",
        status=status,
        assigned_officer_id=assigned,
        priority=2,
        locale="id",
        received_at=NOW,
    )


def test_another_agency_can_do_nothing_not_even_look() -> None:
    other = officer(1, agency="dinsospmd-babel", role="admin")
    for action in Action:
        assert not allowed(other, action, case())
        assert not allowed(other, action, case("claimed", assigned=1))


def test_officers_claim_unclaimed_cases_and_work_their_own_only() -> None:
    mine, colleague = officer(1), officer(2)
    assert allowed(mine, Action.CLAIM, case())
    assert not allowed(mine, Action.CLAIM, case("claimed", assigned=2))
    assert allowed(mine, Action.EMERGENCY, case("claimed", assigned=2))
    for action in (Action.VIEW_DETAILS, Action.STEP, Action.CLOSE, Action.REJECT, Action.NOTE):
        assert allowed(mine, action, case("claimed", assigned=1))
        assert not allowed(colleague, action, case("claimed", assigned=1))
    # Personal details are for whoever works the case, not for the whole office.
    assert not allowed(colleague, Action.VIEW_DETAILS, case())


def test_only_leads_assign_and_leads_may_work_any_case_of_their_office() -> None:
    assert not allowed(officer(1), Action.ASSIGN, case())
    for role in ("supervisor", "admin"):
        lead = officer(3, role=role)
        assert allowed(lead, Action.ASSIGN, case())
        assert allowed(lead, Action.STEP, case("claimed", assigned=1))


def test_referral_of_an_unclaimed_case_is_a_triage_decision_anyone_may_take() -> None:
    assert allowed(officer(2), Action.REFER, case())
    assert not allowed(officer(2), Action.REFER, case("claimed", assigned=1))


def test_finished_cases_are_read_only() -> None:
    lead = officer(3, role="admin")
    for status in ("resolved", "rejected", "closed"):
        finished = case(status, assigned=3)
        assert allowed(lead, Action.VIEW_DETAILS, finished)
        assert not allowed(lead, Action.STEP, finished)
        assert not allowed(lead, Action.REFER, finished)


def test_a_revoked_officer_has_no_rights_at_all() -> None:
    gone = officer(1, role="admin")
    gone.revoked_at = NOW
    gone.active = False
    assert not any(allowed(gone, action, case("claimed", assigned=1)) for action in Action)
    with pytest.raises(PermissionDenied):
        require(gone, Action.VIEW, case())
    with pytest.raises(PermissionDenied):
        require(None, Action.VIEW, case())


# --- through the entry point, on a real database -------------------------------------------------

GROUP = "-1009"


async def test_other_office_cannot_see_or_change_the_case(office: Office) -> None:
    group_code = await office.invite("dinsos-bintan", "group")
    await office.person("8001").says(f"/daftar {group_code}", in_group=GROUP)
    await office.person("8001").says(f"/daftar {await office.invite('dinsos-bintan', 'officer')}")
    babel = office.person("9001")
    await babel.says(f"/daftar {await office.invite('dinsospmd-babel', 'admin')} Admin Babel")
    case = await office.citizen_reports(office.person("42"))

    assert await babel.says(f"/kasus {case.number}")
    assert "tidak ditemukan" in (await office.texts("9001"))[-1]
    assert await babel.says(f"/ambil {case.number}")
    assert await babel.says(f"/rujuk {case.number} dinsospmd-babel")
    assert await babel.presses(f"of:c:{case.id}")
    assert await babel.presses(f"of:d:{case.id}")
    assert await babel.presses(f"of:z:{case.id}:0")
    assert "tidak berwenang" in (await office.texts("9001"))[-1]
    await babel.says("/antrian")
    assert case.number not in (await office.texts("9001"))[-1]

    unchanged = await office.case(case.id)
    assert unchanged.status == "new"
    assert unchanged.assigned_officer_id is None
    assert unchanged.agency_code == "dinsos-bintan"
    assert not any("Jl. Raya" in t for t in await office.texts("9001"))
    kinds = [e.kind for e in await office.events(case.id)]
    assert kinds == ["opened", "triage_posted"]


async def test_an_unbound_user_gets_no_officer_command(office: Office) -> None:
    case = await office.citizen_reports(office.person("42"))
    stranger = office.person("5555")
    before = len(await office.outbox("5555"))
    # Commands pass through to the citizen side, which does not know them as officer commands.
    for command in (f"/kasus {case.number}", "/antrian", f"/ambil {case.number}"):
        assert not await stranger.says(command)
    texts = (await office.texts("5555"))[before:]
    assert not any(case.number in t for t in texts)
    # An officer button pressed by a stranger is refused.
    assert await stranger.presses(f"of:c:{case.id}")
    assert "tidak berwenang" in (await office.texts("5555"))[-1]
    assert (await office.case(case.id)).assigned_officer_id is None
    # In a group nobody registered, nothing is the officers' business.
    assert not await stranger.says("/antrian", in_group="-1777")


async def test_a_revoked_officer_loses_access_at_once(office: Office) -> None:
    person = office.person("8002")
    await person.says(f"/daftar {await office.invite('dinsos-bintan', 'supervisor')} Sari")
    case = await office.citizen_reports(office.person("42"))
    assert await person.says(f"/ambil {case.number}")
    async with office.maker() as db, db.begin():
        bound = await db.scalar(select(Officer).where(Officer.telegram_user_id == "8002"))
        assert bound is not None
        await revoke(db, bound.id, office.clock.now)
    # The very next message finds no binding: not an officer any more.
    assert not await person.says(f"/kasus {case.number}")
    assert await person.presses(f"of:s:{case.id}")
    assert "tidak berwenang" in (await office.texts("8002"))[-1]
    assert (await office.case(case.id)).current_step == 0


async def test_invite_codes_work_once_and_expire(office: Office) -> None:
    code = await office.invite("dinsos-bintan", "officer")
    assert await office.person("8101").says(f"/daftar {code.lower()}")
    assert "Selamat datang" in (await office.texts("8101"))[-1]
    assert await office.person("8102").says(f"/daftar {code}")
    assert "tidak berlaku" in (await office.texts("8102"))[-1]
    late = await office.invite("dinsos-bintan", "officer")
    office.clock.tick(60 * 24 * 8)
    assert await office.person("8103").says(f"/register {late}")
    assert "tidak berlaku" in (await office.texts("8103"))[-1]
    # A group code does not make a person an officer, and an officer code registers no group.
    group_code = await office.invite("dinsos-bintan", "group")
    assert await office.person("8104").says(f"/daftar {group_code}")
    assert "tidak berlaku" in (await office.texts("8104"))[-1]
    officer_code = await office.invite("dinsos-bintan", "officer")
    assert await office.person("8104").says(f"/daftar {officer_code}", in_group="-1888")
    assert "tidak berlaku" in (await office.texts("-1888"))[-1]


async def test_two_officers_claiming_at_once_one_wins(office: Office) -> None:
    await office.person("8201").says(f"/daftar {await office.invite('dinsos-bintan', 'officer')}")
    await office.person("8202").says(f"/daftar {await office.invite('dinsos-bintan', 'officer')}")
    case = await office.citizen_reports(office.person("42"))
    await asyncio.gather(
        office.person("8201").says(f"/ambil {case.number}"),
        office.person("8202").says(f"/ambil {case.number}"),
    )
    kinds = [e.kind for e in await office.events(case.id)]
    assert kinds.count("claimed") == 1
    refused = [
        person
        for person in ("8201", "8202")
        if "tidak berwenang" in (await office.texts(person))[-1]
    ]
    assert len(refused) == 1
