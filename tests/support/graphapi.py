"""A loopback fake of the WhatsApp Cloud API (Graph API), and Meta-shaped webhook bodies.

The fake answers as Meta does: `{"messaging_product": "whatsapp", "contacts": [...],
"messages": [{"id": "wamid..."}]}` on success, Graph error objects (`{"error": {"message",
"type", "code", "error_subcode", "error_data", "fbtrace_id"}}`) otherwise. It checks request
bodies as strictly as Meta documents them (at most 3 reply buttons of at most 20 characters,
at most 10 list rows, row titles of at most 24, descriptions 72, bodies 1024, text 4096,
template name and language), enforces the number's throughput (error 130429) against an
injectable clock, knows undeliverable users (131026) and users whose 24-hour window is closed
(131047 for anything but a template), and can be told to fail (HTTP 500) for retry tests.

The webhook builder writes notification bodies in the shapes of Meta's webhook reference
(text, interactive button_reply and list_reply, location, image, statuses), for a user known by
phone number (`wa_id`), by business-scoped user id (`user_id`, no phone number) or by both.

Only aiohttp and the standard library are used, so benchmarks can import it too:

    async with GraphApiFake() as graph:
        adapter = WhatsAppAdapter(api_url=graph.url, access_token=graph.token, ...)
        await adapter.send(...)
        assert graph.sent[0].payload["type"] == "text"
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TEXT_LIMIT = 4096
BODY_LIMIT = 1024
HEADER_LIMIT = 60
FOOTER_LIMIT = 60
BUTTONS_MAX = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
LIST_BUTTON_LIMIT = 20
LIST_ROWS_MAX = 10
LIST_SECTIONS_MAX = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
CAPTION_LIMIT = 1024
MESSAGE_TYPES = ("text", "interactive", "image", "template", "location")


class FakeClock:
    """Seconds since the epoch that only move when told to."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class GraphError(Exception):
    """A Graph API error answer."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        details: str | None = None,
        error_type: str = "OAuthException",
    ) -> None:
        super().__init__(message)
        self.retry_after: float | None = None
        self.status = status
        self.code = code
        self.message = message
        self.subcode = subcode
        self.details = details
        self.error_type = error_type

    def body(self, trace: str) -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
            "fbtrace_id": trace,
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        return {"error": error}


def _invalid(details: str) -> GraphError:
    return GraphError(400, 100, "(#100) Invalid parameter", details=details)


@dataclass(frozen=True)
class Sent:
    """One message the fake accepted."""

    wamid: str
    recipient: str  # the `to` phone number or the `recipient` BSUID
    payload: dict[str, Any]
    at: float


@dataclass
class _Media:
    data: bytes
    mime_type: str


@dataclass
class _Failure:
    status: int
    code: int
    message: str
    remaining: int
    retry_after: float | None


@dataclass
class GraphApiFake:
    """The Cloud API endpoints laporbot uses, on 127.0.0.1 and a free port."""

    token: str = "test-access-token"
    phone_number_id: str = "106540352242922"
    version: str = "v23.0"
    messages_per_second: float = 80.0
    # Meta's pair rate limit (131056) as (messages, seconds) to one user; None: not enforced.
    pair_limit: tuple[int, float] | None = None
    clock: Callable[[], float] = field(default_factory=FakeClock)
    sent: list[Sent] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    undeliverable: set[str] = field(default_factory=set)
    window_closed: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._ids = itertools.count(1)
        self._recent: deque[float] = deque()
        self._pair_recent: dict[str, deque[float]] = {}
        self._failures: list[_Failure] = []
        self._media: dict[str, _Media] = {}

    # --- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to use instead of https://graph.facebook.com."""
        return f"http://127.0.0.1:{self._port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{version}/{phone_id}/messages", self._messages)
        app.router.add_get("/{version}/{media_id}", self._media_info)
        app.router.add_get("/download/{media_id}", self._media_download)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> GraphApiFake:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- test controls --------------------------------------------------------------------

    def fail_next(
        self,
        count: int = 1,
        *,
        status: int = 500,
        code: int = 131000,
        message: str = "Something went wrong",
        retry_after: float | None = None,
    ) -> None:
        """The next `count` message posts fail with this HTTP status and Graph error code
        (and a `Retry-After` header when `retry_after` is given)."""
        self._failures.append(_Failure(status, code, message, count, retry_after))

    def add_media(self, data: bytes, mime_type: str = "image/jpeg") -> str:
        """Store a media file as if a user had sent it; returns its media id."""
        media_id = str(900_000_000_000_000 + next(self._ids))
        self._media[media_id] = _Media(data, mime_type)
        return media_id

    def sent_to(self, recipient: str) -> list[Sent]:
        return [s for s in self.sent if s.recipient == recipient]

    # --- handlers -------------------------------------------------------------------------

    def _trace(self) -> str:
        return base64.b64encode(hashlib.sha256(str(next(self._ids)).encode()).digest())[
            :22
        ].decode()

    def _error(self, error: GraphError) -> web.Response:
        headers = {} if error.retry_after is None else {"Retry-After": f"{error.retry_after:g}"}
        return web.json_response(error.body(self._trace()), status=error.status, headers=headers)

    def _check_auth(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if header != f"Bearer {self.token}":
            raise GraphError(
                401,
                190,
                "Invalid OAuth access token - Cannot parse access token",
                error_type="OAuthException",
            )

    def _check_version(self, request: web.Request) -> None:
        if request.match_info["version"] != self.version:
            raise GraphError(400, 2635, f"Unknown API version {request.match_info['version']}")

    async def _messages(self, request: web.Request) -> web.Response:
        try:
            self._check_auth(request)
            self._check_version(request)
            if request.match_info["phone_id"] != self.phone_number_id:
                raise GraphError(
                    400,
                    100,
                    "Unsupported post request. Object does not exist",
                    subcode=33,
                    error_type="GraphMethodException",
                )
            try:
                payload = await request.json()
            except ValueError:
                raise _invalid("request body is not JSON") from None
            if not isinstance(payload, dict):
                raise _invalid("request body is not an object")
            self.requests.append(payload)
            for failure in self._failures:
                if failure.remaining > 0:
                    failure.remaining -= 1
                    error = GraphError(failure.status, failure.code, failure.message)
                    error.retry_after = failure.retry_after
                    raise error
            recipient = validate_message(payload)
            self._throttle()
            self._pair_throttle(recipient)
            if recipient in self.undeliverable:
                raise GraphError(
                    400,
                    131026,
                    "Message undeliverable",
                    details="Unable to deliver message to this recipient",
                )
            if recipient in self.window_closed and payload.get("type") != "template":
                raise GraphError(
                    400,
                    131047,
                    "Re-engagement message",
                    details="More than 24 hours have passed since the recipient last replied",
                )
        except GraphError as exc:
            return self._error(exc)
        wamid = "wamid." + base64.b64encode(f"laporbot-fake-{next(self._ids)}".encode()).decode()
        self.sent.append(Sent(wamid, recipient, payload, self.clock()))
        contact: dict[str, str] = (
            {"input": recipient, "wa_id": recipient}
            if "to" in payload
            else {"input": recipient, "user_id": recipient}
        )
        return web.json_response(
            {"messaging_product": "whatsapp", "contacts": [contact], "messages": [{"id": wamid}]}
        )

    def _throttle(self) -> None:
        """Meta's per-number throughput: at most `messages_per_second` in any 1-second span."""
        now = self.clock()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.messages_per_second:
            raise GraphError(
                400,
                130429,
                "(#130429) Rate limit hit",
                details="Cloud API message throughput has been reached.",
            )
        self._recent.append(now)

    def _pair_throttle(self, recipient: str) -> None:
        """Meta's pair rate limit: at most `pair_limit[0]` messages to one user in any span of
        `pair_limit[1]` seconds."""
        if self.pair_limit is None:
            return
        limit, window = self.pair_limit
        now = self.clock()
        recent = self._pair_recent.setdefault(recipient, deque())
        while recent and recent[0] <= now - window:
            recent.popleft()
        if len(recent) >= limit:
            raise GraphError(
                400,
                131056,
                "(#131056) (Business Account, Consumer Account) pair rate limit hit",
                details="Message failed to send because there were too many messages sent "
                "from this phone number to the same phone number in a short period of time.",
            )
        recent.append(now)

    async def _media_info(self, request: web.Request) -> web.Response:
        try:
            self._check_auth(request)
            self._check_version(request)
            media_id = request.match_info["media_id"]
            media = self._media.get(media_id)
            if media is None:
                raise GraphError(
                    400,
                    100,
                    f"Unsupported get request. Object with ID '{media_id}' does not exist",
                    subcode=33,
                    error_type="GraphMethodException",
                )
        except GraphError as exc:
            return self._error(exc)
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "url": f"{self.url}/download/{media_id}?ext=1",
                "mime_type": media.mime_type,
                "sha256": hashlib.sha256(media.data).hexdigest(),
                "file_size": len(media.data),
                "id": media_id,
            }
        )

    async def _media_download(self, request: web.Request) -> web.Response:
        # Meta's media URLs need the access token too, and answer 404 once expired.
        if request.headers.get("Authorization", "") != f"Bearer {self.token}":
            return web.Response(status=401)
        media = self._media.get(request.match_info["media_id"])
        if media is None:
            return web.Response(status=404)
        return web.Response(body=media.data, content_type=media.mime_type)


