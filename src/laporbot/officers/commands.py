"""The officer command router: private chats of bound officers, registered office groups, and
the buttons of the officer side.

Commands are Indonesian first, with English aliases (`/antrian` = `/queue`). `OfficerDesk`
is the one entry point: the inbox calls `handle_officer_inbound(session, inbound, now)` before
the citizen flows and stops when it returns True; the intake calls `on_case_opened` /
`on_complaint_filed` after opening a case or filing a complaint.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from laporbot.db.models import Case, Complaint, Officer
from laporbot.errors import BadRequest, NotFound, PermissionDenied
from laporbot.i18n import Translator
from laporbot.messages import InboundMessage, Photo
from laporbot.officers import anonymous, casework, complaints, invites
from laporbot.officers.access import Action, binding_for, bindings_of, require
from laporbot.officers.callbacks import (
    OFFICER_PREFIX,
    is_ours,
    parse_answer,
    parse_officer,
    parse_survey,
)
from laporbot.officers.context import (
    COMPLAINTS,
    TRIAGE,
    OfficerContext,
    Turn,
    group_by_chat,
    refresh_group,
)
from laporbot.reminders.service import ReminderService
from laporbot.settings import Settings
from laporbot.standards import StandardsRegistry, load_registry

#: Command names: Indonesian first, then English aliases, all to one canonical name.
ALIASES: dict[str, str] = {
    "daftar": "register",
    "register": "register",
    "antrian": "queue",
    "queue": "queue",
    "kasus": "case",
    "case": "case",
    "ambil": "claim",
    "claim": "claim",
    "tugaskan": "assign",
    "assign": "assign",
    "darurat": "emergency",
    "emergency": "emergency",
    "syarat": "checklist",
    "checklist": "checklist",
    "lanjut": "step",
    "next": "step",
    "catatan": "note",
    "note": "note",
    "lampiran": "attach",
    "attach": "attach",
    "rujuk": "refer",
    "refer": "refer",
    "selesai": "close",
    "close": "close",
    "tolak": "reject",
    "reject": "reject",
    "tanya": "ask",
    "ask": "ask",
    "jawab": "answer",
    "answer": "answer",
    "verifikasi": "verified",
    "verified": "verified",
    "kunjungan": "visit",
    "visit": "visit",
    "jalur": "track",
    "track": "track",
    "batal": "cancel",
    "cancel": "cancel",
    "bantuan": "help",
    "help": "help",
    "start": "start",
}

# Words accepted after `/daftar CODE` in a group for a complaints group.
_COMPLAINT_WORDS = frozenset({"pengaduan", "complaints", "complaint", "aduan"})


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command: canonical name and the rest of the line, split once."""

    name: str
    args: tuple[str, ...]
    rest: str  # everything after the command word

    def arg(self, index: int) -> str | None:
        """The index-th word after the command, if any."""
        return self.args[index] if index < len(self.args) else None

    def after(self, count: int) -> str:
        """The text after the first `count` words (a note, a reason, a question)."""
        parts = self.rest.split(None, count)
        return parts[count].strip() if len(parts) > count else ""


def parse_command(text: str | None) -> Command | None:
    """ "/lanjut LPR-2026-000001 sudah ditelusuri" -> Command("step", ...); None when the text is
    not a command laporbot's officer side knows."""
    if not text or not text.startswith("/"):
        return None
    head, _, rest = text[1:].partition(" ")
    word = head.split("@", 1)[0].lower()
    name = ALIASES.get(word)
    if name is None:
        return None
    rest = rest.strip()
    return Command(name, tuple(rest.split()), rest)


