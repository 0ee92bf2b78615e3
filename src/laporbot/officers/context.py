"""What every officer-side action needs: the standards, the catalogs, the reminder service, and
one `Turn` per handled message that queues everything it sends in the caller's transaction.

Nothing here commits: an action's state change, its audit events, its reminders and its
messages are stored together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db import cases as case_rows
from laporbot.db import outbox
from laporbot.db._sql import prebuilt
from laporbot.db.models import Case, Contact, Officer, OfficerGroup, OutboxMessage
from laporbot.i18n import Translator
from laporbot.messages import Button, Channel, InboundMessage, OutboundMessage
from laporbot.officers.triage import render_triage
from laporbot.privacy import screen_group_messages
from laporbot.reminders.service import ReminderService
from laporbot.reminders.sweep import outside_whatsapp_window
from laporbot.standards import StandardsRegistry

TRIAGE = "triage"
COMPLAINTS = "complaints"
GROUP_PURPOSES = (TRIAGE, COMPLAINTS)


@dataclass
class OfficerContext:
    """The long-lived parts: built once per process."""

    registry: StandardsRegistry
    translator: Translator
    reminders: ReminderService | None = None
    #: The language of group chats, and of officers who have none of their own.
    locale: str = "id"
    #: The languages the deployment speaks (settings.locales): an officer's own must be one.
    locales: tuple[str, ...] = ("id", "en")
    #: WhatsApp template for a citizen outside the 24-hour window (text as its parameter).
    whatsapp_template: str | None = None

    def time_zone(self, agency_code: str) -> str:
        """The agency's IANA zone, for wording times."""
        return self.registry.agency(agency_code).time_zone

    def office_name(self, agency_code: str) -> str:
        """ "Dinas Sosial (Pemerintah Kab. Bintan)": many offices share the name Dinas Sosial."""
        agency = self.registry.agency(agency_code)
        return f"{agency.name} ({agency.parent})" if agency.parent else agency.name

    def text(self, msgid: str, **params: object) -> str:
        """A message for a group chat (or anyone without a language), in the default one."""
        return self.translator.text(self.locale, msgid, **params)

    def spoken(self, locale: str | None) -> str | None:
        """`locale` ("en", "en-US") as one of the deployment's languages; None otherwise."""
        if not locale:
            return None
        wanted = locale.replace("_", "-").split("-", 1)[0].lower()
        return wanted if wanted in self.locales else None

    def officer_locale(self, officer: Officer | None) -> str:
        """The language of an officer's private messages: their own, else the default."""
        own = self.spoken(officer.locale) if officer is not None else None
        return own or self.locale


