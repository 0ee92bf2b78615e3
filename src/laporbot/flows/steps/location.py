"""`location`: where it happened, as a shared pin or a typed address.

A pin gives the exact place; the kabupaten/kota and kecamatan are still asked, because they
choose the office (offices list the areas they serve, not polygons). Typed: kabupaten/kota,
kecamatan, then the address or a landmark. The answer is one dict:
`{latitude, longitude, kabupaten, kecamatan, address}` (missing parts absent).

A kecamatan its kabupaten's office does not list (the list is in the office's standards file,
read through `Context.places`) is not taken as is: the closest listed spellings are offered as
buttons, with "Lainnya / Other" to keep what was typed (the kabupaten's office still takes it).
"""

from __future__ import annotations

from typing import Any, Literal

from laporbot.flows.matching import match_option
from laporbot.flows.schema import Context, Step, Transition, register
from laporbot.messages import Button, InboundMessage

_PLACE_MAX = 100
_ADDRESS_MAX = 500
_OTHER = "kec:other"  # button id of "Lainnya / Other" (keep the kecamatan as typed)
_PICK = "kec:"  # button ids of the suggested kecamatan: kec:0, kec:1, ...


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
    pick_kecamatan: str = "common.pick_kecamatan"
    kecamatan_other: str = "common.kecamatan_other"

    def message_ids(self) -> list[str]:
        return [
            *super().message_ids(),
            self.prompt,
            self.ask_kabupaten,
            self.ask_kecamatan,
            self.ask_address,
            self.reask,
            self.pick_kecamatan,
            self.kecamatan_other,
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
        if asking == "kecamatan_pick":
            picked = self._picked(ctx, message)
            if picked is not None:
                if picked != _OTHER:
                    place["kecamatan"] = picked
                return self._after_kecamatan(ctx, place)
            asking = "kecamatan"  # typed again: checked like the first answer
        longest = _ADDRESS_MAX if asking == "address" else _PLACE_MAX
        answer = _typed(message, longest)
        if answer is None:
            return Transition(wait=True, reask=self.reask)
        place[asking] = answer
        if asking == "kabupaten":
            return self._ask(ctx, place, "kecamatan", self.ask_kecamatan)
        if asking == "kecamatan":
            offer = self._offer_kecamatan(ctx, place)
            if offer is not None:
                return offer
            return self._after_kecamatan(ctx, place)
        ctx.phase.clear()
        return Transition(value=place)

    def _after_kecamatan(self, ctx: Context, place: dict[str, Any]) -> Transition:
        if "latitude" not in place:
            return self._ask(ctx, place, "address", self.ask_address)
        ctx.phase.clear()
        return Transition(value=place)

    def _offer_kecamatan(self, ctx: Context, place: dict[str, Any]) -> Transition | None:
        """None when the kecamatan is listed (its listed spelling kept) or nothing is listed;
        else the closest listed spellings as buttons, with "Lainnya / Other"."""
        kabupaten = str(place.get("kabupaten", "")).split(",")[0].strip()
        typed = str(place.get("kecamatan", ""))
        if ctx.places is None or not kabupaten or not ctx.places.kecamatan_names(kabupaten):
            return None
        listed = ctx.places.kecamatan_listed(kabupaten, typed)
        if listed is not None:
            place["kecamatan"] = listed
            return None
        suggestions = ctx.places.kecamatan_suggestions(kabupaten, typed)
        buttons = (
            *(Button(f"{_PICK}{i}", name) for i, name in enumerate(suggestions)),
            Button(_OTHER, ctx.text(self.kecamatan_other)),
        )
        ctx.phase["place"] = place
        ctx.phase["asking"] = "kecamatan_pick"
        ctx.phase["suggested"] = suggestions
        send = ctx.send(self.pick_kecamatan, buttons, kecamatan=typed, kabupaten=kabupaten)
        return Transition(effects=(send,), wait=True)

    def _picked(self, ctx: Context, message: InboundMessage) -> str | None:
        """The suggested kecamatan the citizen chose, `_OTHER`, or None (something else)."""
        suggested: list[str] = list(ctx.phase.get("suggested", []))
        options = [(f"{_PICK}{i}", [name]) for i, name in enumerate(suggested)]
        options.append((_OTHER, ctx.labels(self.kecamatan_other)))
        chosen = message.choice if message.choice in {o[0] for o in options} else None
        if chosen is None and message.kind in ("text", "choice") and message.text:
            chosen = match_option(message.text, options)
        if chosen is None or chosen == _OTHER:
            return chosen
        return suggested[int(chosen.removeprefix(_PICK))]

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
        if asking == "kecamatan_pick":
            offer = self._offer_kecamatan(ctx, dict(ctx.phase.get("place", {})))
            if offer is not None:
                return offer
            asking = "kecamatan"
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
