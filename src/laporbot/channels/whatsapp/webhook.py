"""What Meta sends us: the verification handshake, the signature, and notification bodies.

Every function here is pure (no network, no clock): the web route checks and splits a body, the
inbox stores the `RawUpdate`s, and `translate` turns a stored update into `InboundMessage`s.

Users are identified as Meta does since April 2026: a business-scoped user id (BSUID,
`contacts[].user_id`, `messages[].from_user_id`, e.g. `ID.1410018717833190`) that may come
alone for a user with a username, or together with the phone number (`wa_id` / `from`); older
payloads carry only the phone number. A citizen is keyed by the BSUID whenever it is present.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from laporbot.channels.base import RawUpdate
from laporbot.errors import BadRequest
from laporbot.messages import InboundMessage, Location, Photo

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
OBJECT = "whatsapp_business_account"

#: Message types translated for the conversation engine; any other type (audio, sticker,
#: reaction, system, unsupported, ...) is stored but translates to no message.
USED_MESSAGE_TYPES = ("text", "interactive", "button", "location", "image")
#: Message types a person sends that no step can read: answered with a friendly re-ask.
#: ("unsupported" is Meta's own type for content the Cloud API cannot pass on.) Reactions,
#: system notices and orders are not answers to anything and give no message.
UNREAD_MESSAGE_TYPES = ("audio", "video", "sticker", "document", "contacts", "unsupported")

DeliveryState = Literal["sent", "delivered", "read", "failed"]


def verify_subscription(params: Mapping[str, str], verify_token: str) -> str | None:
    """Meta's subscription handshake: the `hub.challenge` to echo, or None to refuse (403).

    The token is compared in constant time so its bytes cannot be guessed from timings.
    """
    if params.get("hub.mode") != "subscribe":
        return None
    given = params.get("hub.verify_token", "")
    if not verify_token or not hmac.compare_digest(given.encode(), verify_token.encode()):
        return None
    return params.get("hub.challenge", "")


def check_signature(raw_body: bytes, header_value: str | None, app_secret: str) -> bool:
    """Whether `X-Hub-Signature-256` (`sha256=<hex>`) is the HMAC-SHA256 of the RAW body.

    Computed over the bytes as received: a re-serialised JSON body would not match.
    """
    if not header_value or not app_secret or not header_value.startswith(SIGNATURE_PREFIX):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    given = header_value.removeprefix(SIGNATURE_PREFIX).strip().lower()
    return hmac.compare_digest(given.encode(), expected.encode())


def sign(raw_body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value Meta would send for `raw_body`."""
    digest = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return SIGNATURE_PREFIX + digest


# --- splitting a notification ---------------------------------------------------------------


