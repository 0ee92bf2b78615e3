"""The WhatsApp Cloud API adapter: the one place that talks to the Graph API (over httpx).

Why not pywa (4.5, installed): its parsing requires `contacts[].user_id` and raises KeyError on
a payload that has only `wa_id` (every payload before April 2026 and Meta's own reference
examples), and its Graph client hard-codes `https://graph.facebook.com/v{float}`, so it cannot
be pointed at a local Graph API for tests or a proxy. What laporbot needs from the API is
small (send a message, fetch a media file), so the adapter speaks it directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from laporbot.channels.base import (
    PermanentSendError,
    RawUpdate,
    RetryAfter,
    SendError,
    SendResult,
    TransientSendError,
)
from laporbot.channels.whatsapp import outbound, webhook
from laporbot.errors import BadRequest
from laporbot.messages import Channel, InboundMessage, OutboundMessage

if TYPE_CHECKING:
    # httpx is imported when the adapter first sends (`_http`): the web chat and webhook
    # routes import this package, and a deployment without WhatsApp should not pay for it.
    import httpx

DEFAULT_TIMEOUT_SECONDS = 20.0
MEDIA_MAX_BYTES = 16 * 1024 * 1024  # WhatsApp images are at most 5 MB; leave room, refuse junk

# Waits when Meta names a rate limit but gives no Retry-After header.
THROUGHPUT_WAIT_SECONDS = 1.0  # 130429: the number's messages per second
PAIR_WAIT_SECONDS = 6.0  # 131056: one user, about one message per 6 seconds
ACCOUNT_WAIT_SECONDS = 60.0  # 80007, 4: the account's or app's API call budget
SPAM_WAIT_SECONDS = 3600.0  # 131048: Meta's spam limit; back off for long

_RETRY_AFTER_CODES: dict[int, float] = {
    130429: THROUGHPUT_WAIT_SECONDS,
    131056: PAIR_WAIT_SECONDS,
    80007: ACCOUNT_WAIT_SECONDS,
    4: ACCOUNT_WAIT_SECONDS,
    131048: SPAM_WAIT_SECONDS,
}
# Meta's own transient failures, sent with HTTP 400/500: try again with backoff.
_TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004, 130472})
_PHONE = re.compile(r"\+?[0-9]{6,20}")


class OutsideWindow(PermanentSendError):
    """131047: more than 24 hours since the user's last message; only a template can go."""


@dataclass(frozen=True, slots=True)
class GraphError:
    """A Graph API error object (`{"error": {...}}`)."""

    http_status: int
    code: int | None
    subcode: int | None
    message: str
    details: str | None

    def describe(self) -> str:
        words = f"whatsapp {self.code}: {self.message}" if self.code else self.message
        return f"{words} ({self.details})" if self.details else words


