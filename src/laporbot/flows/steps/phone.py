"""`phone`: an Indonesian phone number, stored in international form (+62...)."""

from __future__ import annotations

import re
from typing import Literal

from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.messages import InboundMessage


def normalize_phone(text: str) -> str | None:
    """`0812-3456-789`, `62812...`, `+62 812 ...` -> `+62812...`; None if it is not a number.

    Indonesian numbers have 8 to 12 digits after the country code (mobile 8xx, fixed with an
    area code); other countries are accepted with + and 7 to 15 digits (E.164).
    """
    raw = re.sub(r"[\s\-().]", "", text)
    if raw.startswith("+"):
        digits = raw[1:]
        if not (digits.isascii() and digits.isdigit()):
            return None
        if digits.startswith("62"):
            return f"+{digits}" if 8 <= len(digits) - 2 <= 12 and digits[2] != "0" else None
        return f"+{digits}" if 7 <= len(digits) <= 15 else None
    if not (raw.isascii() and raw.isdigit()):
        return None
    if raw.startswith("62"):
        raw = raw[2:]
    elif raw.startswith("0"):
        raw = raw[1:]
    else:
        return None
    if not 8 <= len(raw) <= 12 or raw.startswith("0"):
        return None
    return f"+62{raw}"


@register("phone")
class PhoneStep(Step):
    """Asks `prompt`; accepts a phone number written the ways Indonesians write them."""

    type: Literal["phone"]
    prompt: str
    reask: str = "common.reask.phone"

    def message_ids(self) -> list[str]:
        return [*super().message_ids(), self.prompt, self.reask]

    def enter(self, ctx: Context) -> Transition:
        return Transition(effects=(ctx.send(self.prompt),), wait=True)

    def accept(self, ctx: Context, message: InboundMessage) -> Transition:
        phone = normalize_phone(message.text or "")
        if phone is None:
            return Transition(wait=True, reask=self.reask)
        return Transition(value=phone)
