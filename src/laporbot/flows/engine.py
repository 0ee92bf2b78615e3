"""The conversation engine: one pure function from (session, resume, now) to (session, effects).

It never sends or writes: it returns `Send` and action effects for the application to apply
(`laporbot.intake`), which feeds each action's outcome back as an `ActionResult` resume. The
same engine then runs in tests, in the terminal chat and in production.

Besides the flows' own steps it handles what works everywhere: cancel, back, start again,
change of language, help; the message-length limit; wrong answers (a short re-ask, and after
`max_strikes` an offer to start again or reach an officer); the nudge and the expiry of an idle
session.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from laporbot.errors import FlowError
from laporbot.flows.effects import Effect, EndReason, EndSession, Send
from laporbot.flows.matching import match_option, normalize
from laporbot.flows.schema import MISSING, Context, Flows, Step, Transition
from laporbot.flows.session import (
    ActionResult,
    ExpiryResume,
    MessageResume,
    NudgeResume,
    Resume,
    Session,
)
from laporbot.flows.steps.actions import ActionStep
from laporbot.messages import Button, InboundMessage

RESTART, OFFICER = "_restart", "_officer"
LANGUAGE_PREFIX = "_lang:"
_MAX_HOPS = 200  # steps run without waiting; more means a loop in a flow


def start(flows: Flows, locale: str | None, now: datetime) -> tuple[Session, list[Effect]]:
    """A new session at the entry flow, in `locale` (or the default), and its first prompt."""
    language = flows.language_of(locale)
    flow = flows.flows[flows.commands.entry]
    run = _Run(flows, Session(flow=flow.name, step=flow.start, locale=language), now)
    run.follow(run.current().enter(run.context()))
    return run.finish()


def step(
    flows: Flows,
    session: Session | None,
    resume: Resume,
    now: datetime,
    *,
    locale: str | None = None,
) -> tuple[Session | None, list[Effect]]:
    """Resume `session` with `resume` at `now`; returns the new session and the effects.

    With no session (or an ended or lapsed one) a message starts a new conversation, in
    `locale` (the citizen's remembered language) or the message's language hint; timeouts on
    no session do nothing.
    """
    if session is None or session.status != "active":
        if not isinstance(resume, MessageResume):
            return session, []
        hint = locale or resume.message.language_hint
        chosen = _language_word(flows, resume.message)
        return _fresh(flows, chosen or hint, resume.message, now)
    if isinstance(resume, MessageResume) and _lapsed(session, now):
        # Idle past expiry and the sweep has not closed it yet: a fresh start, as after expiry.
        hint = locale or resume.message.language_hint
        chosen = _language_word(flows, resume.message)
        return _fresh(flows, chosen or hint, resume.message, now)
    run = _Run(flows, session, now)
    if isinstance(resume, MessageResume):
        run.message(resume.message)
    elif isinstance(resume, ActionResult):
        current = run.current()
        if not isinstance(current, ActionStep):
            raise ValueError(f"session at {session.flow}.{session.step} awaits no action")
        run.history.clear()  # what an action did cannot be undone with "back"
        run.follow(current.on_result(run.context(), resume.outcome))
    elif isinstance(resume, NudgeResume):
        if session.nudge_at is None or now < session.nudge_at:
            return session, []
        run.effects.append(Send(run.text("common.nudge")))
        run.nudge_at = None  # one nudge per silence; the expiry time stays
        return run.finish(rearm=False)
    elif isinstance(resume, ExpiryResume):
        if session.expires_at is None or now < session.expires_at:
            return session, []
        run.effects.append(Send(run.text("common.expired")))
        run.end("expired")
    return run.finish()


def _copy_json(value: Any) -> Any:
    """A copy of JSON-like data (what a session holds, stored as JSON): new dicts and lists,
    the immutable leaves shared. Every turn copies the session; `copy.deepcopy` costs several
    times more."""
    if isinstance(value, dict):
        return {key: _copy_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_json(item) for item in value]
    return value


def _fresh(
    flows: Flows, locale: str | None, message: InboundMessage, now: datetime
) -> tuple[Session, list[Effect]]:
    """`start`, told first that a message no step can read (a sticker) was not read."""
    session, effects = start(flows, locale, now)
    if message.kind == "unsupported":
        notice = Send(flows.translator.text(session.locale, "common.unsupported"))
        effects = [notice, *effects]
    return session, effects


def _lapsed(session: Session, now: datetime) -> bool:
    return session.expires_at is not None and now >= session.expires_at


def _words(message: InboundMessage) -> str | None:
    if message.kind not in ("text", "command") or not message.text:
        return None
    return normalize(message.text)


def _language_word(flows: Flows, message: InboundMessage) -> str | None:
    """The locale a message asks for by name ("english", "/id"), if it does."""
    if message.choice and message.choice.startswith(LANGUAGE_PREFIX):
        wanted = message.choice.removeprefix(LANGUAGE_PREFIX)
        return wanted if wanted in flows.languages else None
    said = _words(message)
    if said is None:
        return None
    for language, words in flows.commands.languages.items():
        if said in words and language in flows.languages:
            return language
    return None


class _Run:
    """One resume being worked out: a mutable copy of the session and the effects so far."""

    def __init__(self, flows: Flows, session: Session, now: datetime) -> None:
        self.flows = flows
        self.now = now
        self.flow = session.flow
        self.step_id = session.step
        self.locale = session.locale
        self.answers: dict[str, Any] = _copy_json(session.answers)
        self.state: dict[str, Any] = _copy_json(session.state)
        self.history: list[str] = self.state.setdefault("history", [])
        self.status = session.status
        self.nudge_at = session.nudge_at
        self.expires_at = session.expires_at
        self.effects: list[Effect] = []

    # -- helpers

    def current(self) -> Step:
        return self.flows.step_of(self.flow, self.step_id)

    def context(self) -> Context:
        return Context(
            translator=self.flows.translator,
            locale=self.locale,
            answers=self.answers,
            phase=self.state.setdefault("phase", {}),
            now=self.now,
            steps=self.flows.flows[self.flow].steps,
            places=self.flows.places,
        )

    def text(self, msgid: str, **params: object) -> str:
        return self.flows.translator.text(self.locale, msgid, **params)

    def finish(self, *, rearm: bool = True) -> tuple[Session, list[Effect]]:
        if self.status == "active" and rearm:
            limits = self.flows.limits
            self.nudge_at = self.now + timedelta(minutes=limits.nudge_minutes)
            self.expires_at = self.now + timedelta(minutes=limits.idle_minutes)
        elif self.status != "active":
            self.nudge_at = self.expires_at = None
        session = Session(
            flow=self.flow,
            step=self.step_id,
            locale=self.locale,
            answers=self.answers,
            state=self.state,
            status=self.status,
            nudge_at=self.nudge_at,
            expires_at=self.expires_at,
        )
        return session, self.effects

    def end(self, reason: EndReason) -> None:
        self.status = "expired" if reason == "expired" else "ended"
        self.effects.append(EndSession(reason))

    def go(self, target: str) -> None:
        """Move to a target and enter it."""
        self.flow, self.step_id = self.flows.resolve(self.flow, target)
        self.state["phase"] = {}
        self.state["strikes"] = 0
        self.follow(self.current().enter(self.context()))

    def restart(self) -> None:
        self.answers.clear()
        self.history.clear()
        self.state.pop("offer", None)
        self.go("@" + self.flows.commands.entry)

    def reprompt(self) -> None:
        self.follow(self.current().reprompt(self.context()))

    # -- the moving

    def follow(self, transition: Transition, *, answered: bool = False) -> None:
        """Apply a step's transition and keep going until a step waits or the session ends."""
        for _ in range(_MAX_HOPS):
            step = self.current()
            self.effects.extend(transition.effects)
            if transition.value is not MISSING:
                self.answers[step.id] = transition.value
            if transition.reask is not None:
                self.strike(step, transition)
                return
            if transition.end:
                self.end("done")
                return
            if transition.wait:
                return
            if answered and step.waits:
                self.history.append(f"{self.flow}.{self.step_id}")
            answered = False
            target = transition.to or step.next
            if target is None:
                raise FlowError(self.flows.flows[self.flow].file, step.id, "no step to go to")
            self.flow, self.step_id = self.flows.resolve(self.flow, target)
            self.state["phase"] = {}
            self.state["strikes"] = 0
            transition = self.current().enter(self.context())
        raise FlowError(self.flows.flows[self.flow].file, self.step_id, "steps loop without a wait")

    def strike(self, step: Step, transition: Transition) -> None:
        strikes = int(self.state.get("strikes", 0)) + 1
        self.state["strikes"] = strikes
        if strikes >= self.flows.limits.max_strikes:
            self.state["strikes"] = 0
            self.state["offer"] = True
            buttons = (
                Button(RESTART, self.text("common.restart")),
                Button(OFFICER, self.text("common.officer")),
            )
            self.effects.append(Send(self.text("common.too_many_tries"), buttons))
            return
        prompt = step.reprompt(self.context())
        sends = [effect for effect in prompt.effects if isinstance(effect, Send)]
        last = sends[-1] if sends else Send("")
        reask = self.text(transition.reask or "common.reask.choice", **transition.reask_params)
        self.effects.append(Send(reask, last.buttons, last.request_location))

    # -- an inbound message

    def message(self, message: InboundMessage) -> None:
        commands = self.flows.commands
        text = message.text or ""
        if len(text) > self.flows.limits.max_message_chars:
            limit = self.flows.limits.max_message_chars
            self.effects.append(Send(self.text("common.too_long", max=limit)))
            return
        if message.kind == "unsupported":
            # A sticker or a voice note is no answer, so no strike: say what can be read and
            # ask the question again.
            self.effects.append(Send(self.text("common.unsupported")))
            if not isinstance(self.current(), ActionStep):
                self.reprompt()
            return
        language = _language_word(self.flows, message)
        if language is None and self.state.pop("choosing_language", False) and message.text:
            language = match_option(
                message.text,
                [
                    (lang, [self.flows.translator.text(lang, "lang.name")])
                    for lang in self.flows.languages
                ],
            )
        if language is not None:
            self.locale = language
            self.effects.append(Send(self.text("common.language_set")))
            self.reprompt()
            return
        said = _words(message)
        offer = self.state.pop("offer", False)
        if message.choice == RESTART or said in commands.restart:
            self.restart()
        elif message.choice == OFFICER or (offer and said and self._offer_pick(said) == OFFICER):
            self.history.clear()
            self.go(commands.officer_target)
        elif offer and said and self._offer_pick(said) == RESTART:
            self.restart()
        elif said in commands.cancel:
            self.effects.append(Send(self.text("common.cancelled")))
            self.end("cancelled")
        elif said in commands.back:
            self.back()
        elif said in commands.language:
            self.state["choosing_language"] = True
            buttons = tuple(
                Button(LANGUAGE_PREFIX + lang, self.flows.translator.text(lang, "lang.name"))
                for lang in self.flows.languages
            )
            self.effects.append(Send(self.text("common.choose_language"), buttons))
        elif said in commands.help:
            self.history.clear()
            self.go(commands.help_target)
        elif isinstance(self.current(), ActionStep):
            # An action is being carried out; the application resumes with its outcome.
            return
        else:
            step = self.current()
            self.follow(step.accept(self.context(), message), answered=True)

    def _offer_pick(self, said: str) -> str | None:
        return match_option(
            said,
            [
                (RESTART, self.context().labels("common.restart")),
                (OFFICER, self.context().labels("common.officer")),
            ],
        )

    def back(self) -> None:
        if not self.history:
            self.effects.append(Send(self.text("common.nothing_back")))
            self.reprompt()
            return
        flow, _, step_id = self.history.pop().partition(".")
        # Both answers are asked again; dropping them keeps a branch not taken this time (a
        # phone number before choosing anonymity) out of the summary and the case.
        self.answers.pop(self.step_id, None)
        self.answers.pop(step_id, None)
        self.flow, self.step_id = flow, step_id
        self.state["phase"] = {}
        self.state["strikes"] = 0
        self.follow(self.current().enter(self.context()))
