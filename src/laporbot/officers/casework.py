"""Case work: claim, assign, triage flags, the officer's queue, case details, the standard's
checklist and procedure, attachments, referral, closing and rejecting.

Every function checks the actor's right first (`access.require`), changes the case, writes an
audit event, tells the reminder service, redraws the group post, and queues the messages: the
acting officer's confirmation and, for the changes that matter to them, the citizen's news (in
the citizen's language, never with an officer's internal note).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import or_, select

from laporbot.db.agencies import sync_agencies
from laporbot.db.models import Case, Contact, Officer
from laporbot.errors import BadRequest, NotFound
from laporbot.messages import Button, Photo
from laporbot.officers.access import (
    FINISHED_STATUSES,
    Action,
    is_active,
    require,
)
from laporbot.officers.callbacks import officer_button
from laporbot.officers.context import (
    Turn,
    post_triage,
    refresh_group,
)
from laporbot.officers.triage import (
    area_label,
    category_label,
    priority_label,
    steps_of,
)
from laporbot.standards import ServiceStandard

QUEUE_LIMIT = 20
MAX_NOTE_CHARS = 2000

# Words in a procedure step that mark a milestone the citizen hears about once the step is
# done. The seeds' steps are free text; these are the phrases they use.
_MILESTONE_WORDS = {
    "verified": ("kebenaran informasi", "verifikasi", "memverifikasi"),
    "visit_scheduled": ("home visit", "kunjungan rumah", "kunjungan"),
}
MILESTONES = ("verified", "visit_scheduled")


def milestone_of(step_text: str) -> str | None:
    """The citizen milestone a finished step stands for, if any."""
    lowered = step_text.casefold()
    for milestone, words in _MILESTONE_WORDS.items():
        if any(word in lowered for word in words):
            return milestone
    return None


def requirements_of(standard: ServiceStandard, track: str | None) -> list[str]:
    """The standard's requirements (persyaratan) for the case's track."""
    chosen = next((t for t in standard.procedure if t.name == track), standard.procedure[0])
    return [*standard.requirements, *chosen.requirements]


def clean_note(text: str | None) -> str:
    """A note as stored: trimmed, bounded."""
    note = " ".join((text or "").split()) if text and "\n" not in text else (text or "").strip()
    return note[:MAX_NOTE_CHARS]


# --- lookups ------------------------------------------------------------------------------------


async def _locked(turn: Turn, *where: Any) -> Case | None:
    # The row stays locked until the transaction ends (PostgreSQL; SQLite's write transaction
    # already serializes), so two officers claiming at once cannot both win: the second reads
    # the case after the first committed and is refused.
    found: Case | None = await turn.session.scalar(
        select(Case).where(*where).with_for_update(),
        execution_options={"populate_existing": True},
    )
    return found


async def case_by_number(turn: Turn, number: str) -> Case:
    """The case with `number` (any spacing or case), locked for this transaction; raises
    `NotFound`."""
    wanted = number.strip().upper()
    found = await _locked(turn, Case.number == wanted)
    if found is None:
        raise NotFound("case", wanted)
    return found


async def case_by_id(turn: Turn, case_id: int) -> Case:
    """The case with `case_id`, locked for this transaction; raises `NotFound`."""
    found = await _locked(turn, Case.id == case_id)
    if found is None:
        raise NotFound("case", str(case_id))
    return found


# --- triage -------------------------------------------------------------------------------------


async def on_case_opened(turn: Turn, case: Case) -> None:
    """A new case: post it to its office's triage group (see `context.post_triage`)."""
    posted = await post_triage(turn, case)
    await turn.event(case, "triage_posted" if posted else "triage_unrouted")


async def claim(turn: Turn, officer: Officer | None, case: Case) -> None:
    """The officer takes the case: the group sees who, the officer gets the details privately."""
    actor = require(officer, Action.CLAIM, case)
    case.assigned_officer_id = actor.id
    case.status = "claimed"
    await turn.event(case, "claimed", actor)
    if turn.ctx.reminders is not None:
        await turn.ctx.reminders.on_case_claimed(turn.session, case, turn.now)
    await refresh_group(turn, case)
    await send_details(turn, actor, case)


