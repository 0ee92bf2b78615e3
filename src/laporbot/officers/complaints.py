"""Complaints (pengaduan) on the officer side: handlers are told, answer, the citizen rates.

A new complaint goes, with its text, to the office's complaint handlers (its supervisors and
admins) in private chats, and as a bare notice (number and due time, no text: a complaint may
name a child) to the office's complaints group, else its triage group. A handler answers with
`/jawab NUMBER text`, the "answer" button, or a Telegram reply to the notification. The
reminder service delivers the answer and the satisfaction question (SKM 1-4); the citizen's
rating closes the complaint, "not resolved" reopens it and tells the handlers again.
"""

from __future__ import annotations

from sqlalchemy import select

from laporbot.db.models import Case, Complaint, Contact, Officer, OutboxMessage
from laporbot.errors import NotFound, PermissionDenied
from laporbot.messages import Button, OutboundMessage
from laporbot.officers.access import is_active, is_lead
from laporbot.officers.callbacks import SurveyChoice, officer_button
from laporbot.officers.casework import clean_note
from laporbot.officers.context import (
    COMPLAINTS,
    TRIAGE,
    Turn,
    _channel,
    groups_for,
    leads_of,
)

OPEN_STATUSES = frozenset({"open", "reopened"})


def handler_key(complaint: Complaint, officer: Officer, kind: str, at: str) -> str:
    """The outbox dedup key of a complaint's notification to one handler (found again when
    the handler replies to it)."""
    return f"cmp:{complaint.id}:{kind}:{at}:to:{officer.id}"


def complaint_of_key(key: str) -> int | None:
    """The complaint id in a handler notification's dedup key."""
    parts = key.split(":")
    if len(parts) >= 2 and parts[0] == "cmp" and parts[1].isdecimal():
        return int(parts[1])
    return None


async def complaint_by_number(turn: Turn, number: str) -> Complaint:
    """The complaint with `number`; raises `NotFound`."""
    wanted = number.strip().upper()
    found = await turn.session.scalar(select(Complaint).where(Complaint.number == wanted))
    if found is None:
        raise NotFound("complaint", wanted)
    return found


def may_answer(officer: Officer, complaint: Complaint, case: Case | None) -> bool:
    """Leads of the office, the named handler, or the officer working the complaint's case."""
    if not is_active(officer) or officer.agency_code != complaint.agency_code:
        return False
    if is_lead(officer) or complaint.handler_officer_id == officer.id:
        return True
    return case is not None and case.assigned_officer_id == officer.id


async def notify_handlers(turn: Turn, complaint: Complaint, *, reopened: bool = False) -> int:
    """Tell the handlers (privately, with the text) and the group (without it); returns how
    many handlers were told."""
    ctx = turn.ctx
    zone = ctx.time_zone(complaint.agency_code)
    due = ctx.translator.due(ctx.locale, complaint.due_at, zone) if complaint.due_at else "-"
    about = complaint.about or "-"
    handlers = await leads_of(turn.session, complaint.agency_code)
    if complaint.handler_officer_id is not None:
        named = await turn.session.get(Officer, complaint.handler_officer_id)
        if named is not None and is_active(named) and named not in handlers:
            handlers.append(named)
    key = "officers.complaint.reopened" if reopened else "officers.complaint.new"
    for handler in handlers:
        with turn.speaking_to(handler):
            own_due = (
                ctx.translator.due(turn.locale, complaint.due_at, zone) if complaint.due_at else "-"
            )
            text = turn.text(
                key, number=complaint.number, about=about, due=own_due, text=complaint.text
            )
            button = Button(officer_button("w", complaint.id), turn.text("officers.btn.answer"))
        await turn.to_officer(
            handler,
            text,
            (button,),
            dedup_key=handler_key(
                complaint, handler, "reopened" if reopened else "new", turn.now.isoformat()
            ),
        )
    groups = await groups_for(turn.session, complaint.agency_code, (COMPLAINTS, TRIAGE))
    if groups:
        group = groups[0]
        await turn.send(
            OutboundMessage(
                channel=_channel(group.channel),
                chat_id=group.chat_id,
                text=ctx.text(
                    "officers.complaint.group_notice",
                    number=complaint.number,
                    due=due,
                    handlers=len(handlers),
                ),
            )
        )
    return len(handlers)


async def on_complaint_filed(turn: Turn, complaint: Complaint) -> None:
    """A new complaint: its handlers are told; a complaint about a case is in its timeline."""
    await notify_handlers(turn, complaint)
    if complaint.case_id is not None:
        case = await turn.session.get(Case, complaint.case_id)
        if case is not None:
            await turn.event(
                case, "complaint_filed", actor_kind="citizen", complaint=complaint.number
            )


