"""The HTTP side of laporbot: webhooks, the web chat page and its JSON API, and a health check.

Routes:

- `POST <telegram webhook path>` (the path of `telegram_webhook_url`, else `/webhook/telegram`):
  the `X-Telegram-Bot-Api-Secret-Token` header is compared in constant time; wrong or missing ->
  401 and nothing stored. The 200 of a pressed button carries its `answerCallbackQuery`.
- `GET /webhook/whatsapp`: Meta's verification handshake (`hub.mode`, `hub.verify_token`,
  `hub.challenge`); `POST /webhook/whatsapp`: the raw body's `X-Hub-Signature-256` HMAC with the
  app secret is checked first; wrong or missing -> 401 and nothing stored.
- `GET /`: the web chat page, its words from the `channels` catalog in the reader's language;
  `GET /static/chat.js`, `/static/chat.css`.
- `POST /api/chat/send`, `GET /api/chat/messages` (long poll), `GET /api/chat/history`.
- `GET /healthz`: 200 when the database answers, 503 otherwise; with the work waiting and the
  state of channels that connect in the background (`"telegram": "connecting"` or `"up"`).

Every inbound update is answered 200 only after it is committed to the inbox; a malformed body
is answered 400 and nothing is stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from laporbot.channels.base import ChannelAdapter, RawUpdate
from laporbot.channels.telegram.webhook import check_secret, webhook_answer
from laporbot.channels.web import WebChatAdapter, valid_client_id
from laporbot.channels.whatsapp.webhook import (
    SIGNATURE_HEADER,
    check_signature,
    verify_subscription,
)
from laporbot.clock import Clock
from laporbot.db import outbox as outbox_repo
from laporbot.db.models import InboxItem, OutboxMessage
from laporbot.errors import BadRequest
from laporbot.i18n import Translator
from laporbot.inbox import InboxProcessor
from laporbot.photos import MAX_PHOTO_BYTES, UPLOAD_PREFIX, image_extension
from laporbot.ratelimit import KeyedLimiter
from laporbot.settings import Settings

log = logging.getLogger(__name__)

WHATSAPP_PATH = "/webhook/whatsapp"
DEFAULT_TELEGRAM_PATH = "/webhook/telegram"
MAX_BODY_BYTES = 256 * 1024  # webhooks and web chat posts
MAX_WAIT_SECONDS = 25.0
RECHECK_SECONDS = 5.0  # long polls re-read the database this often even without a wake-up
PAGE_SIZE = 100
HISTORY_SIZE = 200

# The page's words: catalog id -> key the page's script reads.
PAGE_TEXTS = (
    "title",
    "heading",
    "intro",
    "emergency",
    "log_label",
    "input_label",
    "send",
    "start",
    "share_location",
    "locating",
    "location_failed",
    "location_sent",
    "you",
    "bot",
    "offline",
    "send_failed",
    "noscript",
    "new_chat",
    "new_chat_confirm",
    "start_text",
    "send_photo",
    "photo_sent",
    "photo_too_big",
    "slow_down",
)

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class WebDeps:
    """What the HTTP routes need; built by the service (or a test) from its parts."""

    settings: Settings
    clock: Clock
    sessions: async_sessionmaker[AsyncSession]
    translator: Translator
    inbox: InboxProcessor
    web: WebChatAdapter
    telegram: ChannelAdapter | None = None
    telegram_secret: str | None = None
    whatsapp: ChannelAdapter | None = None
    # The state of channels that connect on their own (Telegram: "connecting", "up"), shown
    # by the health check.
    channel_states: Callable[[], Mapping[str, str]] | None = None

    async def accept(self, updates: Sequence[RawUpdate]) -> list[bool]:
        """Store `updates` in the inbox (committed on return); for each, whether it was new."""
        return await self.inbox.accept(updates)


DEPS = web.AppKey("deps", WebDeps)


class Flood:
    """The web chat's flood control: a token bucket per chat client and per network address
    (`webchat_client_per_minute`, `webchat_address_per_minute`; 0 turns one off)."""

    def __init__(self, settings: Settings) -> None:
        client, address = settings.webchat_client_per_minute, settings.webchat_address_per_minute
        # A person taps through a few questions in a row quickly; a burst of a third of a
        # minute's worth (at least 5) keeps them from ever noticing the limit.
        self.clients = KeyedLimiter(client, max(5, client / 3)) if client > 0 else None
        self.addresses = KeyedLimiter(address, max(5, address / 3)) if address > 0 else None

    def _limits(self, client_id: str | None, address: str) -> list[tuple[KeyedLimiter, str]]:
        limits = [(self.addresses, address), (self.clients, client_id)]
        return [(limiter, key) for limiter, key in limits if limiter is not None and key]

    def wait(self, client_id: str | None, address: str, now: float) -> float:
        """The seconds before this client (None: any client) at `address` may send; 0 now."""
        return max((lim.wait(key, now) for lim, key in self._limits(client_id, address)), default=0)

    def admit(self, client_id: str, address: str, now: float) -> float:
        """0 when the message may be stored (counted against the client and the address), else
        the seconds to wait before sending it (nothing counted: a refused client does not use up
        its neighbours' share of the address)."""
        wait = self.wait(client_id, address, now)
        if wait:
            return wait
        for limiter, key in self._limits(client_id, address):
            limiter.take(key, now)
        return 0.0


FLOOD = web.AppKey("flood", Flood)


def _address(request: web.Request) -> str:
    """The sender's network address: the peer's, or behind a proxy (`http_behind_proxy`) the
    address the proxy saw, which it appended to X-Forwarded-For."""
    if request.app[DEPS].settings.http_behind_proxy:
        # Every header line, in order: a proxy may add a line of its own after the client's.
        lines = request.headers.getall("X-Forwarded-For", [])
        forwarded = ",".join(lines).split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.remote or "unknown"


def _flooding(request: web.Request, client_id: str | None) -> web.Response | None:
    """A 429 with `Retry-After` when this client or address sends too fast, else None (and the
    message counted). With no client id, only the address is looked at and nothing counted (a
    photo's body is not read while its address must wait). The page waits as told and sends
    the same message again: nothing is lost."""
    deps = request.app[DEPS]
    flood, address, now = request.app[FLOOD], _address(request), deps.clock.now()
    if client_id is None:
        wait = flood.wait(None, address, now.timestamp())
    else:
        wait = flood.admit(client_id, address, now.timestamp())
    if not wait:
        return None
    seconds = max(1, math.ceil(wait))
    response = web.json_response({"error": "too many messages", "retry_after": seconds}, status=429)
    response.headers["Retry-After"] = str(seconds)
    return response


def telegram_webhook_path(settings: Settings) -> str:
    """The path Telegram posts to: that of `telegram_webhook_url`, else `/webhook/telegram`."""
    if settings.telegram_webhook_url:
        path = urlsplit(settings.telegram_webhook_url).path
        if path and path != "/":
            return path
    return DEFAULT_TELEGRAM_PATH


def build_app(deps: WebDeps) -> web.Application:
    """The aiohttp application for `deps`."""
    # The app-wide limit admits a photo; every JSON route checks the smaller MAX_BODY_BYTES.
    app = web.Application(
        client_max_size=MAX_PHOTO_BYTES + 64 * 1024, middlewares=[_security_headers]
    )
    app[DEPS] = deps
    app[FLOOD] = Flood(deps.settings)
    static = _Static.load()
    app.router.add_get("/", static.page)
    app.router.add_get("/static/chat.js", static.script)
    app.router.add_get("/static/chat.css", static.style)
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/api/chat/send", chat_send)
    app.router.add_post("/api/chat/photo", chat_photo)
    app.router.add_get("/api/chat/messages", chat_messages)
    app.router.add_get("/api/chat/history", chat_history)
    app.router.add_post(telegram_webhook_path(deps.settings), telegram_webhook)
    app.router.add_get(WHATSAPP_PATH, whatsapp_verify)
    app.router.add_post(WHATSAPP_PATH, whatsapp_webhook)
    return app


@web.middleware
async def _security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


async def _read_limited(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(
            max_size=MAX_BODY_BYTES, actual_size=request.content_length
        )
    raw = await request.read()
    if len(raw) > MAX_BODY_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY_BYTES, actual_size=len(raw))
    return raw


async def _json_body(request: web.Request) -> dict[str, Any]:
    return _parse_json(await _read_limited(request))


def _parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


# -- health --------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, with the work waiting (updates not yet processed, messages
    not yet sent) for monitoring; 503 when it does not answer."""
    deps = request.app[DEPS]
    try:
        async with deps.sessions() as session:
            inbox = await session.scalar(
                select(func.count()).select_from(InboxItem).where(InboxItem.status == "pending")
            )
            outbox = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status.in_(("pending", "sending")))
            )
    except Exception as exc:
        log.warning("health check: database unavailable: %s", exc)
        return web.json_response({"status": "unavailable", "database": "error"}, status=503)
    body: dict[str, Any] = {
        "status": "ok",
        "database": "ok",
        "inbox_pending": int(inbox or 0),
        "outbox_unsent": int(outbox or 0),
    }
    if deps.channel_states is not None:
        body.update(deps.channel_states())
    return web.json_response(body)


# -- webhooks ------------------------------------------------------------------------------


async def telegram_webhook(request: web.Request) -> web.Response:
    """Store a Telegram update; 200 only once it is committed, a pressed button answered in
    the body (`webhook_answer`: Telegram makes that call, no request of ours)."""
    deps = request.app[DEPS]
    if deps.telegram is None or not deps.telegram_secret:
        return _error(404, "telegram webhook not enabled")
    if not check_secret(request.headers, deps.telegram_secret):
        return _error(401, "bad secret token")
    try:
        updates = deps.telegram.split(await _json_body(request))
    except BadRequest as exc:
        return _error(400, exc.reason)
    await deps.accept(updates)
    return web.Response(body=webhook_answer(updates), content_type="application/json")


async def whatsapp_verify(request: web.Request) -> web.Response:
    """Meta's subscription handshake: echo `hub.challenge` when the verify token matches."""
    deps = request.app[DEPS]
    expected = deps.settings.whatsapp_verify_token
    if deps.whatsapp is None or expected is None:
        return _error(404, "whatsapp webhook not enabled")
    challenge = verify_subscription(request.query, expected.get_secret_value())
    if challenge is None:
        return _error(403, "verification refused")
    return web.Response(text=challenge, content_type="text/plain")


