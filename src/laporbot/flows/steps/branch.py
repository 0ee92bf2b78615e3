"""`branch`: go one way or another on an answer, without asking anything."""

from __future__ import annotations

from typing import Any, Literal

from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.flows.steps._common import lookup


def branch_key(value: Any) -> str:
    """How an answer is written as a branch case: booleans as yes/no, nothing as `none`."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


@register("branch")
class BranchStep(Step):
    """Looks up the answer at `on` (a dotted path) and goes to `cases[value]`, else `default`."""

    type: Literal["branch"]
    on: str
    cases: dict[str, str]
    default: str

    waits = False

    def targets(self) -> list[str]:
        return [*self.cases.values(), self.default]

    def answer_refs(self) -> list[str]:
        return [self.on]

    def needs_next(self) -> bool:
        return False

    def enter(self, ctx: Context) -> Transition:
        key = branch_key(lookup(ctx.answers, self.on))
        return Transition(to=self.cases.get(key, self.default))