# --- strict request validation ---------------------------------------------------------------


def _text_field(obj: object, key: str, limit: int, where: str, *, required: bool = True) -> None:
    value = obj.get(key) if isinstance(obj, dict) else None
    if value is None and not required:
        return
    if not isinstance(value, str) or not value:
        raise _invalid(f"{where}.{key} is required")
    if len(value) > limit:
        raise _invalid(f"{where}.{key} is longer than {limit} characters")


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"{where} is required and must be an object")
    return value


def validate_message(payload: dict[str, Any]) -> str:
    """Check a POST /messages body as Meta would; returns the recipient (phone or BSUID)."""
    if payload.get("messaging_product") != "whatsapp":
        raise _invalid("messaging_product must be 'whatsapp'")
    if payload.get("recipient_type", "individual") != "individual":
        raise _invalid("recipient_type must be 'individual'")
    to, bsuid = payload.get("to"), payload.get("recipient")
    if (to is None) == (bsuid is None):
        raise _invalid("exactly one of 'to' and 'recipient' is required")
    recipient = to if to is not None else bsuid
    if not isinstance(recipient, str) or not recipient:
        raise _invalid("the recipient must be a non-empty string")
    if to is not None and not to.lstrip("+").isdigit():
        raise _invalid("'to' must be a phone number; use 'recipient' for a user id")
    kind = payload.get("type", "text")
    if kind not in MESSAGE_TYPES:
        raise GraphError(400, 131051, "Unsupported message type")
    if kind == "text":
        _text_field(_obj(payload.get("text"), "text"), "body", TEXT_LIMIT, "text")
    elif kind == "image":
        image = _obj(payload.get("image"), "image")
        if not isinstance(image.get("id"), str) and not isinstance(image.get("link"), str):
            raise _invalid("image.id or image.link is required")
        _text_field(image, "caption", CAPTION_LIMIT, "image", required=False)
    elif kind == "location":
        location = _obj(payload.get("location"), "location")
        for key in ("latitude", "longitude"):
            if not isinstance(location.get(key), (int, float, str)):
                raise _invalid(f"location.{key} is required")
    elif kind == "template":
        _validate_template(_obj(payload.get("template"), "template"))
    else:
        _validate_interactive(_obj(payload.get("interactive"), "interactive"))
    return recipient