async def whatsapp_webhook(request: web.Request) -> web.Response:
    """Store the messages and statuses of a WhatsApp notification; 200 once committed."""
    deps = request.app[DEPS]
    secret = deps.settings.whatsapp_app_secret
    if deps.whatsapp is None or secret is None:
        return _error(404, "whatsapp webhook not enabled")
    raw = await _read_limited(request)
    header = request.headers.get(SIGNATURE_HEADER)
    if not check_signature(raw, header, secret.get_secret_value()):
        return _error(401, "bad signature")
    try:
        updates = deps.whatsapp.split(_parse_json(raw))
    except BadRequest as exc:
        return _error(400, exc.reason)
    await deps.accept(updates)
    return web.json_response({"ok": True})


# -- web chat ------------------------------------------------------------------------------


async def chat_send(request: web.Request) -> web.Response:
    """Store one message of the page; `{"accepted": false}` for a re-send already stored."""
    deps = request.app[DEPS]
    try:
        body = await _json_body(request)
        # The time we received it travels with the stored update; the adapter reads it back.
        body["received_at"] = deps.clock.now().isoformat()
        updates = deps.web.split(body)
    except BadRequest as exc:
        return _error(400, exc.reason)
    refused = _flooding(request, str(body["client_id"]))  # validated by split
    if refused is not None:
        return refused
    fresh = await deps.accept(updates)
    return web.json_response({"accepted": all(fresh)})