def parse_error(http_status: int, body: object) -> GraphError:
    """Read Meta's error object from a response body (any shape tolerated)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return GraphError(http_status, None, None, f"HTTP {http_status}", None)
    code = error.get("code")
    subcode = error.get("error_subcode")
    data = error.get("error_data")
    details = data.get("details") if isinstance(data, dict) else None
    message = error.get("message")
    return GraphError(
        http_status=http_status,
        code=code if isinstance(code, int) else None,
        subcode=subcode if isinstance(subcode, int) else None,
        message=message if isinstance(message, str) else f"HTTP {http_status}",
        details=details if isinstance(details, str) else None,
    )


def classify(error: GraphError, retry_after_header: str | None = None) -> SendError:
    """Map a Graph API failure to what the outbox should do: wait, retry, or give up."""
    reason = error.describe()
    if error.code == 131047:
        return OutsideWindow(reason)
    header_wait: float | None = None
    if retry_after_header:
        try:
            header_wait = max(0.0, float(retry_after_header))
        except ValueError:
            header_wait = None
    if error.code in _RETRY_AFTER_CODES:
        return RetryAfter(reason, header_wait or _RETRY_AFTER_CODES[error.code])
    if error.http_status == 429:
        return RetryAfter(reason, header_wait or THROUGHPUT_WAIT_SECONDS)
    if error.http_status >= 500 or error.code in _TRANSIENT_CODES:
        return TransientSendError(reason)
    # 131026 undeliverable, 100 invalid parameter, 131051 unsupported type, 190 expired token,
    # 132xxx template problems, 131050 user stopped marketing...: sending again cannot help.
    return PermanentSendError(reason)


def recipient_field(chat_id: str) -> dict[str, str]:
    """`to` for a phone number, `recipient` for a business-scoped user id (BSUID)."""
    if _PHONE.fullmatch(chat_id):
        return {"to": chat_id.removeprefix("+")}
    return {"recipient": chat_id}


class WhatsAppAdapter:
    """Translate WhatsApp notifications and send through the Cloud API (`ChannelAdapter`).

    `split` and `translate` need no network. Sending opens an httpx client on first use;
    `close()` (or `async with`) releases it.
    """

    channel: Channel = "whatsapp"

    def __init__(
        self,
        *,
        access_token: str,
        phone_number_id: str,
        api_url: str,
        api_version: str,
        template_language: str,
        list_button_label: str,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.phone_number_id = phone_number_id
        self.base_url = f"{api_url.rstrip('/')}/{api_version.strip('/')}/"
        self.template_language = template_language
        self.list_button_label = list_button_label
        self._token = access_token
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    # --- lifecycle ----------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=self._timeout,
                transport=self._transport,
            )
        return self._client

    async def close(self) -> None:
        """Release the HTTP client (a later send opens a new one)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- ChannelAdapter -----------------------------------------------------------------

    def split(self, body: dict[str, Any]) -> list[RawUpdate]:
        """One notification -> its messages and status callbacks; see `webhook.split`."""
        return webhook.split(body)

    def translate(self, update: RawUpdate) -> list[InboundMessage]:
        """One stored update -> what the person did; see `webhook.translate`."""
        return webhook.translate(update)

    def delivery_status(self, update: RawUpdate) -> webhook.DeliveryStatus | None:
        """The delivery news in a status update, for the outbox to record."""
        return webhook.delivery_status(update)

    def plan(self, message: OutboundMessage) -> list[dict[str, Any]]:
        """The request bodies `send` posts for `message`, in order."""
        try:
            payloads = outbound.plan(
                message,
                list_button_label=self.list_button_label,
                template_language=self.template_language,
            )
        except BadRequest as exc:
            raise PermanentSendError(exc.reason) from exc
        head = {"messaging_product": "whatsapp", "recipient_type": "individual"}
        return [head | recipient_field(message.chat_id) | p for p in payloads]

    def split_outbound(self, message: OutboundMessage) -> list[OutboundMessage]:
        """`message` as messages that each take exactly one Graph API post, in order (see
        `outbound.parts`); the outbox sends them one by one so a retry never repeats a part."""
        try:
            return outbound.parts(message)
        except BadRequest as exc:
            raise PermanentSendError(exc.reason) from exc

    async def send(self, message: OutboundMessage) -> SendResult:
        """Post the planned messages in order; returns their `wamid`s.

        Raises `RetryAfter` (rate limits), `TransientSendError` (network, 5xx),
        `OutsideWindow` (131047) or `PermanentSendError`. When a message needs several posts
        and a later one fails, the earlier ones were delivered: the outbox therefore sends the
        parts of `split_outbound(message)` one by one.
        """
        ids: list[str] = []
        for body in self.plan(message):
            answer = await self._request("POST", f"{self.phone_number_id}/messages", json=body)
            sent = answer.get("messages")
            if not isinstance(sent, list) or not sent or not isinstance(sent[0], dict):
                raise TransientSendError("whatsapp: answer without a message id")
            wamid = sent[0].get("id")
            if not isinstance(wamid, str):
                raise TransientSendError("whatsapp: answer without a message id")
            ids.append(wamid)
        return SendResult(tuple(ids))

    async def fetch_media(self, media_id: str) -> bytes:
        """The bytes of an inbound photo: look up its short-lived URL, then download it with
        the token. Errors are mapped like `send`'s."""
        info = await self._request("GET", media_id)
        url = info.get("url")
        if not isinstance(url, str) or not url:
            raise PermanentSendError(f"whatsapp: media {media_id} has no url")
        client = self._http()
        try:
            response = await client.get(url)
        except _http_error() as exc:
            raise TransientSendError(f"whatsapp media download: {exc!r}") from exc
        if response.status_code != 200:
            raise classify(
                parse_error(response.status_code, _json_or_none(response)),
                response.headers.get("Retry-After"),
            )
        if len(response.content) > MEDIA_MAX_BYTES:
            raise PermanentSendError(f"whatsapp: media {media_id} is over {MEDIA_MAX_BYTES} bytes")
        return response.content

    async def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        client = self._http()
        try:
            response = await client.request(method, path, **kwargs)
        except _http_error() as exc:
            raise TransientSendError(f"whatsapp: {exc!r}") from exc
        body = _json_or_none(response)
        if response.status_code != 200:
            raise classify(
                parse_error(response.status_code, body), response.headers.get("Retry-After")
            )
        if not isinstance(body, dict):
            raise TransientSendError(f"whatsapp: HTTP 200 without a JSON object from {path}")
        return body


def _http_error() -> type[Exception]:
    """httpx's base error (httpx is loaded by then: `_http` made the client)."""
    import httpx

    return httpx.HTTPError


def _json_or_none(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None
