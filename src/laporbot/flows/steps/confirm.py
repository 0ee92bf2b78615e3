"""`confirm`: the summary of the answers, then confirm or cancel."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from laporbot.flows.matching import match_option
from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.flows.steps._common import words
from laporbot.messages import Button, InboundMessage

CONFIRM, CANCEL = "confirm", "cancel"


@register("confirm")
class ConfirmStep(Step):
    """Sends `prompt` with `{summary}` filled from the `fields` (step ids with a `label`) and
    Kirim/Batal buttons; confirm goes to `next`, cancel to `cancel`."""

    type: Literal["confirm"]
    prompt: str
    fields: list[str] = Field(min_length=1)
    cancel: str
    confirm_label: str = "common.confirm"
    cancel_label: str = "common.cancel"
    reask: str = "common.reask.choice"

    def message_ids(self) -> list[str]:
        return [
            *super().message_ids(),
            self.prompt,
            self.reask,
            self.confirm_label,
            self.cancel_label,
            "common.summary_line",
            "common.yes.words",
            "common.no.words",
        ]

    def targets(self) -> list[str]:
        return [*super().targets(), self.cancel]

    def answer_refs(self) -> list[str]:
        return list(self.fields)

    def summary(self, ctx: Context) -> str:
        """One line per answered field: "Label: answer"."""
        lines = []
        for step_id in self.fields:
            step = ctx.steps.get(step_id)
            if step is None or step.label is None or step_id not in ctx.answers:
                continue
            value = step.display(ctx, ctx.answers[step_id])
            lines.append(ctx.text("common.summary_line", label=ctx.text(step.label), value=value))
        return "\n".join(lines)

    def enter(self, ctx: Context) -> Transition:
        buttons = (
            Button(CONFIRM, ctx.text(self.confirm_label)),
            Button(CANCEL, ctx.text(self.cancel_label)),
        )
        return Transition(
            effects=(ctx.send(self.prompt, buttons, summary=self.summary(ctx)),), wait=True
        )

    def accept(self, ctx: Context, message: InboundMessage) -> Transition:
        picked = message.choice if message.choice in (CONFIRM, CANCEL) else None
        if picked is None and message.text:
            picked = match_option(
                message.text,
                [
                    (CONFIRM, [*ctx.labels(self.confirm_label), *words(ctx, "common.yes.words")]),
                    (CANCEL, [*ctx.labels(self.cancel_label), *words(ctx, "common.no.words")]),
                ],
            )
        if picked is None:
            return Transition(wait=True, reask=self.reask)
        return Transition(value=picked == CONFIRM, to=None if picked == CONFIRM else self.cancel)
