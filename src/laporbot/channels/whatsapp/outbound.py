"""What we send: an `OutboundMessage` planned as Cloud API message objects, within Meta's limits.

Pure functions, no network. The choice of shape follows the number of options:

- no options: text, cut into pieces of at most 4096 characters (at line or word ends);
- 1 to 3 options whose labels all fit 20 characters: reply buttons;
- up to 10 options otherwise: a list, row titles of at most 24 characters and the full label
  (up to 72) as the row's description when the title had to be shortened;
- more than 10: several lists of at most 10 rows (balanced: 15 -> 8 + 7), marked `(1/2)`, `(2/2)`;
  a row pressed in any of them comes back as the option's id, like a button.

An interactive body holds at most 1024 characters: a longer text goes first as plain text and
the interactive message then carries only its last paragraph (cut to fit).
`request_location` sends a `location_request_message`; `photo` an image by media id; a set
`template` sends that approved template (the only thing WhatsApp delivers outside the 24-hour
customer service window) with `template_params` as its body parameters.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from laporbot.errors import BadRequest
from laporbot.messages import Button, OutboundMessage

TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
BUTTONS_MAX = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
LIST_ROWS_MAX = 10
LIST_ROW_TITLE_LIMIT = 24
LIST_ROW_DESCRIPTION_LIMIT = 72
LIST_ROW_ID_LIMIT = 200
LIST_BUTTON_LIMIT = 20
IMAGE_CAPTION_LIMIT = 1024
TEMPLATE_PARAM_LIMIT = 1024
ELLIPSIS = "…"

Payload = dict[str, Any]


def shorten(label: str, limit: int) -> str:
    """`label` cut to `limit` characters at a word end when one is near, marked with `…`.

    Whitespace is collapsed first; a label that fits is returned unchanged.
    """
    words = " ".join(label.split())
    if len(words) <= limit:
        return words
    room = limit - len(ELLIPSIS)
    cut = words[:room]
    space = cut.rfind(" ")
    # Cut at a word end unless that throws away more than a third of the room.
    if words[room] != " " and space >= room * 2 // 3:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-") + ELLIPSIS


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at a paragraph, line or word end."""
    pieces: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = window.rfind(sep, 0, limit)
            if cut > limit // 2:
                break
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not pieces:
        pieces.append(rest)
    return pieces


def _body_and_lead(text: str) -> tuple[list[str], str]:
    """Text too long for an interactive body: the plain-text messages to send first, and the
    body (the last paragraph, shortened if it still does not fit)."""
    if len(text) <= INTERACTIVE_BODY_LIMIT:
        return [], text
    head, _, tail = text.rstrip().rpartition("\n\n")
    if not head or not tail.strip():
        head, tail = text, ""
    body = tail.strip()
    if not body:
        body = shorten(text.rstrip().rsplit("\n", 1)[-1], INTERACTIVE_BODY_LIMIT)
        return split_text(text), body
    return split_text(head), shorten(body, INTERACTIVE_BODY_LIMIT)


def _check_ids(buttons: tuple[Button, ...], limit: int) -> None:
    for button in buttons:
        if not button.id or len(button.id) > limit:
            raise BadRequest(f"whatsapp: option id {button.id!r} is empty or over {limit} chars")


def _reply_buttons(body: str, buttons: tuple[Button, ...]) -> Payload:
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [
                    {
                        "type": "reply",
                        "reply": {"id": b.id, "title": shorten(b.label, BUTTON_TITLE_LIMIT)},
                    }
                    for b in buttons
                ]
            },
        },
    }


def _row(button: Button) -> dict[str, str]:
    label = " ".join(button.label.split())
    row = {"id": button.id, "title": shorten(label, LIST_ROW_TITLE_LIMIT)}
    if row["title"] != label:
        row["description"] = shorten(label, LIST_ROW_DESCRIPTION_LIMIT)
    return row


def _list(body: str, buttons: tuple[Button, ...], list_button_label: str) -> Payload:
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": body},
            "action": {
                "button": shorten(list_button_label, LIST_BUTTON_LIMIT),
                "sections": [{"rows": [_row(b) for b in buttons]}],
            },
        },
    }