async def assign_picker(turn: Turn, officer: Officer | None, case: Case) -> None:
    """The office's officers as buttons, for a lead to pick who works the case."""
    actor = require(officer, Action.ASSIGN, case)
    rows = await turn.session.scalars(
        select(Officer)
        .where(
            Officer.agency_code == actor.agency_code,
            Officer.active.is_(True),
            Officer.revoked_at.is_(None),
        )
        .order_by(Officer.display_name, Officer.id)
        .limit(30)
    )
    buttons = tuple(
        Button(officer_button("a", case.id, str(person.id)), person.display_name)
        for person in rows.all()
    )
    await turn.reply(turn.text("officers.assign.pick", number=case.number), buttons, case=case)


async def assign(turn: Turn, officer: Officer | None, case: Case, target_id: int) -> None:
    """A lead gives the case to one of the office's officers, who gets the details privately."""
    actor = require(officer, Action.ASSIGN, case)
    target = await turn.session.get(Officer, target_id)
    if target is None or not is_active(target) or target.agency_code != case.agency_code:
        await turn.reply(turn.text("officers.assign.unknown_officer"))
        return
    first = case.assigned_officer_id is None
    case.assigned_officer_id = target.id
    if case.status in ("new", "referred"):
        case.status = "claimed"
    await turn.event(case, "assigned", actor, assignee=target.id)
    if first and turn.ctx.reminders is not None:
        await turn.ctx.reminders.on_case_claimed(turn.session, case, turn.now)
    await refresh_group(turn, case)
    with turn.speaking_to(target):
        to_you = turn.text("officers.assign.to_you", number=case.number, by=actor.display_name)
    await turn.to_officer(target, to_you)
    await send_details(turn, target, case)
    if turn.inbound is not None and turn.inbound.chat_id != target.telegram_user_id:
        await turn.reply(
            turn.text("officers.assign.done", number=case.number, officer=target.display_name),
            case=case,
        )


async def mark_emergency(turn: Turn, officer: Officer | None, case: Case) -> None:
    """Priority 0: the case jumps every queue."""
    actor = require(officer, Action.EMERGENCY, case)
    if case.priority == 0:
        return
    before = case.priority
    case.priority = 0
    await turn.event(case, "emergency", actor, previous_priority=before)
    if turn.ctx.reminders is not None:
        # An unclaimed case now escalates on the emergency plan (15 minutes), not the routine.
        await turn.ctx.reminders.on_priority_changed(turn.session, case, turn.now)
    await refresh_group(turn, case)


# --- the officer's queue and the case detail ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueItem:
    """One line of a queue."""

    case: Case
    mine: bool


async def queue_of(turn: Turn, bindings: list[Officer]) -> list[QueueItem]:
    """Open cases of the officer's agencies that are theirs or nobody's, emergencies first,
    then by due time (soonest first; none last)."""
    if not bindings:
        return []
    mine_ids = [b.id for b in bindings]
    rows = await turn.session.scalars(
        select(Case)
        .where(
            Case.agency_code.in_([b.agency_code for b in bindings]),
            Case.status.not_in(tuple(FINISHED_STATUSES)),
            or_(Case.assigned_officer_id.is_(None), Case.assigned_officer_id.in_(mine_ids)),
        )
        .order_by(
            Case.priority,
            sql_case((Case.due_at.is_(None), 1), else_=0),
            Case.due_at,
            Case.received_at,
            Case.id,
        )
        .limit(QUEUE_LIMIT)
    )
    return [QueueItem(row, row.assigned_officer_id in mine_ids) for row in rows.all()]


