"""`text`: a free-text answer between `min_length` and `max_length` characters."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.flows.steps._common import SKIP_LABEL, SKIP_WORDS, is_skip, skip_button
from laporbot.messages import InboundMessage


@register("text")
class TextStep(Step):
    """Asks `prompt`; `optional` adds a skip button (the answer is then None)."""

    type: Literal["text"]
    prompt: str
    min_length: int = Field(default=2, ge=1)
    max_length: int = Field(default=1000, ge=1)
    optional: bool = False
    reask: str = "common.reask.text"

    def message_ids(self) -> list[str]:
        extra = [SKIP_LABEL, SKIP_WORDS] if self.optional else []
        return [*super().message_ids(), self.prompt, self.reask, *extra]

    def enter(self, ctx: Context) -> Transition:
        buttons = (skip_button(ctx),) if self.optional else ()
        return Transition(effects=(ctx.send(self.prompt, buttons),), wait=True)

    def accept(self, ctx: Context, message: InboundMessage) -> Transition:
        if self.optional and is_skip(ctx, message):
            return Transition(value=None)
        text = " ".join((message.text or "").split())
        if message.kind not in ("text", "command") or not (
            self.min_length <= len(text) <= self.max_length
        ):
            return Transition(
                wait=True,
                reask=self.reask,
                reask_params={"min": self.min_length, "max": self.max_length},
            )
        return Transition(value=text)

    def display(self, ctx: Context, value: Any) -> str:
        return ctx.text("common.none") if value is None else str(value)
