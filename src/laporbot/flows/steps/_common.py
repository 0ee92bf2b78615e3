"""Helpers the step types share: answer paths, parameters, skip buttons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from laporbot.flows.matching import match_option
from laporbot.flows.schema import Context
from laporbot.messages import Button, InboundMessage

SKIP = "_skip"
SKIP_LABEL = "common.skip"
SKIP_WORDS = "common.skip.words"


def lookup(answers: Mapping[str, Any], path: str) -> Any:
    """The answer at a dotted path (`open.number`), or None when any part is missing."""
    value: Any = answers
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def params_of(ctx: Context, params: Mapping[str, str]) -> dict[str, object]:
    """Message parameters read from the answers (a missing one shows as empty)."""
    values: dict[str, object] = {}
    for name, path in params.items():
        value = lookup(ctx.answers, path)
        values[name] = "" if value is None else value
    return values


def skip_button(ctx: Context) -> Button:
    """The button that leaves an optional question unanswered."""
    return Button(SKIP, ctx.text(SKIP_LABEL))


def words(ctx: Context, msgid: str) -> list[str]:
    """Synonyms kept in a catalog as `a|b|c`, in every language."""
    found: list[str] = []
    for text in ctx.labels(msgid):
        found.extend(word.strip() for word in text.split("|") if word.strip())
    return found


def is_skip(ctx: Context, message: InboundMessage) -> bool:
    """Whether the citizen pressed or typed "skip"."""
    if message.choice == SKIP:
        return True
    if message.text:
        options = [(SKIP, [*ctx.labels(SKIP_LABEL), *words(ctx, SKIP_WORDS)])]
        return match_option(message.text, options) == SKIP and not message.text.strip().isdecimal()
    return False
