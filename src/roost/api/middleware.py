"""Pure ASGI middleware: body size cap and the rate-limit headers on every API response."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from roost.api.bird.errors import is_bird
from roost.api.errors import message_response


class BodyLimit:
    """Refuse bodies over `max_bytes` with 413, whether or not Content-Length is sent.

    `path_limits` gives some paths a limit of their own: the media upload takes files far larger
    than any JSON body (and enforces the file's own limit as it reads).
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bird = is_bird(scope["path"])
        max_bytes = self.path_limits.get(scope["path"], self.max_bytes)
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > max_bytes:
                await _too_large(send, bird=bird)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, bird=bird)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, *, bird: bool) -> None:
    response = message_response(413, bird=bird)
    await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


RATE_HEADERS_KEY = "roost.rate_headers"


class RateHeaders:
    """Copy the headers the auth dependency computed into whatever response goes out, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra: dict[str, str] | None = scope.get("state", {}).get(RATE_HEADERS_KEY)
                if extra:
                    present = {name.lower() for name, _ in message.get("headers", [])}
                    headers = list(message.get("headers", []))
                    for name, value in extra.items():
                        if name.lower().encode() not in present:
                            headers.append((name.lower().encode(), value.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
