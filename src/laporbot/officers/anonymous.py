"""Questions to a reporter through the bot, answered without revealing who the reporter is.

The officer asks (`/tanya NUMBER question`); the reporter gets the question in their language
with an "answer" button and, unless they are in the middle of another conversation, their next
message is taken as the answer at once. The answer reaches the officer working the case with the
case number only: no name, phone or chat. Questions and answers are kept on the case
(`details["questions"]`), and the audit log records that they happened.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db import sessions as session_rows
from laporbot.db.models import Case, Contact, ConversationSession, Officer
from laporbot.messages import Button
from laporbot.officers.access import Action, require
from laporbot.officers.callbacks import answer_button
from laporbot.officers.casework import clean_note
from laporbot.officers.context import Turn

#: The conversation-session flow names the officer side keeps its own small state under.
ANSWER_FLOW = "officers.answer"
PENDING_FLOW = "officers.pending"
#: How long the reporter's next message counts as their answer.
ANSWER_WINDOW = timedelta(days=3)
#: How long an officer's "now type the note" state lasts.
PENDING_WINDOW = timedelta(hours=2)


# --- small state in conversation_sessions ---------------------------------------------------------


async def start_state(
    session: AsyncSession,
    *,
    channel: str,
    user_id: str,
    chat_id: str,
    flow: str,
    step: str,
    data: dict[str, Any],
    now: datetime,
    window: timedelta,
    replace_other: bool,
) -> bool:
    """Start (or replace) a small officer-side state for a user; False when the user is in
    another flow and `replace_other` is not set.

    `nudge_at` and `expires_at` stay empty so the citizen conversation sweep never resumes a
    flow it does not know; the window is kept in `state["until"]` and checked here.
    """
    row = await session_rows.load_active(session, channel, user_id)
    if row is not None and row.flow not in (ANSWER_FLOW, PENDING_FLOW):
        if not replace_other:
            return False
        await session_rows.end(session, row, now)
        row = None
    if row is None:
        row = ConversationSession(
            channel=channel, user_id=user_id, chat_id=chat_id, started_at=now, locale="id"
        )
    row.flow = flow
    row.step = step
    row.chat_id = chat_id
    row.answers = {}
    row.state = {**data, "until": (now + window).isoformat()}
    row.updated_at = now
    row.nudge_at = None
    row.expires_at = None
    await session_rows.save(session, row)
    return True


async def current_state(
    session: AsyncSession, channel: str, user_id: str, flow: str, now: datetime
) -> ConversationSession | None:
    """The user's live state of `flow`; a lapsed one is ended and None returned."""
    row = await session_rows.load_active(session, channel, user_id)
    if row is None or row.flow != flow:
        return None
    until = row.state.get("until") if row.state else None
    if not isinstance(until, str) or datetime.fromisoformat(until) <= now:
        await session_rows.end(session, row, now, "expired")
        return None
    return row


async def end_state(session: AsyncSession, row: ConversationSession, now: datetime) -> None:
    """Finish a state."""
    await session_rows.end(session, row, now)


# --- asking and answering ---------------------------------------------------------------