async def show_queue(turn: Turn, bindings: list[Officer]) -> None:
    """The queue as a message with one button per case."""
    items = await queue_of(turn, bindings)
    ctx = turn.ctx
    if not items:
        await turn.reply(turn.text("officers.queue.empty"))
        return
    lines = [turn.text("officers.queue.header", count=len(items))]
    buttons: list[Button] = []
    for item in items:
        case = item.case
        due = (
            ctx.translator.due(turn.locale, case.due_at, ctx.time_zone(case.agency_code))
            if case.due_at is not None
            else "-"
        )
        lines.append(
            turn.text(
                "officers.queue.line_mine" if item.mine else "officers.queue.line_open",
                number=case.number,
                category=category_label(ctx.translator, turn.locale, case.category),
                priority=priority_label(ctx.translator, turn.locale, case.priority),
                area=area_label(ctx.translator, turn.locale, case),
                due=due,
            )
        )
        verb = "d" if item.mine else "c"
        label_id = "officers.btn.open_case" if item.mine else "officers.btn.claim_case"
        buttons.append(
            Button(officer_button(verb, case.id), turn.text(label_id, number=case.number))
        )
    await turn.reply("\n".join(lines), tuple(buttons))


def work_buttons(turn: Turn, case: Case) -> tuple[Button, ...]:
    """The private-chat actions on a case being worked."""
    if case.status in FINISHED_STATUSES:
        return ()
    t = turn.text
    return (
        Button(officer_button("s", case.id), t("officers.btn.step")),
        Button(officer_button("q", case.id), t("officers.btn.checklist")),
        Button(officer_button("t", case.id), t("officers.btn.note")),
        Button(officer_button("p", case.id), t("officers.btn.attach")),
        Button(officer_button("k", case.id), t("officers.btn.ask")),
        Button(officer_button("r", case.id), t("officers.btn.refer")),
        Button(officer_button("z", case.id), t("officers.btn.close")),
        Button(officer_button("x", case.id), t("officers.btn.reject")),
    )


async def send_details(turn: Turn, officer: Officer | None, case: Case) -> None:
    """The case with its personal data, to the officer's private chat only (in their
    language, wherever they pressed the button); every such view is an audit event."""
    actor = require(officer, Action.VIEW_DETAILS, case)
    with turn.speaking_to(actor):
        text = await _details_text(turn, case)
        buttons = work_buttons(turn, case)
    # A Telegram file id is only valid for this bot; other channels' photos stay referenced in
    # the case for the dashboard.
    photo = case.photo_ref if (case.details or {}).get("channel") == "telegram" else None
    await turn.to_officer(actor, text, buttons, photo=photo)
    await turn.event(case, "details_viewed", actor)


async def _details_text(turn: Turn, case: Case) -> str:
    ctx = turn.ctx
    standard = ctx.registry.standard(case.standard_code)
    steps = steps_of(ctx.registry, case)
    subject = case.subject or {}
    zone = ctx.time_zone(case.agency_code)
    reporter: str
    if case.anonymous:
        reporter = turn.text("officers.details.reporter_anonymous")
    else:
        contact = (
            await turn.session.get(Contact, case.reporter_contact_id)
            if case.reporter_contact_id is not None
            else None
        )
        phone = contact.phone if contact is not None and contact.erased_at is None else None
        reporter = phone or turn.text("officers.details.reporter_no_phone")
    if case.current_step < len(steps):
        step_line = turn.text(
            "officers.details.step",
            step=case.current_step + 1,
            steps=len(steps),
            title=steps[case.current_step],
        )
    else:
        step_line = turn.text("officers.details.steps_done", steps=len(steps))
    location = (
        f"{case.latitude:.5f}, {case.longitude:.5f}"
        if case.latitude is not None and case.longitude is not None
        else "-"
    )
    return turn.text(
        "officers.details.body",
        number=case.number,
        office=ctx.office_name(case.agency_code),
        standard=standard.title,
        category=category_label(ctx.translator, turn.locale, case.category),
        priority=priority_label(ctx.translator, turn.locale, case.priority),
        area=area_label(ctx.translator, turn.locale, case),
        address=case.address or "-",
        location=location,
        age=subject.get("age", "-") if subject.get("age") is not None else "-",
        sex=subject.get("sex") or "-",
        condition=subject.get("condition") or "-",
        reporter=reporter,
        received=ctx.translator.due(turn.locale, case.received_at, zone),
        due=ctx.translator.due(turn.locale, case.due_at, zone) if case.due_at else "-",
        step=step_line,
        status=turn.text(f"officers.status.{case.status}"),
    )