async def chat_photo(request: web.Request) -> web.Response:
    """Store a photo from the page (multipart: client_id, message_id, photo, caption?) under
    `<data_dir>/uploads/` by its SHA-256, then the update that refers to it."""
    deps = request.app[DEPS]
    if request.content_length is not None and request.content_length > MAX_PHOTO_BYTES + 64 * 1024:
        return _error(413, f"photos up to {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    refused = _flooding(request, None)  # before reading up to 5 MB
    if refused is not None:
        return refused
    try:
        form = await request.post()
    except (ValueError, web.HTTPRequestEntityTooLarge):
        return _error(413, f"photos up to {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    upload = form.get("photo")
    if not isinstance(upload, web.FileField):
        return _error(400, "photo must be a file")
    data = upload.file.read(MAX_PHOTO_BYTES + 1)
    if len(data) > MAX_PHOTO_BYTES:
        return _error(413, f"photos up to {MAX_PHOTO_BYTES // (1024 * 1024)} MB")
    extension = image_extension(data)
    if extension is None:
        return _error(400, "photo must be a JPEG, PNG or WebP image")
    fields = {key: form.get(key) for key in ("client_id", "message_id", "lang", "display")}
    body: dict[str, Any] = {k: v for k, v in fields.items() if isinstance(v, str)}
    caption = form.get("caption")
    name = f"{hashlib.sha256(data).hexdigest()}.{extension}"
    body["photo"] = {"ref": UPLOAD_PREFIX + name}
    if isinstance(caption, str) and caption.strip():
        body["photo"]["caption"] = caption[:1000]
    body["received_at"] = deps.clock.now().isoformat()
    try:
        updates = deps.web.split(body, uploaded=True)
    except BadRequest as exc:
        return _error(400, exc.reason)
    refused = _flooding(request, str(body["client_id"]))
    if refused is not None:
        return refused
    folder = deps.settings.data_dir / "uploads"
    target = folder / name
    if target.exists():
        target.touch()  # in use again: the sweep of unused photos goes by this time
    else:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.{uuid.uuid4().hex}"
        partial.write_bytes(data)
        partial.replace(target)  # atomic: a reader never sees half a photo
    fresh = await deps.accept(updates)
    return web.json_response({"accepted": all(fresh)})


def _client_of(request: web.Request) -> str:
    client_id = request.query.get("client_id")
    if not valid_client_id(client_id):
        raise BadRequest("client_id must be 8-64 letters, digits, '-' or '_'")
    assert client_id is not None
    return client_id


def _float_param(request: web.Request, name: str, default: float) -> float:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be a number") from exc
    if value != value or value < 0:  # NaN or negative
        raise BadRequest(f"{name} must be a number >= 0")
    return value


def _bot_message(row: OutboxMessage) -> dict[str, Any]:
    message = outbox_repo.from_payload(row.payload)
    return {
        "id": row.id,
        "key": f"bot:{row.id}",
        "from": "bot",
        "text": message.text,
        "buttons": [{"id": b.id, "label": b.label} for b in message.buttons],
        "request_location": message.request_location,
        "at": (row.sent_at or row.created_at).isoformat(),
    }


def _own_message(row: InboxItem) -> dict[str, Any]:
    body = row.payload
    shown = body.get("display")
    if not isinstance(shown, str) or not shown:
        if isinstance(body.get("text"), str):
            shown = body["text"]
        elif isinstance(body.get("choice"), str):
            shown = body["choice"]
        elif isinstance(body.get("photo"), dict):
            shown = "📷"
        else:
            where = body.get("location") or {}
            shown = f"{where.get('latitude')}, {where.get('longitude')}"
    return {
        "key": f"me:{body.get('message_id')}",
        "from": "me",
        "text": shown,
        "at": row.received_at.isoformat(),
    }


async def _sent_to(
    sessions: async_sessionmaker[AsyncSession], client_id: str, after: int, limit: int
) -> list[OutboxMessage]:
    async with sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == "web",
                OutboxMessage.chat_id == client_id,
                OutboxMessage.status == "sent",
                OutboxMessage.id > after,
            )
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        return list(rows.all())


async def chat_messages(request: web.Request) -> web.Response:
    """The bot's messages to `client_id` after outbox id `after`, waiting up to `wait` seconds
    (at most 25) for the first one."""
    deps = request.app[DEPS]
    try:
        client_id = _client_of(request)
        after = int(_float_param(request, "after", 0))
        wait = min(_float_param(request, "wait", 0), MAX_WAIT_SECONDS)
    except BadRequest as exc:
        return _error(400, exc.reason)
    deadline = time.monotonic() + wait
    while True:
        rows = await _sent_to(deps.sessions, client_id, after, PAGE_SIZE)
        left = deadline - time.monotonic()
        if rows or left <= 0 or deps.web.closing:
            break
        await deps.web.wait(client_id, min(left, RECHECK_SECONDS))
    cursor = rows[-1].id if rows else after
    return web.json_response({"messages": [_bot_message(r) for r in rows], "cursor": cursor})


async def chat_history(request: web.Request) -> web.Response:
    """The whole recent conversation of `client_id`, both sides, oldest first, with the cursor
    for `messages`; what the page shows after a reload."""
    deps = request.app[DEPS]
    try:
        client_id = _client_of(request)
    except BadRequest as exc:
        return _error(400, exc.reason)
    async with deps.sessions() as session:
        # Platform ids of this client are "<client_id>:<message_id>": the range scan below
        # uses the unique (channel, platform_id) index (";" sorts right after ":").
        mine = await session.scalars(
            select(InboxItem)
            .where(
                InboxItem.channel == "web",
                InboxItem.platform_id >= f"{client_id}:",
                InboxItem.platform_id < f"{client_id};",
            )
            .order_by(InboxItem.id.desc())
            .limit(HISTORY_SIZE)
        )
        own = list(mine.all())
        theirs = await session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.channel == "web",
                OutboxMessage.chat_id == client_id,
                OutboxMessage.status == "sent",
            )
            .order_by(OutboxMessage.id.desc())
            .limit(HISTORY_SIZE)
        )
        bot = list(theirs.all())
    # Order: each of the reader's messages, followed by the replies it caused (the intake keys
    # them "in:web:<platform id>:<n>"), then anything else (nudges, reminders) by send time.
    by_platform_id = {row.platform_id: row for row in own}
    entries: list[tuple[datetime, int, int, int, dict[str, Any]]] = [
        (row.received_at, row.id, 0, 0, _own_message(row)) for row in own
    ]
    for row in bot:
        cause = by_platform_id.get(_cause_of(row.dedup_key))
        if cause is not None:
            entries.append((cause.received_at, cause.id, 1, row.id, _bot_message(row)))
        else:
            at = row.sent_at or row.created_at
            entries.append((at, _AFTER_ALL, 1, row.id, _bot_message(row)))
    entries.sort(key=lambda e: e[:4])
    cursor = max((row.id for row in bot), default=0)
    return web.json_response({"messages": [e[4] for e in entries], "cursor": cursor})


