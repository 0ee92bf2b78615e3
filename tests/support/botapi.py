"""A Telegram Bot API emulator on loopback, for tests and benchmarks.

The real aiogram and python-telegram-bot talk HTTP to it exactly as they would to
api.telegram.org: JSON answers shaped as the Bot API documents them (`{"ok": true, "result":
...}`, errors with `error_code`, `description` and `parameters.retry_after`), dates in seconds,
updates by long polling (getUpdates with offset and timeout) or by webhook (POSTed with the
secret-token header, re-sent until answered 2xx; a 2xx answer naming a `method` is performed as
Telegram does, see `Call.in_webhook_answer`). It enforces Telegram's flood limits against an
injectable clock, refuses blocked users and unknown chats as Telegram does, and can be told to
fail (HTTP 500, a dropped connection) for retry tests.

Only aiohttp and the standard library are used, so benchmarks can import it too:

    async with BotApiEmulator() as api:
        chat = api.add_user(first_name="Sari")
        api.send_text(chat, "/start")
        ...  # point a bot at api.url, token api.token
        assert api.sent(chat)[0]["text"] == "..."
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import math
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import (
    BodyPartReader,
    ClientError,
    ClientResponse,
    ClientSession,
    ClientTimeout,
    MultipartReader,
    web,
)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_MAX_BYTES = 64
GROUP_TYPES = ("group", "supergroup")

# parameters the libraries send as JSON inside form fields
_JSON_FIELDS = {
    "reply_markup",
    "allowed_updates",
    "reply_parameters",
    "entities",
    "caption_entities",
    "link_preview_options",
}
_SECRET_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,256}")


class FakeClock:
    """Seconds since the epoch that only move when told to (the default for tests)."""

    def __init__(self, start: float = 1_795_000_000.0) -> None:
        self._now = start

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


@dataclass(frozen=True)
class Limit:
    """At most `count` messages in any `window` seconds."""

    count: int
    window: float


@dataclass(frozen=True)
class FloodLimits:
    """Telegram's documented limits: about 30 messages a second per bot, one a second per
    private chat (Telegram tolerates short bursts, so `private_chat` allows 3 in 3 s by
    default; use `Limit(1, 1.0)` to be strict), 20 a minute per group."""

    bot: Limit = Limit(30, 1.0)
    private_chat: Limit = Limit(3, 3.0)
    group: Limit = Limit(20, 60.0)


class ApiError(Exception):
    """An error answer of the Bot API."""

    def __init__(self, code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            out["parameters"] = {"retry_after": self.retry_after}
        return out


@dataclass
class Chat:
    """A chat the emulator knows: a private chat with one user, or a group."""

    id: int
    type: str
    first_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    title: str | None = None
    blocked: bool = False

    def as_chat(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            out["first_name"] = self.first_name
            if self.username:
                out["username"] = self.username
        else:
            out["title"] = self.title
        return out


@dataclass
class User:
    id: int
    first_name: str
    language_code: str | None = None
    username: str | None = None

    def as_user(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.username:
            out["username"] = self.username
        if self.language_code:
            out["language_code"] = self.language_code
        return out


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    data: bytes
    path: str
    width: int = 0
    height: int = 0


@dataclass
class Call:
    """One Bot API call the bot made, with its decoded parameters and the HTTP status.

    `in_webhook_answer`: made by answering a webhook delivery with the method in the body
    (Telegram's "Making requests when getting updates"), not by a request of the bot's; it is
    performed like any call, counting toward the same flood limits, and its outcome (`status`)
    is never told to the bot.
    """

    method: str
    params: dict[str, Any]
    status: int = 200
    in_webhook_answer: bool = False


@dataclass
class Delivery:
    """One webhook delivery attempt: the update, the status the bot answered (None when the
    connection failed) and whether the secret header was sent."""

    update_id: int
    status: int | None


@dataclass
class _Failure:
    status: int | None  # None: drop the connection
    description: str
    times: int
    retry_after: int | None = None


class _Params:
    """Bot API parameters from a query string, a form, a multipart body or JSON."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.values: dict[str, Any] = {}
        for key, value in values.items():
            if isinstance(value, str) and key in _JSON_FIELDS:
                try:
                    value = json.loads(value)
                except ValueError as exc:
                    raise ApiError(400, f"Bad Request: can't parse {key} JSON object") from exc
            self.values[key] = value

    def has(self, name: str) -> bool:
        return self.values.get(name) is not None

    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name, default)
        if value is None or isinstance(value, web.FileField):
            return default
        return str(value)

    def need_str(self, name: str) -> str:
        value = self.get_str(name)
        if value is None:
            raise ApiError(400, f"Bad Request: {name} is empty")
        return value

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except (TypeError, ValueError) as exc:
            raise ApiError(400, f"Bad Request: {name} is not a number") from exc

    def get_float(self, name: str) -> float:
        value = self.values.get(name)
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ApiError(400, f"Bad Request: {name} is not a number") from exc

    def get_bool(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def get_json(self, name: str) -> Any:
        return self.values.get(name)

    def public(self) -> dict[str, Any]:
        """The parameters as recorded in `calls` (uploaded files as their file name)."""
        return {
            key: (f"<file {value.filename}>" if isinstance(value, web.FileField) else value)
            for key, value in self.values.items()
        }


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class BotApiEmulator:
    """A Bot API server on 127.0.0.1 with a random port, for one bot."""

    def __init__(
        self,
        *,
        token: str = "123456:TEST-token_for-the-emulator",
        bot_id: int = 123456,
        bot_username: str = "LaporTestBot",
        clock: Callable[[], float] | None = None,
        limits: FloodLimits | None = None,
        webhook_retry_delay: float = 0.05,
    ) -> None:
        self.token = token
        self.bot_user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Lapor Test",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.clock: Callable[[], float] = clock or time.time
        self.limits = limits or FloodLimits()
        self.webhook_retry_delay = webhook_retry_delay

        self.chats: dict[int, Chat] = {}
        self.users: dict[int, User] = {}
        self.calls: list[Call] = []
        self.deliveries: list[Delivery] = []
        self.answered_callbacks: dict[str, dict[str, Any]] = {}
        #: every reply_markup the bot sent, by (chat id, message id), reply keyboards included
        self.markups: dict[tuple[int, int], dict[str, Any]] = {}
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None

        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(700_000_001)
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._sent: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)
        self._user_ids = itertools.count(5_000_001)
        self._group_ids = itertools.count(1_000_001)
        self._query_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._open_queries: dict[str, dict[str, Any]] = {}
        self._windows: dict[tuple[str, int], deque[float]] = defaultdict(deque)
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._new_update = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._delivery_task: asyncio.Task[None] | None = None
        self.port = 0

    # --- server lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL to give a bot library (`settings.telegram_api_url`)."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1:`port` (0: a free one; see `url`)."""
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._client = ClientSession(timeout=ClientTimeout(total=10))

    async def stop(self) -> None:
        self._closing = True
        self._wake()
        await self._stop_delivery()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> BotApiEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- what users do ----------------------------------------------------------------------

    def add_user(
        self,
        *,
        first_name: str = "Sari",
        language_code: str | None = "id",
        username: str | None = None,
        user_id: int | None = None,
    ) -> int:
        """A person who has opened a private chat with the bot; returns the chat id (which is
        the user id, as in Telegram)."""
        uid = user_id if user_id is not None else next(self._user_ids)
        self.users[uid] = User(uid, first_name, language_code, username)
        self.chats[uid] = Chat(
            uid, "private", first_name=first_name, username=username, language_code=language_code
        )
        return uid

    def add_group(self, title: str = "Dinsos Officers", *, supergroup: bool = True) -> int:
        """A group the bot is in; returns its (negative) chat id."""
        gid = -(next(self._group_ids) + (1_000_000_000_000 if supergroup else 0))
        self.chats[gid] = Chat(gid, "supergroup" if supergroup else "group", title=title)
        return gid

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: every send to the chat answers 403."""
        self.chats[chat_id].blocked = True

    def send_text(
        self, chat_id: int, text: str, *, user_id: int | None = None, reply_to: int | None = None
    ) -> dict[str, Any]:
        """The user types `text` (a command if it starts with "/"); returns the update."""
        message = self._user_message(chat_id, user_id, reply_to)
        message["text"] = text
        if text.startswith("/"):
            length = len(text.split(" ", 1)[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self.add_update({"message": message})

    def send_location(
        self, chat_id: int, latitude: float, longitude: float, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """The user shares a location pin; returns the update."""
        message = self._user_message(chat_id, user_id, None)
        message["location"] = {"latitude": latitude, "longitude": longitude}
        return self.add_update({"message": message})

    def send_sticker(self, chat_id: int, *, user_id: int | None = None) -> dict[str, Any]:
        """The user sends a sticker (content no flow step can read); returns the update."""
        message = self._user_message(chat_id, user_id, None)
        message["sticker"] = {
            "file_id": "CAACAgIAAxkBAAEBsticker",
            "file_unique_id": "AgADsticker",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "\U0001f44d",
        }
        return self.add_update({"message": message})

    def send_photo(
        self,
        chat_id: int,
        data: bytes = b"\xff\xd8\xff\xe0 photo",
        *,
        caption: str | None = None,
        user_id: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a photo; Telegram lists three sizes, smallest first."""
        message = self._user_message(chat_id, user_id, None)
        message["photo"] = [
            self._photo_size(self._store_file(data, "photos", width, height))
            for width, height in ((90, 60), (320, 213), (1280, 853))
        ]
        if caption is not None:
            message["caption"] = caption
        return self.add_update({"message": message})

    def press_button(
        self, chat_id: int, message_id: int, data: str, *, user_id: int | None = None
    ) -> dict[str, Any]:
        """The user presses the inline button with callback `data` under a message the bot sent;
        returns the `callback_query` update."""
        message = self._sent[chat_id].get(message_id)
        if message is None:
            raise LookupError(f"the bot sent no message {message_id} to chat {chat_id}")
        offered = [
            button.get("callback_data")
            for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
            for button in row
        ]
        if data not in offered:
            raise LookupError(f"message {message_id} has no button {data!r} (has {offered})")
        query_id = f"{self.bot_user['id']}{next(self._query_ids):010d}"
        query = {
            "id": query_id,
            "from": self._user_for(chat_id, user_id).as_user(),
            "message": copy.deepcopy(message),  # as it read when pressed, untouched by edits
            "chat_instance": str(abs(chat_id) * 7919),
            "data": data,
        }
        self._open_queries[query_id] = query
        return self.add_update({"callback_query": query})

    def add_update(self, body: dict[str, Any]) -> dict[str, Any]:
        """Queue any update (e.g. `{"my_chat_member": ...}`); the update_id is assigned here."""
        update = {"update_id": next(self._update_ids), **body}
        self._updates.append(update)
        self._wake()
        return update

    def redeliver(self, update: dict[str, Any]) -> None:
        """Queue an update again with its same `update_id`, as Telegram does when the answer to
        a webhook delivery was lost or late. (A poller whose offset is past it drops it as
        confirmed, as Telegram would.)"""
        self._updates.append(copy.deepcopy(update))
        self._wake()

    # --- what the bot did -------------------------------------------------------------------

    def sent(self, chat_id: int) -> list[dict[str, Any]]:
        """Messages the bot sent to the chat, in order, as they read now (after edits)."""
        return list(self._sent[chat_id].values())

    def calls_of(self, method: str) -> list[Call]:
        """The calls of one Bot API method (any letter case)."""
        return [call for call in self.calls if call.method == method.lower()]

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by getUpdates or answered 2xx by the webhook."""
        return list(self._updates)

    # --- failure injection ------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int = 500,
        description: str = "Internal Server Error",
        times: int = 1,
        retry_after: int | None = None,
    ) -> None:
        """The next `times` calls of `method` answer this error instead."""
        failure = _Failure(status, description, times, retry_after)
        self._failures[method.lower()].append(failure)

    def drop(self, method: str, *, times: int = 1) -> None:
        """The next `times` calls of `method` lose their connection without an answer."""
        self._failures[method.lower()].append(_Failure(None, "", times))

    # --- HTTP -------------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"].lower()
        call = Call(method, {})
        self.calls.append(call)
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            params = await self._params(request)
            call.params = params.public()
            self._injected_failure(method, request.transport)
            result = await self._perform(method, params)
        except ApiError as exc:
            call.status = exc.code
            return web.json_response(exc.body(), status=exc.code)
        return web.json_response({"ok": True, "result": result})

    async def _perform(self, method: str, params: _Params) -> Any:
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            raise ApiError(404, "Not Found")
        return await handler(params)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        stored = self._files_by_path.get(request.match_info["path"])
        if request.match_info["token"] != self.token or stored is None:
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found"}, status=404
            )
        return web.Response(body=stored.data, content_type="application/octet-stream")

    async def _params(self, request: web.Request) -> _Params:
        values: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                if isinstance(body, dict):
                    values.update(body)
            else:
                values.update(await request.post())
        return _Params(values)

    def _injected_failure(self, method: str, transport: asyncio.BaseTransport | None) -> None:
        queue = self._failures.get(method)
        if not queue:
            return
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.popleft()
        if failure.status is None:
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            raise ApiError(500, "connection dropped")  # nobody reads this answer
        raise ApiError(failure.status, failure.description, failure.retry_after)

    # --- Bot API methods --------------------------------------------------------------------

    async def _api_getme(self, params: _Params) -> Any:
        return self.bot_user

    async def _api_logout(self, params: _Params) -> Any:
        return True

    async def _api_close(self, params: _Params) -> Any:
        return True

    async def _api_getupdates(self, params: _Params) -> Any:
        if self.webhook_url is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = params.get_int("offset")
        limit = max(1, min(100, params.get_int("limit", 100) or 100))
        timeout = max(0, params.get_int("timeout", 0) or 0)
        if offset is not None and offset > 0:
            # confirming: every update below the offset is forgotten
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        # a newer getUpdates ends an older long poll with 409, as on Telegram: two pollers of
        # one bot are a deployment mistake worth seeing in tests and benchmarks
        self._poll_generation += 1
        mine = self._poll_generation
        self._wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._updates and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            event = self._new_update
            try:
                await asyncio.wait_for(event.wait(), timeout=remaining)
            except TimeoutError:
                break
            if self._poll_generation != mine:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
        return self._updates[:limit]

    async def _api_setwebhook(self, params: _Params) -> Any:
        url = params.need_str("url")
        secret = params.get_str("secret_token")
        if secret is not None and not _SECRET_SHAPE.fullmatch(secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
        await self._stop_delivery()
        self.webhook_url = url
        self.webhook_secret = secret
        self._delivery_task = asyncio.create_task(self._deliver())
        return True

    async def _api_deletewebhook(self, params: _Params) -> Any:
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
        await self._stop_delivery()
        self.webhook_url = None
        self.webhook_secret = None
        return True

    async def _api_getwebhookinfo(self, params: _Params) -> Any:
        return {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _api_sendmessage(self, params: _Params) -> Any:
        chat = self._writable_chat(params)
        text = params.get_str("text") or ""
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(text) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        markup = self._markup(params)
        self._flood_check(chat)
        message = self._bot_message(chat)
        message["text"] = text
        return self._keep(chat, message, markup)

    async def _api_sendphoto(self, params: _Params) -> Any:
        chat = self._writable_chat(params)
        photo = params.values.get("photo")
        if isinstance(photo, web.FileField):
            stored = self._store_file(photo.file.read(), "photos", 1280, 853)
        else:
            stored_or_none = self._files.get(str(photo)) if photo is not None else None
            if stored_or_none is None:
                raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            stored = stored_or_none
        caption = params.get_str("caption")
        if caption is not None and _utf16_len(caption) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        markup = self._markup(params)
        self._flood_check(chat)
        message = self._bot_message(chat)
        message["photo"] = [self._photo_size(stored)]
        if caption:
            message["caption"] = caption
        return self._keep(chat, message, markup)

    async def _api_sendlocation(self, params: _Params) -> Any:
        chat = self._writable_chat(params)
        latitude, longitude = params.get_float("latitude"), params.get_float("longitude")
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise ApiError(400, "Bad Request: wrong location")
        markup = self._markup(params)
        self._flood_check(chat)
        message = self._bot_message(chat)
        message["location"] = {"latitude": latitude, "longitude": longitude}
        return self._keep(chat, message, markup)

    async def _api_editmessagetext(self, params: _Params) -> Any:
        _chat, message = self._editable(params)
        text = params.get_str("text") or ""
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(text) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        markup = self._inline_markup(params)
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ApiError(400, _NOT_MODIFIED)
        message["text"] = text
        return self._edited(message, markup)

    async def _api_editmessagereplymarkup(self, params: _Params) -> Any:
        _chat, message = self._editable(params)
        markup = self._inline_markup(params)
        if message.get("reply_markup") == markup:
            raise ApiError(400, _NOT_MODIFIED)
        return self._edited(message, markup)

    async def _api_answercallbackquery(self, params: _Params) -> Any:
        query_id = params.need_str("callback_query_id")
        if query_id not in self._open_queries:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        del self._open_queries[query_id]
        self.answered_callbacks[query_id] = {
            "text": params.get_str("text"),
            "show_alert": params.get_bool("show_alert"),
        }
        return True

    async def _api_getfile(self, params: _Params) -> Any:
        stored = self._files.get(params.need_str("file_id"))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.path,
        }

    # --- helpers ----------------------------------------------------------------------------

    def _wake(self) -> None:
        # waiters hold the event they started with; a fresh one serves the next wait
        event, self._new_update = self._new_update, asyncio.Event()
        event.set()

    def _next_message_id(self, chat_id: int) -> int:
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        return next(counter)

    def _user_for(self, chat_id: int, user_id: int | None) -> User:
        chat = self.chats[chat_id]
        if user_id is None:
            if chat.type != "private":
                raise ValueError("a message in a group needs user_id")
            user_id = chat_id
        return self.users[user_id]

    def _user_message(
        self, chat_id: int, user_id: int | None, reply_to: int | None
    ) -> dict[str, Any]:
        chat = self.chats[chat_id]
        message: dict[str, Any] = {
            "message_id": self._next_message_id(chat_id),
            "from": self._user_for(chat_id, user_id).as_user(),
            "chat": chat.as_chat(),
            "date": int(self.clock()),
        }
        if reply_to is not None:
            original = self._sent[chat_id].get(reply_to)
            if original is None:
                raise LookupError(f"the bot sent no message {reply_to} to chat {chat_id}")
            message["reply_to_message"] = copy.deepcopy(original)
        return message

    def _bot_message(self, chat: Chat) -> dict[str, Any]:
        return {
            "message_id": self._next_message_id(chat.id),
            "from": self.bot_user,
            "chat": chat.as_chat(),
            "date": int(self.clock()),
        }

    def _keep(
        self, chat: Chat, message: dict[str, Any], markup: dict[str, Any] | None
    ) -> dict[str, Any]:
        # Telegram echoes only inline keyboards in the sent message
        if markup is not None and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self._sent[chat.id][message["message_id"]] = message
        if markup is not None:
            self.markups[(chat.id, message["message_id"])] = markup
        return message

    def _edited(self, message: dict[str, Any], markup: dict[str, Any] | None) -> dict[str, Any]:
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        message["edit_date"] = int(self.clock())
        return message

    def _chat(self, params: _Params) -> Chat:
        chat_id = params.get_int("chat_id")
        chat = self.chats.get(chat_id) if chat_id is not None else None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _writable_chat(self, params: _Params) -> Chat:
        chat = self._chat(params)
        if chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _editable(self, params: _Params) -> tuple[Chat, dict[str, Any]]:
        chat = self._chat(params)
        message_id = params.get_int("message_id")
        message = self._sent[chat.id].get(message_id) if message_id is not None else None
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return chat, message

    def _markup(self, params: _Params) -> dict[str, Any] | None:
        markup = params.get_json("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            self._check_inline(markup)
        elif "keyboard" in markup:
            for row in markup["keyboard"]:
                for button in row:
                    text = button.get("text") if isinstance(button, dict) else button
                    if not text:
                        raise ApiError(400, "Bad Request: keyboard button text is empty")
        return markup

    def _inline_markup(self, params: _Params) -> dict[str, Any] | None:
        markup = self._markup(params)
        if markup is not None and "inline_keyboard" not in markup:
            raise ApiError(400, "Bad Request: inline keyboard expected")
        return markup

    @staticmethod
    def _check_inline(markup: dict[str, Any]) -> None:
        buttons = [button for row in markup["inline_keyboard"] for button in row]
        if len(buttons) > 100:
            raise ApiError(400, "Bad Request: too many inline keyboard buttons")
        for button in buttons:
            if not button.get("text"):
                raise ApiError(400, "Bad Request: inline keyboard button text is empty")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode("utf-8")) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")

    def _flood_check(self, chat: Chat) -> None:
        """Refuse with 429 what would pass Telegram's limits, or count the message."""
        now = self.clock()
        chat_limit = self.limits.group if chat.type in GROUP_TYPES else self.limits.private_chat
        scopes = (("bot", 0, self.limits.bot), ("chat", chat.id, chat_limit))
        waits = []
        for kind, key, limit in scopes:
            window = self._windows[(kind, key)]
            while window and window[0] <= now - limit.window:
                window.popleft()
            if len(window) >= limit.count:
                waits.append(window[0] + limit.window - now)
        if waits:
            retry_after = max(1, math.ceil(max(waits)))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        for kind, key, _limit in scopes:
            self._windows[(kind, key)].append(now)

    def _store_file(self, data: bytes, folder: str, width: int, height: int) -> StoredFile:
        number = next(self._file_ids)
        stored = StoredFile(
            file_id=f"AgACAgIAAxkBAAI{number:06d}{'x' * 12}",
            file_unique_id=f"AQAD{number:06d}",
            data=data,
            path=f"{folder}/file_{number}.jpg",
            width=width,
            height=height,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[stored.path] = stored
        return stored

    @staticmethod
    def _photo_size(stored: StoredFile) -> dict[str, Any]:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "width": stored.width,
            "height": stored.height,
        }

    # --- webhook delivery -------------------------------------------------------------------

    async def _stop_delivery(self) -> None:
        task, self._delivery_task = self._delivery_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _deliver(self) -> None:
        """POST pending updates to the webhook in order, one at a time, each until it is
        answered 2xx (Telegram re-sends an update it got no 2xx for)."""
        assert self._client is not None
        while True:
            if not self._updates:
                event = self._new_update
                await event.wait()
                continue
            update = self._updates[0]
            headers = {}
            if self.webhook_secret is not None:
                headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook_secret
            status: int | None
            answer: dict[str, Any] | None = None
            try:
                assert self.webhook_url is not None
                async with self._client.post(self.webhook_url, json=update, headers=headers) as r:
                    status = r.status
                    if 200 <= status <= 299:
                        answer = await _answer_parameters(r)
                    else:
                        await r.read()
            except (ClientError, TimeoutError):
                status = None
            self.deliveries.append(Delivery(update["update_id"], status))
            if status is not None and 200 <= status <= 299:
                if self._updates and self._updates[0] is update:
                    self._updates.pop(0)
                if answer is not None and answer.get("method"):
                    await self._perform_webhook_answer(answer)
            else:
                await asyncio.sleep(self.webhook_retry_delay)

    async def _perform_webhook_answer(self, values: dict[str, Any]) -> None:
        """Make the call a webhook answer names, as Telegram does; its outcome is recorded on
        the `Call` only (the bot cannot learn it)."""
        method = str(values.pop("method")).lower()
        call = Call(method, {}, in_webhook_answer=True)
        self.calls.append(call)
        try:
            params = _Params(values)
            call.params = params.public()
            self._injected_failure(method, None)
            await self._perform(method, params)
        except ApiError as exc:
            call.status = exc.code


async def _answer_parameters(response: ClientResponse) -> dict[str, Any] | None:
    """The parameters in a webhook answer's body, in any of the content types Telegram reads
    there (JSON, a URL-encoded form, multipart form data); None for any other body."""
    content_type = response.content_type
    if content_type == "multipart/form-data":
        values: dict[str, Any] = {}
        reader = MultipartReader.from_response(response)
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader) and part.name:
                values[part.name] = await part.text()
        return values
    raw = await response.read()
    if content_type == "application/json":
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(raw.decode("utf-8", "replace")))
    return None


_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