# --- checklist, steps, notes, attachments ---------------------------------------------------


async def checklist(turn: Turn, officer: Officer | None, case: Case, toggle: int | None) -> None:
    """The standard's requirements as a checklist; `toggle` ticks or unticks one."""
    actor = require(officer, Action.CHECKLIST, case)
    ctx = turn.ctx
    items = requirements_of(ctx.registry.standard(case.standard_code), case.track)
    done = {int(i) for i in (case.details or {}).get("checklist", []) if isinstance(i, int)}
    if toggle is not None:
        if not 0 <= toggle < len(items):
            raise BadRequest(f"no requirement {toggle}")
        if toggle in done:
            done.discard(toggle)
            await turn.event(case, "requirement_unchecked", actor, index=toggle)
        else:
            done.add(toggle)
            await turn.event(case, "requirement_checked", actor, index=toggle)
        case.details = {**(case.details or {}), "checklist": sorted(done)}
    lines = [
        turn.text("officers.checklist.header", number=case.number, done=len(done), total=len(items))
    ]
    buttons: list[Button] = []
    for index, item in enumerate(items):
        mark = "officers.checklist.done" if index in done else "officers.checklist.open"
        lines.append(turn.text(mark, index=index + 1, item=item))
        buttons.append(
            Button(
                officer_button("q", case.id, str(index)),
                turn.text(mark, index=index + 1, item=item),
            )
        )
    await turn.reply("\n".join(lines), tuple(buttons))


async def advance(turn: Turn, officer: Officer | None, case: Case, note: str) -> None:
    """Finish the current procedure step with a note and move to the next one."""
    actor = require(officer, Action.STEP, case)
    ctx = turn.ctx
    steps = steps_of(ctx.registry, case)
    if case.current_step >= len(steps):
        await turn.reply(
            turn.text("officers.step.all_done", number=case.number), work_buttons(turn, case)
        )
        return
    finished = case.current_step
    case.current_step = finished + 1
    case.status = "in_progress"
    await turn.event(
        case, "step_completed", actor, step=finished + 1, of=len(steps), note=clean_note(note)
    )
    milestone = milestone_of(steps[finished])
    if milestone is not None:
        await reach_milestone(turn, actor, case, milestone)
    if case.current_step < len(steps):
        if ctx.reminders is not None:
            await ctx.reminders.on_step(turn.session, case, turn.now)
        reply = turn.text(
            "officers.step.next",
            number=case.number,
            done=finished + 1,
            step=case.current_step + 1,
            steps=len(steps),
            title=steps[case.current_step],
        )
    else:
        reply = turn.text("officers.step.last_done", number=case.number, steps=len(steps))
    await refresh_group(turn, case)
    await turn.reply(reply, work_buttons(turn, case))


async def reach_milestone(
    turn: Turn, officer: Officer, case: Case, milestone: str, when: str | None = None
) -> bool:
    """Tell the citizen of a milestone (verified, visit scheduled) once; False if already told."""
    if milestone not in MILESTONES:
        raise BadRequest(f"unknown milestone {milestone!r}")
    reached = list((case.details or {}).get("milestones", []))
    if milestone in reached:
        return False
    case.details = {**(case.details or {}), "milestones": [*reached, milestone]}
    await turn.event(case, milestone, officer, **({"when": when} if when else {}))
    params: dict[str, object] = {
        "number": case.number,
        "office": turn.ctx.office_name(case.agency_code),
    }
    msgid = f"officers.citizen.{milestone}"
    if when:
        msgid += "_when"
        params["when"] = when
    await turn.to_citizen(case.reporter_contact_id, case.locale, msgid, params=params)
    return True


