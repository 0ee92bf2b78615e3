"""`message`: say something and move straight on (e.g. the emergency numbers)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from laporbot.flows.effects import Send
from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.flows.steps._common import params_of


@register("message")
class MessageStep(Step):
    """Sends `text` (with `params` read from the answers) and goes to `next`."""

    type: Literal["message"]
    text: str
    params: dict[str, str] = Field(default_factory=dict)

    waits = False

    def message_ids(self) -> list[str]:
        return [*super().message_ids(), self.text]

    def answer_refs(self) -> list[str]:
        return list(self.params.values())

    def enter(self, ctx: Context) -> Transition:
        return Transition(effects=(Send(ctx.text(self.text, **params_of(ctx, self.params))),))
