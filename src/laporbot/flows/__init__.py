"""Conversation flows as data, run by a pure engine (goflow's model).

`load_flows(folder, translator)` reads and checks `conversations/*.yaml`; `step(flows, session,
resume, now)` returns the new session and the effects for the application to apply.
"""

from __future__ import annotations

from laporbot.flows.effects import (
    Action,
    Effect,
    EndSession,
    FileComplaint,
    ListOffices,
    LookUpCase,
    OpenCase,
    Send,
)
from laporbot.flows.engine import start, step
from laporbot.flows.loader import load_flows
from laporbot.flows.schema import Commands, Flow, Flows, Limits, Step, register
from laporbot.flows.session import (
    ActionResult,
    ExpiryResume,
    MessageResume,
    NudgeResume,
    Resume,
    Session,
)

__all__ = [
    "Action",
    "ActionResult",
    "Commands",
    "Effect",
    "EndSession",
    "ExpiryResume",
    "FileComplaint",
    "Flow",
    "Flows",
    "Limits",
    "ListOffices",
    "LookUpCase",
    "MessageResume",
    "NudgeResume",
    "OpenCase",
    "Resume",
    "Send",
    "Session",
    "Step",
    "load_flows",
    "register",
    "start",
    "step",
]