@dataclass
class Turn:
    """One handled message (or hook call): the session, the time, and what it queued."""

    ctx: OfficerContext
    session: AsyncSession
    now: datetime
    inbound: InboundMessage | None = None
    sent: list[OutboundMessage] = field(default_factory=list)
    #: The language of the private reader the texts worded now are for (None: the default,
    #: as in group chats). Set for an officer's private chat; see `speaking_to`.
    reader_locale: str | None = None
    _count: int = 0

    @property
    def locale(self) -> str:
        """The language texts are worded in right now."""
        return self.reader_locale or self.ctx.locale

    def text(self, msgid: str, **params: object) -> str:
        """An officer-facing message in the current reader's language."""
        return self.ctx.translator.text(self.locale, msgid, **params)

    @contextmanager
    def speaking_to(self, officer: Officer) -> Iterator[None]:
        """Word the texts inside for a private message to `officer`, in their language."""
        before = self.reader_locale
        self.reader_locale = self.ctx.officer_locale(officer)
        try:
            yield
        finally:
            self.reader_locale = before

    def _dedup(self) -> str | None:
        # A replayed inbound update (the inbox retries a rolled-back one) queues nothing twice.
        if self.inbound is None:
            return None
        self._count += 1
        return f"of:{self.inbound.channel}:{self.inbound.platform_id}:{self._count}"

    async def send(
        self,
        message: OutboundMessage,
        *,
        case: Case | None = None,
        dedup_key: str | None = None,
    ) -> OutboxMessage:
        """Queue `message`; a group message that would show protected data of `case` (or of
        any case it names) is refused (`PrivacyViolation` aborts the whole transaction rather
        than leak): the officer side writes group messages that need no cut."""
        row = await outbox.enqueue(
            self.session,
            message,
            self.now,
            dedup_key=dedup_key or self._dedup(),
            case_id=case.id if case is not None else None,
            strict_privacy=True,
        )
        self.sent.append(message)
        return row

    async def reply(
        self, text: str, buttons: tuple[Button, ...] = (), *, case: Case | None = None
    ) -> None:
        """Answer in the chat the inbound message came from."""
        if self.inbound is None:  # pragma: no cover - hooks never reply
            raise RuntimeError("no inbound message to reply to")
        await self.send(
            OutboundMessage(
                channel=self.inbound.channel,
                chat_id=self.inbound.chat_id,
                text=text,
                buttons=buttons,
            ),
            case=case,
        )

    async def to_officer(
        self,
        officer: Officer,
        text: str,
        buttons: tuple[Button, ...] = (),
        *,
        photo: str | None = None,
        dedup_key: str | None = None,
    ) -> OutboxMessage:
        """A private message to an officer (a Telegram private chat's id is the user's id)."""
        return await self.send(
            OutboundMessage(
                channel="telegram",
                chat_id=officer.telegram_user_id,
                text=text,
                buttons=buttons,
                photo=photo,
            ),
            dedup_key=dedup_key,
        )

    async def to_citizen(
        self,
        contact_id: int | None,
        fallback_locale: str,
        msgid: str,
        *,
        buttons: tuple[Button, ...] = (),
        params: dict[str, object] | None = None,
    ) -> bool:
        """A message to a reporter in their language; False when there is nobody to tell
        (no contact, or their data was erased). Never carries an officer's internal note:
        callers pass only the fields the citizen message names."""
        if contact_id is None:
            return False
        contact = await self.session.get(Contact, contact_id)
        if contact is None or contact.erased_at is not None:
            return False
        params = params or {}
        locale = contact.locale or fallback_locale
        text = self.ctx.translator.text(locale, msgid, **params)
        template: str | None = None
        template_params: tuple[str, ...] = ()
        if (
            contact.channel == "whatsapp"
            and self.ctx.whatsapp_template
            and outside_whatsapp_window(contact, self.now)
        ):
            template = self.ctx.whatsapp_template
            template_params = (str(params.get("number", "")), " ".join(text.split()))
        await self.send(
            OutboundMessage(
                channel=_channel(contact.channel),
                chat_id=contact.chat_id,
                text=text,
                buttons=buttons,
                template=template,
                template_params=template_params,
            ),
            case=None,
            dedup_key=None,
        )
        return True

    async def event(
        self,
        case: Case,
        kind: str,
        officer: Officer | None = None,
        actor_kind: str | None = None,
        **data: object,
    ) -> None:
        """One audit line: who (an officer id, or the system / the citizen) did what, when."""
        await case_rows.append_event(
            self.session,
            case.id,
            at=self.now,
            actor_kind=actor_kind or ("officer" if officer is not None else "system"),
            actor_id=str(officer.id) if officer is not None else None,
            kind=kind,
            data=dict(data),
        )


def _channel(name: str) -> Channel:
    if name not in ("telegram", "whatsapp", "web", "terminal"):
        raise ValueError(f"unknown channel {name!r}")
    return name  # type: ignore[return-value]


async def groups_of(session: AsyncSession, agency_code: str, purpose: str) -> list[OfficerGroup]:
    """The agency's registered groups for a purpose, oldest first."""
    return await groups_for(session, agency_code, (purpose,))


async def groups_for(
    session: AsyncSession, agency_code: str, purposes: Sequence[str]
) -> list[OfficerGroup]:
    """The agency's registered groups of the first of `purposes` it has any for, oldest
    first (complaints go to the complaints group, else to the triage group): one query."""
    stmt = prebuilt(session, "officers.groups_for", _groups_statement)
    rows = (
        await session.scalars(stmt, {"agency_code": agency_code, "purposes": list(purposes)})
    ).all()
    for purpose in purposes:
        found = [group for group in rows if group.purpose == purpose]
        if found:
            return found
    return []


def _groups_statement(_dialect: str) -> Select[OfficerGroup]:
    return (
        select(OfficerGroup)
        .where(
            OfficerGroup.agency_code == bindparam("agency_code"),
            OfficerGroup.purpose.in_(bindparam("purposes", expanding=True)),
        )
        .order_by(OfficerGroup.id)
    )


async def group_by_chat(session: AsyncSession, channel: str, chat_id: str) -> list[OfficerGroup]:
    """The registrations of a group chat (one per purpose)."""
    rows = await session.scalars(
        select(OfficerGroup).where(OfficerGroup.channel == channel, OfficerGroup.chat_id == chat_id)
    )
    return list(rows.all())