def _validate_template(template: dict[str, Any]) -> None:
    _text_field(template, "name", 512, "template")
    language = _obj(template.get("language"), "template.language")
    _text_field(language, "code", 15, "template.language")
    for c_index, component in enumerate(template.get("components") or []):
        where = f"template.components[{c_index}]"
        component = _obj(component, where)
        if component.get("type") not in ("header", "body", "button"):
            raise _invalid(f"{where}.type is not header, body or button")
        for p_index, param in enumerate(component.get("parameters") or []):
            p_where = f"{where}.parameters[{p_index}]"
            param = _obj(param, p_where)
            if param.get("type") == "text":
                text = param.get("text")
                if not isinstance(text, str) or not text:
                    raise GraphError(400, 131008, "Required parameter is missing", details=p_where)
                if "\n" in text or "\t" in text or "    " in text:
                    raise GraphError(
                        400,
                        132018,
                        "There was an issue with the parameters in your template.",
                        details=f"{p_where}: no new-line, tab or more than 4 consecutive spaces",
                    )


def _validate_interactive(interactive: dict[str, Any]) -> None:
    kind = interactive.get("type")
    body = interactive.get("body")
    if body is not None or kind in ("button", "list", "location_request_message"):
        _text_field(_obj(body, "interactive.body"), "text", BODY_LIMIT, "interactive.body")
    footer = interactive.get("footer")
    if footer is not None:
        _text_field(_obj(footer, "interactive.footer"), "text", FOOTER_LIMIT, "interactive.footer")
    action = _obj(interactive.get("action"), "interactive.action")
    if kind == "button":
        buttons = action.get("buttons")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= BUTTONS_MAX:
            raise _invalid(f"interactive.action.buttons must hold 1 to {BUTTONS_MAX} buttons")
        ids: set[str] = set()
        titles: set[str] = set()
        for index, button in enumerate(buttons):
            where = f"interactive.action.buttons[{index}]"
            button = _obj(button, where)
            if button.get("type") != "reply":
                raise _invalid(f"{where}.type must be 'reply'")
            reply = _obj(button.get("reply"), f"{where}.reply")
            _text_field(reply, "id", BUTTON_ID_LIMIT, f"{where}.reply")
            _text_field(reply, "title", BUTTON_TITLE_LIMIT, f"{where}.reply")
            if reply["id"] in ids or reply["title"] in titles:
                raise _invalid("button ids and titles must be unique")
            ids.add(reply["id"])
            titles.add(reply["title"])
    elif kind == "list":
        _text_field(action, "button", LIST_BUTTON_LIMIT, "interactive.action")
        sections = action.get("sections")
        if not isinstance(sections, list) or not 1 <= len(sections) <= LIST_SECTIONS_MAX:
            raise _invalid("interactive.action.sections must hold 1 to 10 sections")
        if len(sections) > 1 and not all(isinstance(s, dict) and s.get("title") for s in sections):
            raise _invalid("every section needs a title when there is more than one")
        row_ids: set[str] = set()
        for s_index, section in enumerate(sections):
            where = f"interactive.action.sections[{s_index}]"
            rows = _obj(section, where).get("rows")
            if not isinstance(rows, list) or not rows:
                raise _invalid(f"{where}.rows must not be empty")
            for r_index, row in enumerate(rows):
                r_where = f"{where}.rows[{r_index}]"
                row = _obj(row, r_where)
                _text_field(row, "id", ROW_ID_LIMIT, r_where)
                _text_field(row, "title", ROW_TITLE_LIMIT, r_where)
                _text_field(row, "description", ROW_DESCRIPTION_LIMIT, r_where, required=False)
                if row["id"] in row_ids:
                    raise _invalid("row ids must be unique")
                row_ids.add(row["id"])
        if len(row_ids) > LIST_ROWS_MAX:
            raise GraphError(
                400, 131009, "Parameter value is not valid", details="Total row count exceed max"
            )
    elif kind == "location_request_message":
        if action.get("name") != "send_location":
            raise _invalid("interactive.action.name must be 'send_location'")
    else:
        raise _invalid(f"interactive.type {kind!r} is not supported")


