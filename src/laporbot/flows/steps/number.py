"""`number`: a whole number within bounds ("7", "7 tahun", "sekitar 7" all read as 7)."""

from __future__ import annotations

import re
from typing import Any, Literal

from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.flows.steps._common import SKIP_LABEL, SKIP_WORDS, is_skip, skip_button
from laporbot.messages import InboundMessage

_NUMBER = re.compile(r"\d{1,9}")


@register("number")
class NumberStep(Step):
    """Asks `prompt`; accepts the first whole number in the answer between `min` and `max`."""

    type: Literal["number"]
    prompt: str
    min: int = 0
    max: int = 1_000_000
    optional: bool = False
    reask: str = "common.reask.number"

    def message_ids(self) -> list[str]:
        extra = [SKIP_LABEL, SKIP_WORDS, "common.none"] if self.optional else []
        return [*super().message_ids(), self.prompt, self.reask, *extra]

    def enter(self, ctx: Context) -> Transition:
        buttons = (skip_button(ctx),) if self.optional else ()
        return Transition(effects=(ctx.send(self.prompt, buttons),), wait=True)

    def accept(self, ctx: Context, message: InboundMessage) -> Transition:
        if self.optional and is_skip(ctx, message):
            return Transition(value=None)
        found = _NUMBER.search(message.text or "")
        if found is not None and self.min <= int(found.group()) <= self.max:
            return Transition(value=int(found.group()))
        return Transition(
            wait=True, reask=self.reask, reask_params={"min": self.min, "max": self.max}
        )

    def display(self, ctx: Context, value: Any) -> str:
        return ctx.text("common.none") if value is None else str(value)