async def leads_of(session: AsyncSession, agency_code: str) -> list[Officer]:
    """The agency's active supervisors and admins."""
    stmt = prebuilt(session, "officers.leads_of", _leads_statement)
    rows = await session.scalars(stmt, {"agency_code": agency_code})
    return list(rows.all())


def _leads_statement(_dialect: str) -> Select[Officer]:
    # Asked whenever a case opens in an office with no triage group, and for every complaint.
    return (
        select(Officer)
        .where(
            Officer.agency_code == bindparam("agency_code"),
            Officer.role.in_(("supervisor", "admin")),
            Officer.active.is_(True),
            Officer.revoked_at.is_(None),
        )
        .order_by(Officer.id)
    )


async def officer_name(session: AsyncSession, officer_id: int | None) -> str | None:
    """An officer's display name, by id."""
    if officer_id is None:
        return None
    officer = await session.get(Officer, officer_id)
    return officer.display_name if officer is not None else None


# --- the group message, kept current ----------------------------------------------------------


def triage_key(case: Case) -> str:
    """The outbox dedup key of the case's post in its current office's group."""
    moves = int((case.details or {}).get("referrals", 0))
    return f"triage:{case.id}:{moves}"


async def post_triage(turn: Turn, case: Case) -> bool:
    """Post the case to its office's triage group (or, with none registered, to its leads
    privately); False when the office has neither."""
    ctx = turn.ctx
    name = await officer_name(turn.session, case.assigned_officer_id)
    view = render_triage(
        ctx.translator,
        ctx.registry,
        case,
        locale=ctx.locale,
        time_zone=ctx.time_zone(case.agency_code),
        assignee=name,
    )
    groups = await groups_of(turn.session, case.agency_code, TRIAGE)
    if groups:
        group = groups[0]
        await turn.send(
            OutboundMessage(
                channel=_channel(group.channel),
                chat_id=group.chat_id,
                text=view.text,
                buttons=view.buttons,
            ),
            case=case,
            dedup_key=triage_key(case),
        )
        case.group_message_ref = None
        return True
    leads = await leads_of(turn.session, case.agency_code)
    for lead in leads:
        await turn.to_officer(
            lead,
            view.text,
            view.buttons,
            dedup_key=f"{triage_key(case)}:lead:{lead.id}",
        )
    return bool(leads)


async def group_message_ref(turn: Turn, case: Case) -> str | None:
    """The platform id of the case's group post, learnt from the outbox once it was sent."""
    if case.group_message_ref:
        return case.group_message_ref
    row = await turn.session.scalar(
        select(OutboxMessage).where(OutboxMessage.dedup_key == triage_key(case))
    )
    if row is not None and row.status == "sent" and row.platform_message_ids:
        case.group_message_ref = str(row.platform_message_ids[0])
        return case.group_message_ref
    return None


async def refresh_group(
    turn: Turn, case: Case, *, note: str | None = None, final: bool = False
) -> None:
    """Redraw the case's group post so the group shows the case as it stands now.

    Before the post is sent, the queued post itself is rewritten; once sent, an edit is
    queued. `note` (an officer-facing line such as "referred to ...") is appended; `final`
    drops the buttons (the case left this office).
    """
    ctx = turn.ctx
    groups = await groups_of(turn.session, case.agency_code, TRIAGE)
    if not groups:
        return
    group = groups[0]
    name = await officer_name(turn.session, case.assigned_officer_id)
    view = render_triage(
        ctx.translator,
        ctx.registry,
        case,
        locale=ctx.locale,
        time_zone=ctx.time_zone(case.agency_code),
        assignee=name,
    )
    text = view.text if note is None else f"{view.text}\n{note}"
    buttons = () if final else view.buttons
    ref = await group_message_ref(turn, case)
    message = OutboundMessage(
        channel=_channel(group.channel),
        chat_id=group.chat_id,
        text=text,
        buttons=buttons,
        edit_of=ref,
    )
    if ref is not None:
        await turn.send(message, case=case)
        return
    row = await turn.session.scalar(
        select(OutboxMessage).where(OutboxMessage.dedup_key == triage_key(case))
    )
    if row is not None and row.status == "pending":
        # Rewritten in place, not queued: the outbox's own check, strict, applied here too.
        (checked,) = await screen_group_messages(turn.session, [(message, case.id)], strict=True)
        assert checked is not None  # strict: a message that needs a cut raised
        row.payload = outbox.to_payload(checked)
    # A post being sent right now (or failed for good) is left as it is: the next change
    # edits it once its id is known.
