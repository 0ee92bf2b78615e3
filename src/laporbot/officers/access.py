"""Who may do what: officers act only on their own agency's cases, by role.

The rules are pure functions of an `Officer` row and a `Case` row, so they are tested without a
database; `bindings_of` / `officer_for` are the only lookups. A revoked officer (`active` false
or `revoked_at` set) has no binding at all: access ends with the very next message.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Literal

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db._sql import prebuilt
from laporbot.db.models import Case, Officer
from laporbot.errors import PermissionDenied

Role = Literal["officer", "supervisor", "admin"]
ROLES: tuple[Role, ...] = ("officer", "supervisor", "admin")
#: Roles that lead an office: they assign cases and handle complaints.
LEADS: frozenset[str] = frozenset({"supervisor", "admin"})
#: A case in one of these is finished: it can be viewed, not changed.
FINISHED_STATUSES: frozenset[str] = frozenset({"resolved", "rejected", "closed"})


class Action(StrEnum):
    """Everything an officer can do to a case."""

    VIEW = "view"  # the triage summary: no personal data
    VIEW_DETAILS = "view_details"  # personal data: the child, the address, the reporter
    CLAIM = "claim"
    ASSIGN = "assign"
    EMERGENCY = "emergency"
    REFER = "refer"
    STEP = "step"
    NOTE = "note"
    ATTACH = "attach"
    CHECKLIST = "checklist"
    CLOSE = "close"
    REJECT = "reject"
    ASK_REPORTER = "ask_reporter"


# Actions that change a case; none is allowed on a finished case.
_CHANGES = frozenset(set(Action) - {Action.VIEW, Action.VIEW_DETAILS})
# Actions only the officer working the case (or a lead) may take.
_CASE_WORK = frozenset(
    {
        Action.VIEW_DETAILS,
        Action.STEP,
        Action.NOTE,
        Action.ATTACH,
        Action.CHECKLIST,
        Action.CLOSE,
        Action.REJECT,
        Action.ASK_REPORTER,
    }
)


def is_active(officer: Officer) -> bool:
    """True while the binding holds (not revoked)."""
    return bool(officer.active) and officer.revoked_at is None


def is_lead(officer: Officer) -> bool:
    """Supervisors and admins lead their office."""
    return officer.role in LEADS


def allowed(officer: Officer, action: Action, case: Case) -> bool:
    """Whether `officer` may take `action` on `case` (agency, role, assignment, case state)."""
    if not is_active(officer) or officer.agency_code != case.agency_code:
        return False
    if action in _CHANGES and case.status in FINISHED_STATUSES:
        return False
    mine = case.assigned_officer_id == officer.id
    unclaimed = case.assigned_officer_id is None
    if action is Action.VIEW or action is Action.EMERGENCY:
        return True
    if action is Action.CLAIM:
        return unclaimed
    if action is Action.ASSIGN:
        return is_lead(officer)
    if action is Action.REFER:
        # "Not our case" is a triage decision anyone in the group may take while the case is
        # unclaimed; once someone works it, only they or a lead move it.
        return unclaimed or mine or is_lead(officer)
    if action in _CASE_WORK:
        return mine or is_lead(officer)
    return False  # pragma: no cover - every Action is handled above


def require(officer: Officer | None, action: Action, case: Case) -> Officer:
    """`officer` when allowed, else `PermissionDenied` (no officer counts as not allowed)."""
    if officer is None or not allowed(officer, action, case):
        who = f"officer {officer.id}" if officer is not None else "unbound user"
        raise PermissionDenied(who, f"{action.value} case {case.number}")
    return officer


async def bindings_of(session: AsyncSession, user_id: str) -> list[Officer]:
    """The active officer bindings of a Telegram user (one per agency), oldest first."""
    stmt = prebuilt(session, "officers.bindings_of", _bindings_of)
    rows = await session.scalars(stmt, {"user_id": user_id})
    return list(rows.all())


def _bindings_of(_dialect: str) -> Select[Officer]:
    # Asked for every Telegram message (is the sender an officer?): built once.
    return (
        select(Officer)
        .where(
            Officer.telegram_user_id == bindparam("user_id"),
            Officer.active.is_(True),
            Officer.revoked_at.is_(None),
        )
        .order_by(Officer.id)
    )


def binding_for(bindings: Sequence[Officer], agency_code: str) -> Officer | None:
    """The binding that acts for `agency_code`, if the user has one."""
    return next((b for b in bindings if b.agency_code == agency_code), None)


async def officer_for(session: AsyncSession, user_id: str, agency_code: str) -> Officer | None:
    """The user's active binding to `agency_code`, if any."""
    return binding_for(await bindings_of(session, user_id), agency_code)
