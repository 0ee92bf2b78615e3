"""A conversation's state, and the ways a waiting conversation is resumed.

The same four resumes drive every conversation (goflow's model): an inbound message, the
outcome of an action the application carried out, a nudge timeout and an expiry. The session is
plain data, stored as JSON in `conversation_sessions` so a restart resumes where it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from laporbot.messages import InboundMessage

SessionStatus = Literal["active", "ended", "expired"]


@dataclass(frozen=True, slots=True)
class Session:
    """Where a conversation is: flow, step, language, answers, and engine bookkeeping.

    `answers` maps step ids to the values given (action outcomes included). `state` is the
    engine's own: the back history, wrong-answer strikes, a step's phase, pending offers.
    """

    flow: str
    step: str
    locale: str
    answers: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    status: SessionStatus = "active"
    nudge_at: datetime | None = None
    expires_at: datetime | None = None

    def evolve(self, **changes: Any) -> Session:
        """A copy with `changes` applied."""
        return replace(self, **changes)


@dataclass(frozen=True, slots=True)
class MessageResume:
    """The citizen sent something."""

    message: InboundMessage


@dataclass(frozen=True, slots=True)
class ActionResult:
    """The application carried out the action the session waits on; `outcome` says how it went."""

    outcome: dict[str, Any]


@dataclass(frozen=True, slots=True)
class NudgeResume:
    """The citizen has been quiet for `session_nudge_minutes`."""


@dataclass(frozen=True, slots=True)
class ExpiryResume:
    """The citizen has been quiet for `session_idle_minutes`: the session ends."""


Resume = MessageResume | ActionResult | NudgeResume | ExpiryResume