def _dict(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequest(f"whatsapp: {where} is not an object")
    return value


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequest(f"whatsapp: {where} is not a list")
    return value


def _str(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadRequest(f"whatsapp: {where} is missing or not a string")
    return value


def _contact_for(message: dict[str, Any], contacts: list[Any]) -> dict[str, Any]:
    """The `contacts[]` entry of the sender: matched by BSUID or phone, else the only one."""
    sender_phone = message.get("from")
    sender_bsuid = message.get("from_user_id")
    for contact in contacts:
        if not isinstance(contact, dict):
            continue
        if sender_bsuid and contact.get("user_id") == sender_bsuid:
            return contact
        if sender_phone and contact.get("wa_id") == sender_phone:
            return contact
    if len(contacts) == 1 and isinstance(contacts[0], dict):
        return contacts[0]
    return {}


def split(body: dict[str, Any]) -> list[RawUpdate]:
    """One notification -> one update per message (id `wamid...`) and per status callback
    (id `status:{wamid}:{status}`, so sent, delivered and read of one message are three).

    Each payload keeps what translation needs: the message with its contact and metadata, or
    the status with its metadata. Raises `BadRequest` on a body not shaped like Meta's.
    """
    body = _dict(body, "body")
    if body.get("object") != OBJECT:
        raise BadRequest(f"whatsapp: object is {body.get('object')!r}, not {OBJECT!r}")
    updates: list[RawUpdate] = []
    for e_index, entry in enumerate(_list(body.get("entry"), "entry")):
        entry = _dict(entry, f"entry[{e_index}]")
        for c_index, change in enumerate(_list(entry.get("changes"), f"entry[{e_index}].changes")):
            where = f"entry[{e_index}].changes[{c_index}]"
            change = _dict(change, where)
            value = _dict(change.get("value"), f"{where}.value")
            metadata = value.get("metadata")
            metadata = _dict(metadata, f"{where}.value.metadata") if metadata is not None else {}
            contacts = _list(value.get("contacts"), f"{where}.value.contacts")
            messages = _list(value.get("messages"), f"{where}.value.messages")
            for m_index, message in enumerate(messages):
                m_where = f"{where}.value.messages[{m_index}]"
                message = _dict(message, m_where)
                message_id = _str(message.get("id"), f"{m_where}.id")
                _str(message.get("type"), f"{m_where}.type")
                payload = {
                    "message": message,
                    "contact": _contact_for(message, contacts),
                    "metadata": metadata,
                }
                updates.append(RawUpdate("whatsapp", message_id, payload))
            statuses = _list(value.get("statuses"), f"{where}.value.statuses")
            for s_index, status in enumerate(statuses):
                s_where = f"{where}.value.statuses[{s_index}]"
                status = _dict(status, s_where)
                status_id = _str(status.get("id"), f"{s_where}.id")
                state = _str(status.get("status"), f"{s_where}.status")
                payload = {"status": status, "metadata": metadata}
                updates.append(RawUpdate("whatsapp", f"status:{status_id}:{state}", payload))
    return updates


# --- translating one stored update ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sender:
    """Who wrote: `user_id` keys the citizen, `chat_id` is where replies go."""

    user_id: str
    chat_id: str
    bsuid: str | None
    phone: str | None


def sender_of(message: dict[str, Any], contact: dict[str, Any]) -> Sender:
    """Key the citizen by the BSUID when present, else the phone number; reply to the phone
    number when there is one (`to`), else to the BSUID (`recipient`).

    Replies go to the phone number while Meta gives one because every Cloud API version
    accepts `to`; a user who hides their number has only the BSUID, which the API accepts
    as `recipient`. `send` tells them apart by shape (a phone number is all digits).
    """
    raw_bsuid = contact.get("user_id") or message.get("from_user_id")
    raw_phone = contact.get("wa_id") or message.get("from")
    bsuid = raw_bsuid if isinstance(raw_bsuid, str) and raw_bsuid else None
    phone = raw_phone if isinstance(raw_phone, str) and raw_phone else None
    if bsuid is not None:
        return Sender(user_id=bsuid, chat_id=phone or bsuid, bsuid=bsuid, phone=phone)
    if phone is not None:
        return Sender(user_id=phone, chat_id=phone, bsuid=None, phone=phone)
    raise BadRequest("whatsapp: message has neither a user id nor a phone number")


def _timestamp(value: object, where: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(value)), UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise BadRequest(f"whatsapp: {where}.timestamp {value!r} is not a unix time") from exc


def _float(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadRequest(f"whatsapp: {where} is not a number")
    try:
        return float(value)
    except ValueError as exc:
        raise BadRequest(f"whatsapp: {where} is not a number") from exc


def translate(update: RawUpdate) -> list[InboundMessage]:
    """A stored update -> what the person did; a status or an unused type gives []."""
    if update.channel != "whatsapp":
        raise BadRequest(f"not a whatsapp update: {update.channel}")
    payload = update.payload
    if "status" in payload:
        return []
    message = _dict(payload.get("message"), "message")
    contact = payload.get("contact") or {}
    contact = _dict(contact, "contact")
    kind = message.get("type")
    if kind not in USED_MESSAGE_TYPES and kind not in UNREAD_MESSAGE_TYPES:
        return []
    sender = sender_of(message, contact)
    context = message.get("context")
    reply_to = context.get("id") if isinstance(context, dict) else None
    base: dict[str, Any] = {
        "channel": "whatsapp",
        "platform_id": update.platform_id,
        "user_id": sender.user_id,
        "chat_id": sender.chat_id,
        "received_at": _timestamp(message.get("timestamp"), "message"),
        "reply_to": reply_to if isinstance(reply_to, str) else None,
    }
    if kind in UNREAD_MESSAGE_TYPES:
        return [InboundMessage(kind="unsupported", content=str(kind), **base)]
    if kind == "text":
        text = _dict(message.get("text"), "message.text")
        body = text.get("body")
        if not isinstance(body, str):
            raise BadRequest("whatsapp: message.text.body is not a string")
        return [InboundMessage(kind="text", text=body, **base)]
    if kind == "interactive":
        interactive = _dict(message.get("interactive"), "message.interactive")
        i_type = interactive.get("type")
        if i_type not in ("button_reply", "list_reply"):
            return []  # nfm_reply (flows), product replies: laporbot offers none
        reply = _dict(interactive.get(i_type), f"message.interactive.{i_type}")
        choice = _str(reply.get("id"), f"message.interactive.{i_type}.id")
        title = reply.get("title")
        return [
            InboundMessage(
                kind="choice", choice=choice, text=title if isinstance(title, str) else None, **base
            )
        ]
    if kind == "button":
        # A quick-reply button of a template (the follow-up sent outside the 24-hour window).
        button = _dict(message.get("button"), "message.button")
        payload_id = button.get("payload")
        label = button.get("text")
        if isinstance(payload_id, str) and payload_id:
            return [
                InboundMessage(
                    kind="choice",
                    choice=payload_id,
                    text=label if isinstance(label, str) else None,
                    **base,
                )
            ]
        return [InboundMessage(kind="text", text=_str(label, "message.button.text"), **base)]
    if kind == "location":
        loc = _dict(message.get("location"), "message.location")
        point = Location(
            latitude=_float(loc.get("latitude"), "message.location.latitude"),
            longitude=_float(loc.get("longitude"), "message.location.longitude"),
        )
        # A shared place has a name and address; keep them as text so nothing is lost.
        words = [w for w in (loc.get("name"), loc.get("address")) if isinstance(w, str) and w]
        place = ", ".join(words) if words else None
        return [InboundMessage(kind="location", location=point, text=place, **base)]
    image = _dict(message.get("image"), "message.image")
    media_id = _str(image.get("id"), "message.image.id")
    raw_caption = image.get("caption")
    caption = raw_caption if isinstance(raw_caption, str) and raw_caption else None
    return [InboundMessage(kind="photo", photo=Photo(ref=media_id, caption=caption), **base)]


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """A status callback as the outbox records it against the sent message's `wamid`."""

    message_id: str
    state: DeliveryState
    at: datetime
    recipient: str | None
    error_code: int | None = None
    error_reason: str | None = None


def delivery_status(update: RawUpdate) -> DeliveryStatus | None:
    """The delivery news of a status update (sent, delivered, read, failed with its error);
    None for a message update or a state laporbot does not track (e.g. `deleted`)."""
    status = update.payload.get("status")
    if update.channel != "whatsapp" or not isinstance(status, dict):
        return None
    state: DeliveryState
    match status.get("status"):
        case "sent" | "delivered" | "read" | "failed" as known:
            state = known
        case _:
            return None
    recipient = status.get("recipient_user_id") or status.get("recipient_id")
    code: int | None = None
    reason: str | None = None
    errors = status.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        raw_code = first.get("code")
        code = raw_code if isinstance(raw_code, int) else None
        data = first.get("error_data")
        details = data.get("details") if isinstance(data, dict) else None
        words = [w for w in (first.get("title"), details) if isinstance(w, str) and w]
        reason = ": ".join(words) or None
    return DeliveryStatus(
        message_id=_str(status.get("id"), "status.id"),
        state=state,
        at=_timestamp(status.get("timestamp"), "status"),
        recipient=recipient if isinstance(recipient, str) else None,
        error_code=code,
        error_reason=reason,
    )
