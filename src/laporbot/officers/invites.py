"""Invite codes: how a person becomes an officer of an agency, and a group its triage group.

An administrator creates a one-time code for an agency and a role (`laporbot officers invite`);
whoever sends `/daftar CODE` to the bot in a private chat is bound to that agency and role by
their Telegram user id. A code for the role `group`, sent in a group chat, registers that group
for the agency (triage by default, or complaints). Codes expire and work once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db.models import Invite, Officer, OfficerGroup
from laporbot.errors import BadRequest, NotFound
from laporbot.officers.access import ROLES

GROUP_ROLE = "group"
INVITE_ROLES = (*ROLES, GROUP_ROLE)
DEFAULT_VALIDITY = timedelta(days=7)
# No 0/O, 1/I/L: a code is read aloud and typed on a phone.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10


def new_code() -> str:
    """A fresh random invite code (about 49 bits)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text: str) -> str:
    """What a person typed, as a code: case and spaces or dashes do not matter."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


async def create_invite(
    session: AsyncSession,
    *,
    agency_code: str,
    role: str,
    now: datetime,
    validity: timedelta = DEFAULT_VALIDITY,
    created_by: int | None = None,
) -> Invite:
    """A new one-time invite for `agency_code` and `role` (officer, supervisor, admin, group)."""
    if role not in INVITE_ROLES:
        raise BadRequest(f"unknown role {role!r}: use one of {', '.join(INVITE_ROLES)}")
    invite = Invite(
        code=new_code(),
        agency_code=agency_code,
        role=role,
        created_at=now,
        expires_at=now + validity,
        created_by=created_by,
    )
    session.add(invite)
    await session.flush()
    return invite


@dataclass(frozen=True, slots=True)
class Redeemed:
    """What a redeemed code did: bound an officer, or registered a group."""

    agency_code: str
    role: str
    officer: Officer | None = None
    group: OfficerGroup | None = None


async def _take(session: AsyncSession, code: str, now: datetime, want_group: bool) -> Invite:
    invite = await session.scalar(select(Invite).where(Invite.code == normalize_code(code)))
    if invite is None or invite.redeemed_at is not None or invite.expires_at <= now:
        raise NotFound("invite", code)
    if (invite.role == GROUP_ROLE) != want_group:
        raise BadRequest(
            "group invite used in a private chat"
            if not want_group
            else "officer invite used in a group"
        )
    # Mark it used in one conditional UPDATE: two people racing for one code, one wins.
    result = await session.execute(
        update(Invite)
        .where(Invite.id == invite.id, Invite.redeemed_at.is_(None))
        .values(redeemed_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 1) != 1:
        raise NotFound("invite", code)
    invite.redeemed_at = now
    return invite


async def redeem_officer(
    session: AsyncSession,
    code: str,
    *,
    user_id: str,
    display_name: str,
    now: datetime,
    locale: str | None = None,
) -> Redeemed:
    """Bind the Telegram user to the invite's agency and role; raises `NotFound` for an
    unknown, used or expired code. A revoked officer invited again is bound again.

    `locale` (the caller checks it is one the deployment speaks) becomes the officer's
    language; None keeps what they had (the default language for a new officer)."""
    invite = await _take(session, code, now, want_group=False)
    officer = await session.scalar(
        select(Officer).where(
            Officer.agency_code == invite.agency_code, Officer.telegram_user_id == user_id
        )
    )
    if officer is None:
        officer = Officer(
            agency_code=invite.agency_code,
            telegram_user_id=user_id,
            role=invite.role,
            display_name=display_name,
            active=True,
            created_at=now,
            locale=locale,
        )
        session.add(officer)
    else:
        officer.role = invite.role
        officer.active = True
        officer.revoked_at = None
        officer.display_name = display_name or officer.display_name
        officer.locale = locale or officer.locale
    await session.flush()
    invite.redeemed_by = officer.id
    return Redeemed(invite.agency_code, invite.role, officer=officer)


async def redeem_group(
    session: AsyncSession, code: str, *, channel: str, chat_id: str, purpose: str, now: datetime
) -> Redeemed:
    """Register a group chat for the invite's agency and `purpose` (triage or complaints)."""
    invite = await _take(session, code, now, want_group=True)
    group = await session.scalar(
        select(OfficerGroup).where(
            OfficerGroup.channel == channel,
            OfficerGroup.chat_id == chat_id,
            OfficerGroup.purpose == purpose,
        )
    )
    if group is None:
        group = OfficerGroup(
            agency_code=invite.agency_code,
            channel=channel,
            chat_id=chat_id,
            purpose=purpose,
            created_at=now,
        )
        session.add(group)
    else:
        group.agency_code = invite.agency_code
    await session.flush()
    return Redeemed(invite.agency_code, GROUP_ROLE, group=group)


async def revoke(session: AsyncSession, officer_id: int, now: datetime) -> Officer:
    """End an officer's access at once (their next message finds no binding)."""
    officer = await session.get(Officer, officer_id)
    if officer is None:
        raise NotFound("officer", str(officer_id))
    officer.active = False
    officer.revoked_at = now
    await session.flush()
    return officer


async def set_role(session: AsyncSession, officer_id: int, role: str) -> Officer:
    """Change an officer's role."""
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    officer = await session.get(Officer, officer_id)
    if officer is None:
        raise NotFound("officer", str(officer_id))
    officer.role = role
    await session.flush()
    return officer


async def list_officers(session: AsyncSession, agency_code: str | None = None) -> list[Officer]:
    """Officers (active and revoked), by agency then id."""
    query = select(Officer).order_by(Officer.agency_code, Officer.id)
    if agency_code is not None:
        query = query.where(Officer.agency_code == agency_code)
    return list((await session.scalars(query)).all())
