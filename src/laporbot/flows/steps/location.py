"""`location`: where it happened, as a shared pin or a typed address.

A pin gives the exact place; the kabupaten/kota and kecamatan are still asked, because they
choose the office (offices list the areas they serve, not polygons). Typed: kabupaten/kota,
kecamatan, then the address or a landmark. The answer is one dict:
`{latitude, longitude, kabupaten, kecamatan, address}` (missing parts absent).
"""

from __future__ import annotations

from typing import Any, Literal

from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.messages import InboundMessage

_PLACE_MAX = 100
_ADDRESS_MAX = 500


def _typed(message: InboundMessage, longest: int) -> str | None:
    text = " ".join((message.text or "").split())
    if message.kind != "text" or not 2 <= len(text) <= longest:
        return None
    return text


@register("location")
class LocationStep(Step):
    """Asks `prompt` (share a pin or type the kabupaten/kota), then `ask_kecamatan`, then
    `ask_address` when no pin was shared."""

    type: Literal["location"]
    prompt: str
    ask_kabupaten: str
    ask_kecamatan: str
    ask_address: str
    reask: str = "common.reask.location"

    def message_ids(self) -> list[str]:
        return [
            *super().message_ids(),
            self.prompt,
            self.ask_kabupaten,
            self.ask_kecamatan,
            self.ask_address,
            self.reask,
            "common.location_pin",
        ]

    def enter(self, ctx: Context) -> Transition:
        ctx.phase.clear()
        return Transition(effects=(ctx.send(self.prompt, request_location=True),), wait=True)

    def accept(self, ctx: Context, message: InboundMessage) -> Transition:
        place: dict[str, Any] = dict(ctx.phase.get("place", {}))
        asking = ctx.phase.get("asking", "start")
        if asking == "start":
            if message.location is not None:
                place.update(
                    latitude=message.location.latitude, longitude=message.location.longitude
                )
                return self._ask(ctx, place, "kabupaten", self.ask_kabupaten)
            kabupaten = _typed(message, _PLACE_MAX)
            if kabupaten is None:
                return Transition(wait=True, reask=self.reask)
            place["kabupaten"] = kabupaten
            return self._ask(ctx, place, "kecamatan", self.ask_kecamatan)
        longest = _ADDRESS_MAX if asking == "address" else _PLACE_MAX
        answer = _typed(message, longest)
        if answer is None:
            return Transition(wait=True, reask=self.reask)
        place[asking] = answer
        if asking == "kabupaten":
            return self._ask(ctx, place, "kecamatan", self.ask_kecamatan)
        if asking == "kecamatan" and "latitude" not in place:
            return self._ask(ctx, place, "address", self.ask_address)
        ctx.phase.clear()
        return Transition(value=place)

    def _ask(self, ctx: Context, place: dict[str, Any], part: str, msgid: str) -> Transition:
        ctx.phase["place"] = place
        ctx.phase["asking"] = part
        return Transition(effects=(ctx.send(msgid),), wait=True)

    def reprompt(self, ctx: Context) -> Transition:
        """Ask again for the part being asked (after a wrong answer or a language change)."""
        asking = ctx.phase.get("asking", "start")
        prompts = {
            "kabupaten": self.ask_kabupaten,
            "kecamatan": self.ask_kecamatan,
            "address": self.ask_address,
        }
        if asking in prompts:
            return Transition(effects=(ctx.send(prompts[asking]),), wait=True)
        return self.enter(ctx)

    def display(self, ctx: Context, value: Any) -> str:
        if not isinstance(value, dict):
            return str(value)
        parts = [str(value[key]) for key in ("address", "kecamatan", "kabupaten") if value.get(key)]
        if "latitude" in value:
            parts.append(
                ctx.text("common.location_pin", lat=value["latitude"], lon=value["longitude"])
            )
        return ", ".join(parts)