# --- webhook bodies as Meta sends them --------------------------------------------------------


@dataclass(frozen=True)
class WaUser:
    """A WhatsApp user as webhooks name them: phone number, business-scoped id, or both."""

    name: str
    wa_id: str | None = None
    user_id: str | None = None

    def contact(self) -> dict[str, Any]:
        contact: dict[str, Any] = {"profile": {"name": self.name}}
        if self.wa_id is not None:
            contact["wa_id"] = self.wa_id
        if self.user_id is not None:
            contact["user_id"] = self.user_id
        return contact

    def sender(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        if self.wa_id is not None:
            fields["from"] = self.wa_id
        if self.user_id is not None:
            fields["from_user_id"] = self.user_id
        return fields


@dataclass
class WebhookBuilder:
    """Notification bodies shaped as Meta's webhook reference shows them."""

    waba_id: str = "102290129340398"
    phone_number_id: str = "106540352242922"
    display_phone_number: str = "15550783881"
    clock: Callable[[], float] = field(default_factory=lambda: time.time)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)

    def _wamid(self) -> str:
        raw = f"HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTA{next(self._ids):06d}"
        return "wamid." + raw

    def _envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        inner = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": self.display_phone_number,
                "phone_number_id": self.phone_number_id,
            },
            **value,
        }
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": self.waba_id, "changes": [{"value": inner, "field": "messages"}]}],
        }

    def _message(
        self, user: WaUser, kind: str, content: dict[str, Any], **extra: Any
    ) -> dict[str, Any]:
        message = {
            **extra,
            **user.sender(),
            "id": self._wamid(),
            "timestamp": str(int(self.clock())),
            "type": kind,
            **content,
        }
        return self._envelope({"contacts": [user.contact()], "messages": [message]})

    def _context(self, replied_to: str | None) -> dict[str, Any]:
        context = {"from": self.display_phone_number, "id": replied_to or self._wamid()}
        return {"context": context}

    def text(self, user: WaUser, body: str) -> dict[str, Any]:
        return self._message(user, "text", {"text": {"body": body}})

    def button_reply(
        self, user: WaUser, button_id: str, title: str, replied_to: str | None = None
    ) -> dict[str, Any]:
        content = {
            "interactive": {
                "type": "button_reply",
                "button_reply": {"id": button_id, "title": title},
            }
        }
        return self._message(user, "interactive", content, **self._context(replied_to))

    def list_reply(
        self,
        user: WaUser,
        row_id: str,
        title: str,
        description: str | None = None,
        replied_to: str | None = None,
    ) -> dict[str, Any]:
        reply = {"id": row_id, "title": title}
        if description is not None:
            reply["description"] = description
        content = {"interactive": {"type": "list_reply", "list_reply": reply}}
        return self._message(user, "interactive", content, **self._context(replied_to))

    def location(
        self,
        user: WaUser,
        latitude: float,
        longitude: float,
        *,
        name: str | None = None,
        address: str | None = None,
    ) -> dict[str, Any]:
        location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
        if name is not None:
            location["name"] = name
        if address is not None:
            location["address"] = address
        return self._message(user, "location", {"location": location})

    def image(
        self,
        user: WaUser,
        media_id: str,
        *,
        caption: str | None = None,
        mime_type: str = "image/jpeg",
        data: bytes = b"",
    ) -> dict[str, Any]:
        image: dict[str, Any] = {
            "mime_type": mime_type,
            "sha256": base64.b64encode(hashlib.sha256(data).digest()).decode(),
            "id": media_id,
        }
        if caption is not None:
            image["caption"] = caption
        return self._message(user, "image", {"image": image})

    def status(
        self,
        user: WaUser,
        wamid: str,
        status: str,
        *,
        error_code: int | None = None,
        error_title: str = "Message undeliverable",
        error_details: str = "Message Undeliverable.",
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": wamid,
            "status": status,
            "timestamp": str(int(self.clock())),
        }
        if user.wa_id is not None:
            entry["recipient_id"] = user.wa_id
        if user.user_id is not None:
            entry["recipient_user_id"] = user.user_id
        if error_code is not None:
            entry["errors"] = [
                {
                    "code": error_code,
                    "title": error_title,
                    "message": error_title,
                    "error_data": {"details": error_details},
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                }
            ]
        elif status in ("sent", "delivered"):
            entry["conversation"] = {
                "id": "6ceb9d929c8c2d3ba9ed9b3d8eb6ba4d",
                "origin": {"type": "service"},
            }
            entry["pricing"] = {
                "billable": False,
                "pricing_model": "PMP",
                "category": "service",
                "type": "free_customer_service",
            }
        return self._envelope({"statuses": [entry]})


def encode(body: dict[str, Any]) -> bytes:
    """A body as Meta posts it (compact JSON, UTF-8; non-ASCII escaped like Meta does)."""
    return json.dumps(body, separators=(",", ":")).encode()


def sign_body(raw_body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` header value Meta computes for `raw_body`."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