_AFTER_ALL = 2**62


def _cause_of(dedup_key: str | None) -> str:
    """The web platform id a reply answers, from the intake's dedup key, else ""."""
    if not dedup_key or not dedup_key.startswith("in:web:"):
        return ""
    return dedup_key.removeprefix("in:web:").rsplit(":", 1)[0]


# -- the page ------------------------------------------------------------------------------


def _pick_locale(request: web.Request, translator: Translator) -> str:
    asked = request.query.get("lang")
    if asked and translator.resolve(asked) == asked.lower():
        return asked.lower()
    header = request.headers.get("Accept-Language", "")
    weighted: list[tuple[float, str]] = []
    for part in header.split(","):
        piece = part.strip()
        if not piece:
            continue
        name, _, params = piece.partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((quality, name.strip()))
    for _, name in sorted(weighted, key=lambda w: -w[0]):
        language = name.replace("_", "-").split("-", 1)[0].lower()
        if language and language in translator.locales:
            return language
    return translator.default_locale


@dataclass
class _Static:
    template: Template
    js: bytes
    css: bytes

    @classmethod
    def load(cls) -> _Static:
        folder = resources.files("laporbot.web") / "static"
        return cls(
            template=Template((folder / "index.html").read_text(encoding="utf-8")),
            js=(folder / "chat.js").read_bytes(),
            css=(folder / "chat.css").read_bytes(),
        )

    async def page(self, request: web.Request) -> web.Response:
        translator = request.app[DEPS].translator
        locale = _pick_locale(request, translator)
        words = {key: translator.text(locale, f"webchat.{key}") for key in PAGE_TEXTS}
        # JSON inside <script>: "<" escaped so no text can close the element.
        texts_json = json.dumps(words, ensure_ascii=False).replace("<", "\\u003c")
        html = self.template.substitute(
            lang=locale,
            texts_json=texts_json,
            **{key: _escape(value) for key, value in words.items()},
        )
        return web.Response(
            text=html,
            content_type="text/html",
            charset="utf-8",
            headers={"Cache-Control": "no-cache", "Content-Language": locale},
        )

    async def script(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=self.js,
            content_type="text/javascript",
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    async def style(self, _request: web.Request) -> web.Response:
        return web.Response(
            body=self.css,
            content_type="text/css",
            charset="utf-8",
            headers={"Cache-Control": "no-cache"},
        )


def _escape(value: str) -> str:
    from html import escape

    return escape(value, quote=True)
