"""`end`: the last word of a conversation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from laporbot.flows.effects import Send
from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.flows.steps._common import params_of


@register("end")
class EndStep(Step):
    """Sends `text` if given and ends the session; the next message starts afresh."""

    type: Literal["end"]
    text: str | None = None
    params: dict[str, str] = Field(default_factory=dict)

    waits = False

    def message_ids(self) -> list[str]:
        return [*super().message_ids(), *([self.text] if self.text else [])]

    def answer_refs(self) -> list[str]:
        return list(self.params.values())

    def needs_next(self) -> bool:
        return False

    def enter(self, ctx: Context) -> Transition:
        effects = (Send(ctx.text(self.text, **params_of(ctx, self.params))),) if self.text else ()
        return Transition(effects=effects, end=True)