def may_claim(inbound: InboundMessage, *, officer: bool, flow: str | None) -> bool:
    """Whether `OfficerDesk.handle_officer_inbound` may take `inbound` (or change anything
    for it), told whether the sender has an officer binding and the flow of their active
    conversation (None: none). False means it certainly returns False and writes nothing, so
    the citizen flows may handle the message without asking it (the inbox's batch path); it
    follows `_route` and errs on the side of True.
    """
    if inbound.kind == "choice":
        return is_ours(inbound.choice)
    if inbound.is_group or officer:
        return True
    if flow in (anonymous.ANSWER_FLOW, anonymous.PENDING_FLOW):
        return True
    command = parse_command(inbound.text) if inbound.kind == "command" else None
    return command is not None and command.name in ("register", "start") and bool(command.arg(0))


# Private-chat actions that wait for the officer's next message, and the prompt for each.
PENDING_PROMPTS = {
    "step": "officers.prompt.step",
    "note": "officers.prompt.note",
    "reject": "officers.prompt.reject",
    "ask": "officers.prompt.ask",
    "attach": "officers.prompt.attach",
    "answer": "officers.prompt.answer",
}


class OfficerDesk:
    """The officer side of laporbot, bound to the standards, catalogs and reminder service."""

    def __init__(
        self,
        registry: StandardsRegistry,
        translator: Translator,
        reminders: ReminderService | None = None,
        *,
        locale: str = "id",
        locales: tuple[str, ...] = ("id", "en"),
        whatsapp_template: str | None = None,
    ) -> None:
        self.ctx = OfficerContext(
            registry=registry,
            translator=translator,
            reminders=reminders,
            locale=locale,
            locales=locales,
            whatsapp_template=whatsapp_template,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        registry: StandardsRegistry | None = None,
        reminders: ReminderService | None = None,
    ) -> OfficerDesk:
        """The desk for a deployment (share the intake's registry and reminder service)."""
        registry = registry or load_registry(settings.standards_dir)
        return cls(
            registry,
            Translator(settings.locales_dir, settings.default_locale),
            reminders if reminders is not None else ReminderService(registry),
            locale=settings.default_locale,
            locales=settings.locales,
            whatsapp_template=settings.whatsapp_followup_template,
        )

    # -- hooks the intake calls ----------------------------------------------------------------

    async def on_case_opened(self, session: AsyncSession, case: Case, now: datetime) -> None:
        """Post a new case to its office's triage group (intake `case_hooks`)."""
        await casework.on_case_opened(Turn(self.ctx, session, now), case)

    async def on_complaint_filed(
        self, session: AsyncSession, complaint: Complaint, now: datetime
    ) -> None:
        """Tell the office's complaint handlers (intake `complaint_hooks`)."""
        await complaints.on_complaint_filed(Turn(self.ctx, session, now), complaint)

    # -- the inbound entry point --------------------------------------------------------------

    def senders(self, inbounds: Sequence[InboundMessage]) -> set[str]:
        """The Telegram users among a batch's senders whose officer bindings `may_take` must
        be told of (the batch reads them with the active sessions: `load_active_many`)."""
        return {m.user_id for m in inbounds if m.channel == "telegram" and not m.is_group}

    def may_take(
        self, inbound: InboundMessage, *, officers: Collection[str], flow: str | None
    ) -> bool:
        """Whether this desk may take `inbound` (`may_claim`), given which of the batch's
        `senders` have an active officer binding and the flow of the sender's active
        conversation (None: none)."""
        officer = inbound.channel == "telegram" and inbound.user_id in officers
        return may_claim(inbound, officer=officer, flow=flow)

    async def handle_officer_inbound(
        self, session: AsyncSession, inbound: InboundMessage, now: datetime
    ) -> bool:
        """Handle `inbound` if it is the officer side's; True when handled (the citizen flows
        must then not see it). Runs in the caller's transaction and never commits."""
        turn = Turn(self.ctx, session, now, inbound)
        try:
            return await self._route(turn, inbound)
        except PermissionDenied:
            await turn.reply(turn.text("officers.error.denied"))
            return True
        except NotFound as exc:
            await turn.reply(turn.text("officers.error.not_found", key=exc.key))
            return True
        except BadRequest:
            await turn.reply(turn.text("officers.help"))
            return True

    async def _route(self, turn: Turn, inbound: InboundMessage) -> bool:
        if inbound.kind == "choice":
            return await self._button(turn, inbound)
        command = parse_command(inbound.text) if inbound.kind == "command" else None
        bindings = (
            await bindings_of(turn.session, inbound.user_id)
            if inbound.channel == "telegram"
            else []
        )
        if inbound.is_group:
            return await self._group(turn, inbound, command, bindings)
        if bindings:
            # Their private chat is in their language (bindings of one person share it).
            turn.reader_locale = self.ctx.officer_locale(bindings[0])
            await self._officer_private(turn, inbound, command, bindings)
            return True
        return await self._stranger_private(turn, inbound, command)

    # -- buttons -------------------------------------------------------------------------------

    async def _button(self, turn: Turn, inbound: InboundMessage) -> bool:
        data = inbound.choice or ""
        if data.startswith(f"{OFFICER_PREFIX}:"):
            callback = parse_officer(data)
            if callback is None:
                raise BadRequest(f"malformed officer button {data!r}")
            bindings = (
                await bindings_of(turn.session, inbound.user_id)
                if inbound.channel == "telegram"
                else []
            )
            if not bindings:
                raise PermissionDenied("unbound user", "press an officer button")
            await self._officer_button(
                turn, inbound, callback.verb, callback.target, callback.argument, bindings
            )
            return True
        case_id = parse_answer(data)
        if case_id is not None:
            await anonymous.press_answer(turn, case_id)
            return True
        survey = parse_survey(data)
        if survey is not None:
            await complaints.rate(turn, survey)
            return True
        return False

    async def _officer_button(
        self,
        turn: Turn,
        inbound: InboundMessage,
        verb: str,
        target: int,
        argument: str | None,
        bindings: list[Officer],
    ) -> None:
        if verb == "w":
            complaint = await turn.session.get(Complaint, target)
            if complaint is None:
                raise NotFound("complaint", str(target))
            officer = binding_for(bindings, complaint.agency_code)
            linked = await turn.session.get(Case, complaint.case_id) if complaint.case_id else None
            if officer is None or not complaints.may_answer(officer, complaint, linked):
                raise PermissionDenied(f"user {inbound.user_id}", "answer this complaint")
            await self._pend(turn, inbound, "answer", complaint.id, actor=officer)
            return
        case = await casework.case_by_id(turn, target)
        officer = binding_for(bindings, case.agency_code)
        if (
            inbound.is_group
            and inbound.reply_to
            and case.group_message_ref is None
            and officer is not None
        ):
            # The pressed button names the group post: now its id is known for later edits.
            registrations = await group_by_chat(turn.session, inbound.channel, inbound.chat_id)
            if any(
                g.agency_code == case.agency_code and g.purpose == TRIAGE for g in registrations
            ):
                case.group_message_ref = inbound.reply_to
        index = int(argument) if argument is not None and argument.isdecimal() else None
        if verb == "c":
            await casework.claim(turn, officer, case)
        elif verb == "a":
            if index is None:
                await casework.assign_picker(turn, officer, case)
            else:
                await casework.assign(turn, officer, case, index)
        elif verb == "e":
            await casework.mark_emergency(turn, officer, case)
        elif verb == "r":
            if argument is None:
                await casework.refer_picker(turn, officer, case, not_ours=False)
            else:
                await casework.refer(turn, officer, case, argument)
        elif verb == "n":
            await casework.refer_picker(turn, officer, case, not_ours=True)
        elif verb == "d":
            await casework.send_details(turn, officer, case)
        elif verb == "q":
            await casework.checklist(turn, officer, case, index)
        elif verb == "z":
            if index is None:
                await casework.close_picker(turn, officer, case)
            else:
                await casework.close(turn, officer, case, index)
        elif verb in ("s", "t", "x", "k", "p"):
            action = {"s": "step", "t": "note", "x": "reject", "k": "ask", "p": "attach"}[verb]
            # The permission is checked now, so nobody is asked to type for nothing.
            check = {
                "step": Action.STEP,
                "note": Action.NOTE,
                "reject": Action.REJECT,
                "ask": Action.ASK_REPORTER,
                "attach": Action.ATTACH,
            }[action]
            actor = require(officer, check, case)
            await self._pend(turn, inbound, action, case.id, actor=actor)
        elif verb == "b":
            await refresh_group(turn, case)

    async def _pend(
        self,
        turn: Turn,
        inbound: InboundMessage,
        action: str,
        target: int,
        actor: Officer | None = None,
    ) -> None:
        """Wait for the officer's next private message as the text of `action`."""
        user_chat = inbound.user_id  # a private chat with the bot has the user's id
        await anonymous.start_state(
            turn.session,
            channel=inbound.channel,
            user_id=inbound.user_id,
            chat_id=user_chat,
            flow=anonymous.PENDING_FLOW,
            step=action,
            data={"target": target},
            now=turn.now,
            window=anonymous.PENDING_WINDOW,
            replace_other=True,
        )
        number = await self._number_of(turn, action, target)
        if inbound.is_group and actor is not None:
            with turn.speaking_to(actor):
                prompt = turn.text(PENDING_PROMPTS[action], number=number)
            await turn.to_officer(actor, prompt)
        elif inbound.is_group:
            return
        else:
            await turn.reply(turn.text(PENDING_PROMPTS[action], number=number))

    async def _number_of(self, turn: Turn, action: str, target: int) -> str:
        if action == "answer":
            complaint = await turn.session.get(Complaint, target)
            return complaint.number if complaint is not None else str(target)
        case = await turn.session.get(Case, target)
        return case.number if case is not None else str(target)

    # -- groups --------------------------------------------------------------------------------

    async def _group(
        self,
        turn: Turn,
        inbound: InboundMessage,
        command: Command | None,
        bindings: list[Officer],
    ) -> bool:
        registrations = await group_by_chat(turn.session, inbound.channel, inbound.chat_id)
        if command is not None and command.name == "register" and command.arg(0):
            purpose = COMPLAINTS if (command.arg(1) or "").lower() in _COMPLAINT_WORDS else TRIAGE
            try:
                done = await invites.redeem_group(
                    turn.session,
                    command.arg(0) or "",
                    channel=inbound.channel,
                    chat_id=inbound.chat_id,
                    purpose=purpose,
                    now=turn.now,
                )
            except (NotFound, BadRequest):
                await turn.reply(turn.text("officers.invite.invalid"))
                return True
            await turn.reply(
                turn.text(
                    f"officers.group.registered_{purpose}",
                    office=self.ctx.office_name(done.agency_code),
                )
            )
            return True
        if not registrations:
            return False
        if command is None or not bindings:
            # Chatter in an office group is the officers' own; it never reaches citizen flows.
            return True
        agency_codes = {g.agency_code for g in registrations}
        scoped = [b for b in bindings if b.agency_code in agency_codes]
        if not scoped:
            return True
        await self._command(turn, inbound, command, scoped)
        return True

    # -- private chats -------------------------------------------------------------------------

    async def _stranger_private(
        self, turn: Turn, inbound: InboundMessage, command: Command | None
    ) -> bool:
        if command is not None and command.name in ("register", "start") and command.arg(0):
            # Telegram's language_code: the new officer's language, when the bot speaks it.
            spoken = self.ctx.spoken(inbound.language_hint)
            turn.reader_locale = spoken
            name = command.after(1) or turn.text(
                "officers.invite.default_name", user=inbound.user_id[-4:]
            )
            try:
                done = await invites.redeem_officer(
                    turn.session,
                    command.arg(0) or "",
                    user_id=inbound.user_id,
                    display_name=name[:100],
                    now=turn.now,
                    locale=spoken,
                )
            except (NotFound, BadRequest):
                if command.name == "start":
                    return False  # a deep-link parameter of the citizen side
                await turn.reply(turn.text("officers.invite.invalid"))
                return True
            turn.reader_locale = self.ctx.officer_locale(done.officer)
            await turn.reply(
                turn.text(
                    "officers.invite.welcome",
                    office=self.ctx.office_name(done.agency_code),
                    role=turn.text(f"officers.role.{done.role}"),
                )
            )
            return True
        state = await anonymous.current_state(
            turn.session, inbound.channel, inbound.user_id, anonymous.ANSWER_FLOW, turn.now
        )
        if state is None:
            return False
        if inbound.kind == "unsupported":
            return False  # a sticker is no answer; the question waits for one (the chat re-asks)
        if inbound.kind == "command" or not (inbound.text or "").strip():
            # The reporter moved on to something else: the question stays unanswered.
            await anonymous.end_state(turn.session, state, turn.now)
            return False
        await anonymous.take_answer(turn, state, inbound.text or "")
        return True

    async def _officer_private(
        self,
        turn: Turn,
        inbound: InboundMessage,
        command: Command | None,
        bindings: list[Officer],
    ) -> None:
        pending = await anonymous.current_state(
            turn.session, inbound.channel, inbound.user_id, anonymous.PENDING_FLOW, turn.now
        )
        if command is not None:
            if pending is not None:
                await anonymous.end_state(turn.session, pending, turn.now)
            await self._command(turn, inbound, command, bindings)
            return
        if inbound.kind == "command":
            await turn.reply(turn.text("officers.help"))
            return
        if pending is not None and inbound.kind == "unsupported":
            # A sticker answers nothing: ask again and keep waiting for the text or photo.
            wanted = "attach.need_photo" if pending.step == "attach" else "prompt.need_text"
            await turn.reply(turn.text(f"officers.{wanted}"))
            return
        if pending is not None:
            await self._complete(turn, inbound, pending.step, pending.state, bindings)
            await anonymous.end_state(turn.session, pending, turn.now)
            return
        if inbound.kind == "photo" and inbound.photo is not None:
            number = (inbound.photo.caption or "").split(None, 1)
            if number:
                case = await casework.case_by_number(turn, number[0])
                photo = Photo(inbound.photo.ref, number[1] if len(number) > 1 else None)
                await casework.attach(turn, binding_for(bindings, case.agency_code), case, photo)
                return
        if inbound.kind == "text" and inbound.reply_to:
            complaint = await complaints.complaint_replied_to(turn, inbound.reply_to)
            if complaint is not None:
                officer = binding_for(bindings, complaint.agency_code)
                await complaints.answer(turn, officer, complaint, inbound.text or "")
                return
        await turn.reply(turn.text("officers.help"))

    async def _complete(
        self,
        turn: Turn,
        inbound: InboundMessage,
        action: str,
        state: dict[str, object],
        bindings: list[Officer],
    ) -> None:
        target = state.get("target")
        if not isinstance(target, int):
            return
        text = inbound.text or ""
        if action == "answer":
            complaint = await turn.session.get(Complaint, target)
            if complaint is None:
                raise NotFound("complaint", str(target))
            await complaints.answer(
                turn, binding_for(bindings, complaint.agency_code), complaint, text
            )
            return
        case = await casework.case_by_id(turn, target)
        officer = binding_for(bindings, case.agency_code)
        if action == "attach":
            if inbound.photo is None:
                await turn.reply(turn.text("officers.attach.need_photo"))
                return
            await casework.attach(turn, officer, case, inbound.photo)
            return
        if not text.strip():
            await turn.reply(turn.text("officers.prompt.need_text"))
            return
        handlers: dict[str, Callable[[], Awaitable[None]]] = {
            "step": lambda: casework.advance(turn, officer, case, text),
            "note": lambda: casework.add_note(turn, officer, case, text),
            "reject": lambda: casework.reject(turn, officer, case, text),
            "ask": lambda: anonymous.ask(turn, officer, case, text),
        }
        await handlers[action]()

    # -- commands ------------------------------------------------------------------------------

    async def _command(
        self,
        turn: Turn,
        inbound: InboundMessage,
        command: Command,
        bindings: list[Officer],
    ) -> None:
        """Run one command (the same in a group and in private: details always go to the
        officer's private chat)."""
        name = command.name
        if name in ("help", "start", "register"):
            await turn.reply(turn.text("officers.help"))
            return
        if name == "cancel":
            await turn.reply(turn.text("officers.cancelled"))
            return
        if name == "queue":
            await casework.show_queue(turn, bindings)
            return
        if name == "answer":
            number = command.arg(0)
            if number is None:
                raise BadRequest("answer needs a complaint number")
            complaint = await complaints.complaint_by_number(turn, number)
            officer = binding_for(bindings, complaint.agency_code)
            text = command.after(1)
            if not text:
                if officer is None:
                    raise PermissionDenied(f"user {inbound.user_id}", "answer this complaint")
                await self._pend(turn, inbound, "answer", complaint.id, actor=officer)
                return
            await complaints.answer(turn, officer, complaint, text)
            return
        number = command.arg(0)
        if number is None:
            raise BadRequest(f"{name} needs a case number")
        case = await casework.case_by_number(turn, number)
        officer = binding_for(bindings, case.agency_code)
        if officer is None:
            # Another office's case: it does not exist as far as this officer can tell.
            raise NotFound("case", case.number)
        rest = command.after(1)
        if name == "case":
            await casework.send_details(turn, officer, case)
        elif name == "claim":
            await casework.claim(turn, officer, case)
        elif name == "assign":
            target = command.arg(1)
            if target is not None and target.isdecimal():
                await casework.assign(turn, officer, case, int(target))
            else:
                await casework.assign_picker(turn, officer, case)
        elif name == "emergency":
            await casework.mark_emergency(turn, officer, case)
        elif name == "checklist":
            await casework.checklist(turn, officer, case, None)
        elif name in ("step", "note", "reject", "ask"):
            if not rest:
                check = {
                    "step": Action.STEP,
                    "note": Action.NOTE,
                    "reject": Action.REJECT,
                    "ask": Action.ASK_REPORTER,
                }[name]
                actor = require(officer, check, case)
                await self._pend(turn, inbound, name, case.id, actor=actor)
                return
            if name == "step":
                await casework.advance(turn, officer, case, rest)
            elif name == "note":
                await casework.add_note(turn, officer, case, rest)
            elif name == "reject":
                await casework.reject(turn, officer, case, rest)
            else:
                await anonymous.ask(turn, officer, case, rest)
        elif name == "attach":
            actor = require(officer, Action.ATTACH, case)
            await self._pend(turn, inbound, "attach", case.id, actor=actor)
        elif name == "refer":
            code = command.arg(1)
            if code is None:
                await casework.refer_picker(turn, officer, case, not_ours=False)
            else:
                await casework.refer(turn, officer, case, code.lower(), command.after(2))
        elif name == "close":
            choice = command.arg(1)
            if choice is not None and choice.isdecimal():
                await casework.close(turn, officer, case, int(choice) - 1, command.after(2))
            else:
                await casework.close_picker(turn, officer, case)
        elif name == "verified":
            await casework.mark_milestone(turn, officer, case, "verified", None)
        elif name == "visit":
            await casework.mark_milestone(turn, officer, case, "visit_scheduled", rest or None)
        elif name == "track":
            await casework.set_track(turn, officer, case, command.arg(1) or "")
