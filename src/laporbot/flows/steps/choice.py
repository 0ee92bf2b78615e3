"""`choice`: a question answered with a button (or the button's number, label or a close
spelling typed as text)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from laporbot.flows.matching import match_option
from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.flows.steps._common import words
from laporbot.messages import Button, InboundMessage


class Option(BaseModel):
    """One button: `id` is the stored answer, `label` a message id, `next` an optional target,
    `words` a message id of synonyms (`a|b|c`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    label: str
    next: str | None = None
    words: str | None = None


@register("choice")
class ChoiceStep(Step):
    """Asks `prompt` with one button per option; stores the option id."""

    type: Literal["choice"]
    prompt: str
    options: list[Option] = Field(min_length=1)
    reask: str = "common.reask.choice"

    def message_ids(self) -> list[str]:
        ids = [*super().message_ids(), self.prompt, self.reask]
        for option in self.options:
            ids.append(option.label)
            if option.words:
                ids.append(option.words)
        return ids

    def targets(self) -> list[str]:
        return [*super().targets(), *(o.next for o in self.options if o.next)]

    def needs_next(self) -> bool:
        return any(option.next is None for option in self.options)

    def buttons(self, ctx: Context) -> tuple[Button, ...]:
        """The options as buttons in the citizen's language."""
        return tuple(Button(option.id, ctx.text(option.label)) for option in self.options)

    def enter(self, ctx: Context) -> Transition:
        return Transition(effects=(ctx.send(self.prompt, self.buttons(ctx)),), wait=True)

    def pick(self, ctx: Context, message: InboundMessage) -> Option | None:
        """The option the message names, if any."""
        by_id = {option.id: option for option in self.options}
        if message.choice in by_id:
            return by_id[message.choice]
        if message.kind in ("text", "choice") and message.text:
            candidates = [
                (o.id, [*ctx.labels(o.label), *(words(ctx, o.words) if o.words else [])])
                for o in self.options
            ]
            found = match_option(message.text, candidates)
            if found is not None:
                return by_id[found]
        return None

    def accept(self, ctx: Context, message: InboundMessage) -> Transition:
        option = self.pick(ctx, message)
        if option is None:
            return Transition(wait=True, reask=self.reask)
        return Transition(value=option.id, to=option.next)

    def display(self, ctx: Context, value: Any) -> str:
        for option in self.options:
            if option.id == value:
                return ctx.text(option.label)
        return str(value)