def _fits_buttons(buttons: tuple[Button, ...]) -> bool:
    return len(buttons) <= BUTTONS_MAX and all(
        len(" ".join(b.label.split())) <= BUTTON_TITLE_LIMIT for b in buttons
    )


def _template(message: OutboundMessage, language: str) -> Payload:
    template: dict[str, Any] = {"name": message.template, "language": {"code": language}}
    if message.template_params:
        # Meta refuses newlines, tabs and runs of spaces inside a template parameter.
        params = [shorten(p, TEMPLATE_PARAM_LIMIT) or "-" for p in message.template_params]
        template["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in params]}
        ]
    return {"type": "template", "template": template}


def _single(message: OutboundMessage, list_button_label: str, template_language: str) -> Payload:
    """The one message object for a part made by `parts` (it fits every limit by construction)."""
    if message.template:
        return _template(message, template_language)
    if message.photo:
        image: dict[str, Any] = {"id": message.photo}
        if message.text:
            image["caption"] = message.text
        return {"type": "image", "image": image}
    if message.request_location:
        return {
            "type": "interactive",
            "interactive": {
                "type": "location_request_message",
                "body": {"text": message.text},
                "action": {"name": "send_location"},
            },
        }
    if not message.buttons:
        return {"type": "text", "text": {"body": message.text}}
    if _fits_buttons(message.buttons):
        return _reply_buttons(message.text, message.buttons)
    return _list(message.text, message.buttons, list_button_label)


def _list_chunks(buttons: tuple[Button, ...]) -> list[tuple[Button, ...]]:
    """More than 10 options in lists of at most 10, balanced (15 -> 8 + 7) so no list is left
    with so few options that it would plan as reply buttons."""
    count = -(-len(buttons) // LIST_ROWS_MAX)
    size = -(-len(buttons) // count)
    return [buttons[i : i + size] for i in range(0, len(buttons), size)]


def parts(message: OutboundMessage) -> list[OutboundMessage]:
    """`message` as messages that each take exactly one Cloud API call, in order.

    `plan` posts one message object per part; an outbox that sends the parts one by one and
    records each can retry a failed part without repeating the delivered ones.
    Raises `BadRequest` for a message that cannot be sent at all (an option id too long).
    """
    if message.template:
        return [message]

    def text_only(text: str) -> OutboundMessage:
        return replace(
            message, text=text, buttons=(), request_location=False, photo=None, edit_of=None
        )

    if message.photo:
        if len(message.text) <= IMAGE_CAPTION_LIMIT:
            return [message]
        texts = [text_only(t) for t in split_text(message.text)]
        return [*texts, replace(message, text="", buttons=(), request_location=False)]
    if message.request_location:
        lead, body = _body_and_lead(message.text)
        return [*(text_only(t) for t in lead), replace(message, text=body, buttons=())]
    buttons = message.buttons
    if not buttons:
        return [text_only(t) for t in split_text(message.text)]
    lead, body = _body_and_lead(message.text)
    leading = [text_only(t) for t in lead]
    if _fits_buttons(buttons):
        _check_ids(buttons, BUTTON_ID_LIMIT)
        return [*leading, replace(message, text=body)]
    _check_ids(buttons, LIST_ROW_ID_LIMIT)
    if len(buttons) <= LIST_ROWS_MAX:
        return [*leading, replace(message, text=body)]
    chunks = _list_chunks(buttons)
    lists: list[OutboundMessage] = []
    for index, chunk in enumerate(chunks):
        # No word of our own on the later lists: the same body shortened, numbered.
        chunk_body = shorten(body, INTERACTIVE_BODY_LIMIT - 8 if index == 0 else 60)
        lists.append(
            replace(message, text=f"{chunk_body} ({index + 1}/{len(chunks)})", buttons=chunk)
        )
    return [*leading, *lists]


def plan(
    message: OutboundMessage, *, list_button_label: str, template_language: str
) -> list[Payload]:
    """The Cloud API message objects (without the recipient) that deliver `message`, in order:
    one per part of `parts(message)`.

    Raises `BadRequest` for a message that cannot be sent at all (an option id too long).
    """
    return [_single(part, list_button_label, template_language) for part in parts(message)]
