"""`yes_no`: a yes-or-no question; the answer is stored as a boolean."""

from __future__ import annotations

from typing import Any, Literal

from laporbot.flows.matching import match_option
from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.flows.steps._common import words
from laporbot.messages import Button, InboundMessage

YES, NO = "yes", "no"


@register("yes_no")
class YesNoStep(Step):
    """Asks `prompt` with Ya/Tidak buttons; `yes`/`no` may lead elsewhere than `next`."""

    type: Literal["yes_no"]
    prompt: str
    yes: str | None = None
    no: str | None = None
    yes_label: str = "common.yes"
    no_label: str = "common.no"
    reask: str = "common.reask.yes_no"

    def message_ids(self) -> list[str]:
        return [
            *super().message_ids(),
            self.prompt,
            self.reask,
            self.yes_label,
            self.no_label,
            "common.yes.words",
            "common.no.words",
        ]

    def targets(self) -> list[str]:
        return [*super().targets(), *(t for t in (self.yes, self.no) if t)]

    def needs_next(self) -> bool:
        return self.yes is None or self.no is None

    def enter(self, ctx: Context) -> Transition:
        buttons = (Button(YES, ctx.text(self.yes_label)), Button(NO, ctx.text(self.no_label)))
        return Transition(effects=(ctx.send(self.prompt, buttons),), wait=True)

    def accept(self, ctx: Context, message: InboundMessage) -> Transition:
        picked = message.choice if message.choice in (YES, NO) else None
        if picked is None and message.text:
            picked = match_option(
                message.text,
                [
                    (YES, [*ctx.labels(self.yes_label), *words(ctx, "common.yes.words")]),
                    (NO, [*ctx.labels(self.no_label), *words(ctx, "common.no.words")]),
                ],
            )
        if picked is None:
            return Transition(wait=True, reask=self.reask)
        answer = picked == YES
        return Transition(value=answer, to=self.yes if answer else self.no)

    def display(self, ctx: Context, value: Any) -> str:
        return ctx.text(self.yes_label if value else self.no_label)
