"""The flow format: a flow is a set of named steps; each step has a registered type.

A step type is a pydantic model (unknown fields are refused) registered by its `type` name with
`@register`. It says which message ids it uses and where it may lead (for load-time checks),
what it sends when the conversation arrives at it (`enter`), and what it makes of the
citizen's answer (`accept`) or of an action's outcome (`on_result`). Each returns a
`Transition`; the engine (`laporbot.flows.engine`) does the moving.

Targets: `next: where` is a step of the same flow; `next: "@help"` is the start of flow
`help`, `next: "@help.offices"` a step of it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from laporbot.flows.effects import Effect, Send
from laporbot.i18n import Translator
from laporbot.messages import Button, InboundMessage

MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Transition:
    """What a step decided.

    - `wait`: stay on this step for the next resume (a prompt was sent, or an action is out).
    - `to`: go to this target (else the step's `next`).
    - `value`: store under the step id in the answers (unless `MISSING`).
    - `reask`: the answer was not understood (a message id): counts a strike, re-prompts.
    - `end`: the conversation is over.
    """

    effects: tuple[Effect, ...] = ()
    wait: bool = False
    to: str | None = None
    value: Any = MISSING
    reask: str | None = None
    reask_params: Mapping[str, object] = field(default_factory=dict)
    end: bool = False


class Places(Protocol):
    """What steps may ask about places (the standards registry): a kabupaten's kecamatan."""

    def kecamatan_names(self, kabupaten: str) -> list[str]:
        """The kecamatan offices list for `kabupaten` (empty: served whole, or unknown)."""
        ...

    def kecamatan_listed(self, kabupaten: str, kecamatan: str) -> str | None:
        """The listed spelling of `kecamatan` in `kabupaten`, or None."""
        ...

    def kecamatan_suggestions(self, kabupaten: str, kecamatan: str, limit: int = 3) -> list[str]:
        """Listed kecamatan of `kabupaten` close in spelling to `kecamatan`, best first."""
        ...


@dataclass(slots=True)
class Context:
    """What a step may look at: the catalogs, the language, the answers so far, the time.

    `phase` is this step's own scratch state (kept in the session between resumes).
    """

    translator: Translator
    locale: str
    answers: Mapping[str, Any]
    phase: dict[str, Any]
    now: datetime
    steps: Mapping[str, Step] = field(default_factory=dict)  # the flow's, for summaries
    places: Places | None = None  # kecamatan lists, when the application gives them

    def text(self, msgid: str, **params: object) -> str:
        """`msgid` in the citizen's language."""
        return self.translator.text(self.locale, msgid, **params)

    def labels(self, msgid: str) -> list[str]:
        """`msgid` in every language: a citizen may type an option in any of them."""
        return [self.translator.text(lang, msgid) for lang in self.translator.locales]

    def send(
        self,
        msgid: str,
        buttons: tuple[Button, ...] = (),
        *,
        request_location: bool = False,
        **params: object,
    ) -> Send:
        """A `Send` of `msgid` in the citizen's language."""
        return Send(self.text(msgid, **params), buttons, request_location)


class Step(BaseModel):
    """Fields every step has. `label` names the answer in a summary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    id: str = ""
    next: str | None = None
    label: str | None = None

    waits: ClassVar[bool] = True  # asks the citizen something (a place `back` returns to)

    def message_ids(self) -> list[str]:
        """Every catalog message id this step may show."""
        return [self.label] if self.label else []

    def targets(self) -> list[str]:
        """Every target this step may lead to."""
        return [self.next] if self.next else []

    def answer_refs(self) -> list[str]:
        """Step ids whose answers this step reads (checked to exist)."""
        return []

    def needs_next(self) -> bool:
        """Whether the step must have a `next` (it is not an end and always moves on)."""
        return True

    def enter(self, ctx: Context) -> Transition:
        """The conversation arrives here: prompt and wait, or act and move on."""
        raise NotImplementedError

    def accept(self, ctx: Context, message: InboundMessage) -> Transition:
        """The citizen answered while the session waits here."""
        return Transition(wait=True)

    def reprompt(self, ctx: Context) -> Transition:
        """Ask again what is being asked (after a wrong answer or a change of language)."""
        return self.enter(ctx)

    def on_result(self, ctx: Context, outcome: dict[str, Any]) -> Transition:
        """An action this step asked for was carried out."""
        raise NotImplementedError

    def display(self, ctx: Context, value: Any) -> str:
        """The answer as a summary line shows it."""
        return str(value)


S = TypeVar("S", bound=type[Step])

STEP_TYPES: dict[str, type[Step]] = {}


def register(name: str) -> Callable[[S], S]:
    """Register a step type under the `type` name flows use."""

    def decorate(cls: S) -> S:
        if name in STEP_TYPES:
            raise ValueError(f"step type {name!r} registered twice")
        STEP_TYPES[name] = cls
        return cls

    return decorate


@dataclass(frozen=True, slots=True)
class Flow:
    """One conversation flow: its name, file, first step and steps by id."""

    name: str
    file: str
    start: str
    steps: Mapping[str, Step]
    title: str | None = None


@dataclass(frozen=True, slots=True)
class Commands:
    """Words that work at any step, in every language (whole message, any case)."""

    cancel: frozenset[str]
    back: frozenset[str]
    restart: frozenset[str]
    language: frozenset[str]
    help: frozenset[str]
    languages: Mapping[str, frozenset[str]]  # words that switch straight to a language
    entry: str  # the flow a new conversation starts in
    help_target: str
    officer_target: str


@dataclass(frozen=True, slots=True)
class Limits:
    """Numbers from the settings the engine honours."""

    max_message_chars: int = 4000
    nudge_minutes: int = 20
    idle_minutes: int = 30
    max_strikes: int = 3


@dataclass(frozen=True, slots=True)
class Flows:
    """Every flow of a deployment, validated, with the catalogs and limits they run with."""

    flows: Mapping[str, Flow]
    commands: Commands
    translator: Translator
    limits: Limits = Limits()
    #: The deployment's languages (`settings.locales`); empty: every language with a catalog.
    offered: tuple[str, ...] = ()
    #: Place look-ups for the location step (set by the application; None: none are made).
    places: Places | None = None

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages citizens are offered: the deployment's languages that have a catalog,
        the default first (always offered: every text falls back to it)."""
        known = self.translator.locales
        if not self.offered:
            return known
        return tuple(
            lang for lang in known if lang == self.translator.default_locale or lang in self.offered
        )

    def language_of(self, locale: str | None) -> str:
        """The offered language to speak for `locale` (a platform hint, a remembered choice):
        its catalog language when offered, else the default."""
        language = self.translator.resolve(locale)
        return language if language in self.languages else self.translator.default_locale

    def resolve(self, flow: str, target: str) -> tuple[str, str]:
        """(flow, step) a target names, seen from `flow`."""
        if target.startswith("@"):
            name, _, step = target[1:].partition(".")
            return name, step or self.flows[name].start
        return flow, target

    def step_of(self, flow: str, step: str) -> Step:
        """The step `step` of flow `flow`."""
        return self.flows[flow].steps[step]