async def mark_milestone(
    turn: Turn, officer: Officer | None, case: Case, milestone: str, when: str | None
) -> None:
    """An officer says the report is verified / a visit is scheduled (by command)."""
    actor = require(officer, Action.STEP, case)
    told = await reach_milestone(turn, actor, case, milestone, when)
    key = "officers.milestone.told" if told else "officers.milestone.already"
    await turn.reply(turn.text(key, number=case.number))


async def add_note(turn: Turn, officer: Officer | None, case: Case, note: str) -> None:
    """An internal note: audit only, never shown to the citizen or the group."""
    actor = require(officer, Action.NOTE, case)
    text = clean_note(note)
    if not text:
        raise BadRequest("empty note")
    await turn.event(case, "note_added", actor, note=text)
    await turn.reply(turn.text("officers.note.saved", number=case.number))


async def attach(turn: Turn, officer: Officer | None, case: Case, photo: Photo) -> None:
    """Attach a photo or document (the platform's file reference) to the case."""
    actor = require(officer, Action.ATTACH, case)
    attachments = list((case.details or {}).get("attachments", []))
    attachments.append({"ref": photo.ref, "at": turn.now.isoformat(), "by": actor.id})
    case.details = {**(case.details or {}), "attachments": attachments}
    await turn.event(
        case, "attachment_added", actor, index=len(attachments), caption=clean_note(photo.caption)
    )
    await turn.reply(turn.text("officers.attach.saved", number=case.number, count=len(attachments)))


async def set_track(turn: Turn, officer: Officer | None, case: Case, track: str) -> None:
    """Choose the procedure track (Bangka Belitung's A or B) before any step is done."""
    actor = require(officer, Action.STEP, case)
    standard = turn.ctx.registry.standard(case.standard_code)
    names = [t.name for t in standard.procedure if t.name]
    wanted = track.strip().upper()
    match = next((name for name in names if name.upper() == wanted), None)
    if match is None:
        await turn.reply(turn.text("officers.track.unknown", tracks=", ".join(names) or "-"))
        return
    if case.current_step > 0 and match != case.track:
        await turn.reply(turn.text("officers.track.too_late", number=case.number))
        return
    case.track = match
    await turn.event(case, "track_set", actor, track=match)
    await turn.reply(turn.text("officers.track.set", number=case.number, track=match))


# --- referral, closing, rejecting ---------------------------------------------------------


async def refer_picker(turn: Turn, officer: Officer | None, case: Case, *, not_ours: bool) -> None:
    """The other offices as buttons (and, for "not our case", a reject button)."""
    require(officer, Action.REFER, case)
    ctx = turn.ctx
    buttons = [
        Button(officer_button("r", case.id, agency.code), ctx.office_name(agency.code))
        for agency in ctx.registry.agencies
        if agency.code != case.agency_code
    ]
    if not_ours and officer is not None and is_lead_or_assignee(officer, case):
        buttons.append(Button(officer_button("x", case.id), turn.text("officers.btn.reject")))
    await turn.reply(
        turn.text("officers.refer.pick", number=case.number), tuple(buttons), case=case
    )


def is_lead_or_assignee(officer: Officer, case: Case) -> bool:
    """Who may reject: the case's officer or a lead."""
    return officer.role in ("supervisor", "admin") or case.assigned_officer_id == officer.id