async def ask(turn: Turn, officer: Officer | None, case: Case, question: str) -> None:
    """Send the reporter a question from the officer, through the bot."""
    actor = require(officer, Action.ASK_REPORTER, case)
    ctx = turn.ctx
    text = clean_note(question)
    contact = (
        await turn.session.get(Contact, case.reporter_contact_id)
        if case.reporter_contact_id is not None
        else None
    )
    if not text:
        await turn.reply(turn.text("officers.ask.empty"))
        return
    if contact is None or contact.erased_at is not None:
        await turn.reply(turn.text("officers.ask.unreachable", number=case.number))
        return
    questions = list((case.details or {}).get("questions", []))
    questions.append({"question": text, "by": actor.id, "at": turn.now.isoformat()})
    case.details = {**(case.details or {}), "questions": questions}
    await turn.event(case, "reporter_asked", actor, index=len(questions))
    locale = contact.locale or case.locale
    await turn.to_citizen(
        contact.id,
        case.locale,
        "officers.citizen.question",
        buttons=(
            Button(
                answer_button(case.id), ctx.translator.text(locale, "officers.citizen.answer_btn")
            ),
        ),
        params={
            "number": case.number,
            "office": ctx.office_name(case.agency_code),
            "question": text,
        },
    )
    await start_state(
        turn.session,
        channel=contact.channel,
        user_id=contact.platform_user_id,
        chat_id=contact.chat_id,
        flow=ANSWER_FLOW,
        step="await",
        data={"case_id": case.id},
        now=turn.now,
        window=ANSWER_WINDOW,
        replace_other=False,
    )
    await turn.reply(turn.text("officers.ask.sent", number=case.number))


async def press_answer(turn: Turn, case_id: int) -> None:
    """The reporter pressed "answer": their next message is the answer."""
    inbound = turn.inbound
    if inbound is None:  # pragma: no cover - a button press always has one
        return
    case = await turn.session.get(Case, case_id)
    contact = await _contact_of(turn)
    if case is None or contact is None or case.reporter_contact_id != contact.id:
        await turn.reply(turn.ctx.translator.text(None, "officers.citizen.answer_unknown"))
        return
    await start_state(
        turn.session,
        channel=inbound.channel,
        user_id=inbound.user_id,
        chat_id=inbound.chat_id,
        flow=ANSWER_FLOW,
        step="await",
        data={"case_id": case.id},
        now=turn.now,
        window=ANSWER_WINDOW,
        replace_other=True,
    )
    locale = contact.locale or case.locale
    await turn.reply(
        turn.ctx.translator.text(locale, "officers.citizen.answer_prompt", number=case.number)
    )


async def take_answer(turn: Turn, state: ConversationSession, text: str) -> None:
    """The reporter's answer: stored on the case and passed to the officer, nameless."""
    case_id = state.state.get("case_id")
    await end_state(turn.session, state, turn.now)
    case = await turn.session.get(Case, case_id) if isinstance(case_id, int) else None
    if case is None:
        return
    answer = clean_note(text)
    questions = list((case.details or {}).get("questions", []))
    open_index = next(
        (i for i in range(len(questions) - 1, -1, -1) if "answer" not in questions[i]), None
    )
    if open_index is None:
        questions.append({"question": None})
        open_index = len(questions) - 1
    questions[open_index] = {
        **questions[open_index],
        "answer": answer,
        "answered_at": turn.now.isoformat(),
    }
    case.details = {**(case.details or {}), "questions": questions}
    await turn.event(case, "reporter_answered", actor_kind="citizen", index=open_index + 1)
    asker_id = questions[open_index].get("by")
    recipient_id = case.assigned_officer_id or (asker_id if isinstance(asker_id, int) else None)
    recipient = await turn.session.get(Officer, recipient_id) if recipient_id else None
    ctx = turn.ctx
    if recipient is not None:
        with turn.speaking_to(recipient):
            relayed = turn.text(
                "officers.ask.answer",
                number=case.number,
                question=questions[open_index].get("question") or "-",
                answer=answer,
            )
        await turn.to_officer(recipient, relayed)
    locale = (await _contact_locale(turn)) or case.locale
    await turn.reply(
        ctx.translator.text(locale, "officers.citizen.answer_thanks", number=case.number)
    )


async def _contact_of(turn: Turn) -> Contact | None:
    inbound = turn.inbound
    if inbound is None:  # pragma: no cover
        return None
    contact: Contact | None = await turn.session.scalar(
        select(Contact).where(
            Contact.channel == inbound.channel, Contact.platform_user_id == inbound.user_id
        )
    )
    return contact


async def _contact_locale(turn: Turn) -> str | None:
    contact = await _contact_of(turn)
    return contact.locale if contact is not None else None