async def answer(turn: Turn, officer: Officer | None, complaint: Complaint, text: str) -> None:
    """Record the answer; the reminder service delivers it to the citizen with the survey."""
    case = await turn.session.get(Case, complaint.case_id) if complaint.case_id else None
    if officer is None or not may_answer(officer, complaint, case):
        who = f"officer {officer.id}" if officer is not None else "unbound user"
        raise PermissionDenied(who, f"answer complaint {complaint.number}")
    ctx = turn.ctx
    if complaint.status not in OPEN_STATUSES:
        await turn.reply(turn.text("officers.complaint.not_open", number=complaint.number))
        return
    body = clean_note(text)
    if not body:
        await turn.reply(turn.text("officers.complaint.empty_answer"))
        return
    complaint.answer = body
    complaint.answered_at = turn.now
    complaint.answered_by = officer.id
    complaint.handler_officer_id = complaint.handler_officer_id or officer.id
    complaint.status = "answered"
    if case is not None:
        await turn.event(case, "complaint_answered", officer, complaint=complaint.number)
    if ctx.reminders is not None:
        await ctx.reminders.on_complaint_answered(turn.session, complaint, turn.now)
    else:
        await turn.to_citizen(
            complaint.contact_id,
            complaint.locale,
            "officers.citizen.complaint_answer",
            params={
                "number": complaint.number,
                "office": ctx.office_name(complaint.agency_code),
                "answer": body,
            },
        )
    await turn.reply(turn.text("officers.complaint.answered", number=complaint.number))


async def complaint_replied_to(turn: Turn, reply_to: str) -> Complaint | None:
    """The complaint whose handler notification the officer replied to in their chat."""
    if turn.inbound is None:
        return None
    rows = await turn.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.chat_id == turn.inbound.chat_id,
            OutboxMessage.channel == turn.inbound.channel,
            OutboxMessage.dedup_key.like("cmp:%"),
            OutboxMessage.status == "sent",
        )
    )
    for row in rows.all():
        if reply_to in (row.platform_message_ids or []) and row.dedup_key is not None:
            complaint_id = complaint_of_key(row.dedup_key)
            if complaint_id is not None:
                return await turn.session.get(Complaint, complaint_id)
    return None


async def rate(turn: Turn, choice: SurveyChoice) -> None:
    """The citizen's satisfaction answer (or "not resolved") for their complaint or case."""
    inbound = turn.inbound
    if inbound is None:  # pragma: no cover - ratings come from a button
        return
    contact = await turn.session.scalar(
        select(Contact).where(
            Contact.channel == inbound.channel, Contact.platform_user_id == inbound.user_id
        )
    )
    if choice.subject == "complaint":
        await _rate_complaint(turn, contact, choice)
    else:
        await _rate_case(turn, contact, choice)


async def _citizen_reply(turn: Turn, locale: str | None, msgid: str, **params: object) -> None:
    await turn.reply(turn.ctx.translator.text(locale, msgid, **params))


async def _rate_complaint(turn: Turn, contact: Contact | None, choice: SurveyChoice) -> None:
    complaint = await turn.session.scalar(
        select(Complaint).where(Complaint.number == choice.number)
    )
    if complaint is None or contact is None or complaint.contact_id != contact.id:
        await _citizen_reply(turn, contact.locale if contact else None, "officers.survey.unknown")
        return
    locale = contact.locale or complaint.locale
    if complaint.status not in ("answered", "closed"):
        await _citizen_reply(turn, locale, "officers.survey.not_answered", number=complaint.number)
        return
    case = await turn.session.get(Case, complaint.case_id) if complaint.case_id else None
    if choice.score is None:
        complaint.status = "reopened"
        complaint.rating = None
        complaint.closed_at = None
        if case is not None:
            await turn.event(
                case, "complaint_reopened", actor_kind="citizen", complaint=complaint.number
            )
        if turn.ctx.reminders is not None:
            # A new answer deadline from now, before the handlers are told its due time.
            await turn.ctx.reminders.on_complaint_reopened(turn.session, complaint, turn.now)
        await notify_handlers(turn, complaint, reopened=True)
        await _citizen_reply(turn, locale, "officers.survey.reopened", number=complaint.number)
        return
    complaint.rating = choice.score
    complaint.status = "closed"
    complaint.closed_at = turn.now
    if case is not None:
        await turn.event(
            case,
            "complaint_rated",
            actor_kind="citizen",
            complaint=complaint.number,
            score=choice.score,
        )
    if turn.ctx.reminders is not None:
        await turn.ctx.reminders.on_rated(turn.session, turn.now, complaint=complaint)
    await _citizen_reply(turn, locale, "officers.survey.thanks", number=complaint.number)


async def _rate_case(turn: Turn, contact: Contact | None, choice: SurveyChoice) -> None:
    case = await turn.session.scalar(select(Case).where(Case.number == choice.number))
    if case is None or contact is None or case.reporter_contact_id != contact.id:
        await _citizen_reply(turn, contact.locale if contact else None, "officers.survey.unknown")
        return
    locale = contact.locale or case.locale
    if choice.score is None:
        await turn.event(case, "citizen_not_resolved", actor_kind="citizen")
        await _citizen_reply(turn, locale, "officers.survey.case_not_resolved", number=case.number)
        return
    case.details = {**(case.details or {}), "rating": choice.score}
    await turn.event(case, "rated", actor_kind="citizen", score=choice.score)
    if turn.ctx.reminders is not None:
        await turn.ctx.reminders.on_rated(turn.session, turn.now, case=case)
    await _citizen_reply(turn, locale, "officers.survey.thanks", number=case.number)