async def refer(
    turn: Turn, officer: Officer | None, case: Case, agency_code: str, reason: str = ""
) -> None:
    """Move the case, with its whole history, to another office, whose group is notified.

    The case keeps its number and events; it gets the receiving office's standard for its
    category, starts at the first step, unclaimed, with deadlines counted from now.
    """
    actor = require(officer, Action.REFER, case)
    ctx = turn.ctx
    if agency_code == case.agency_code:
        await turn.reply(turn.text("officers.refer.same_office"))
        return
    try:
        target = ctx.registry.agency(agency_code)
    except NotFound:
        await turn.reply(turn.text("officers.refer.unknown_office", code=agency_code))
        return
    standards = ctx.registry.standards_for(case.category, target.code) or list(target.standards)
    standard = standards[0]
    from_code = case.agency_code
    await refresh_group(
        turn,
        case,
        note=ctx.text("officers.refer.group_note", office=ctx.office_name(target.code)),
        final=True,
    )
    await sync_agencies(turn.session, [(target.code, target.name, target.time_zone)])
    case.agency_code = target.code
    case.standard_code = standard.code
    case.track = standard.procedure[0].name
    case.current_step = 0
    case.assigned_officer_id = None
    case.status = "referred"
    case.group_message_ref = None
    details = dict(case.details or {})
    details["referrals"] = int(details.get("referrals", 0)) + 1
    details.pop("checklist", None)
    case.details = details
    await turn.event(
        case,
        "referred",
        actor,
        from_agency=from_code,
        to_agency=target.code,
        standard=standard.code,
        reason=clean_note(reason),
    )
    if ctx.reminders is not None:
        await ctx.reminders.on_referred(turn.session, case, turn.now)
    await on_case_opened(turn, case)
    await turn.reply(
        turn.text("officers.refer.done", number=case.number, office=ctx.office_name(target.code))
    )


async def close_picker(turn: Turn, officer: Officer | None, case: Case) -> None:
    """The standard's products (produk layanan) as buttons: a case closes with one of them."""
    require(officer, Action.CLOSE, case)
    ctx = turn.ctx
    products = ctx.registry.standard(case.standard_code).products
    buttons = tuple(
        Button(officer_button("z", case.id, str(index)), product)
        for index, product in enumerate(products)
    )
    await turn.reply(turn.text("officers.close.pick", number=case.number), buttons)


async def close(
    turn: Turn, officer: Officer | None, case: Case, product_index: int, note: str = ""
) -> None:
    """Close the case with an outcome that is one of its standard's products."""
    actor = require(officer, Action.CLOSE, case)
    ctx = turn.ctx
    products = ctx.registry.standard(case.standard_code).products
    if not 0 <= product_index < len(products):
        await turn.reply(turn.text("officers.close.bad_product", count=len(products)))
        return
    steps = steps_of(ctx.registry, case)
    case.status = "resolved"
    case.outcome = products[product_index]
    case.closed_at = turn.now
    await turn.event(
        case,
        "resolved",
        actor,
        product=product_index,
        outcome=products[product_index],
        steps_done=min(case.current_step, len(steps)),
        of=len(steps),
        note=clean_note(note),
    )
    if ctx.reminders is not None:
        await ctx.reminders.on_closed(turn.session, case, turn.now)
    await refresh_group(turn, case)
    await turn.reply(turn.text("officers.close.done", number=case.number, outcome=case.outcome))


async def reject(turn: Turn, officer: Officer | None, case: Case, reason: str) -> None:
    """Reject the case with a reason (kept in the audit log; the citizen is told without it)."""
    actor = require(officer, Action.REJECT, case)
    text = clean_note(reason)
    if not text:
        raise BadRequest("a rejection needs a reason")
    case.status = "rejected"
    case.outcome = text
    case.closed_at = turn.now
    await turn.event(case, "rejected", actor, reason=text)
    if turn.ctx.reminders is not None:
        await turn.ctx.reminders.on_closed(turn.session, case, turn.now)
    else:
        await turn.to_citizen(
            case.reporter_contact_id,
            case.locale,
            "officers.citizen.rejected",
            params={"number": case.number, "office": turn.ctx.office_name(case.agency_code)},
        )
    await refresh_group(turn, case)
    await turn.reply(turn.text("officers.reject.done", number=case.number))
