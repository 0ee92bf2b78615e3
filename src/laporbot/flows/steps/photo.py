"""`photo`: a photo, optional (a skip button)."""

from __future__ import annotations

from typing import Any, Literal

from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.flows.steps._common import SKIP_LABEL, SKIP_WORDS, is_skip, skip_button
from laporbot.messages import InboundMessage


@register("photo")
class PhotoStep(Step):
    """Asks `prompt`; stores the platform's photo reference (None when skipped)."""

    type: Literal["photo"]
    prompt: str
    optional: bool = True
    reask: str = "common.reask.photo"

    def message_ids(self) -> list[str]:
        return [
            *super().message_ids(),
            self.prompt,
            self.reask,
            SKIP_LABEL,
            SKIP_WORDS,
            "common.photo_received",
            "common.none",
        ]

    def enter(self, ctx: Context) -> Transition:
        buttons = (skip_button(ctx),) if self.optional else ()
        return Transition(effects=(ctx.send(self.prompt, buttons),), wait=True)

    def accept(self, ctx: Context, message: InboundMessage) -> Transition:
        if message.photo is not None:
            return Transition(value=message.photo.ref)
        if self.optional and is_skip(ctx, message):
            return Transition(value=None)
        return Transition(wait=True, reask=self.reask)

    def display(self, ctx: Context, value: Any) -> str:
        return ctx.text("common.none" if value is None else "common.photo_received")
