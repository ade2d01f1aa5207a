"""Request body size limit: a pure ASGI middleware, so it runs before any framework
code reads (and buffers) the body."""

from __future__ import annotations

import json
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

TOO_LARGE_BODY: Final = json.dumps(
    {
        "errors": [
            {"message": "request body too large", "extensions": {"code": "REQUEST_TOO_LARGE"}}
        ]
    },
    separators=(",", ":"),
).encode()


class BodySizeLimit:
    """Answer 413 to an HTTP request whose body is larger than ``max_bytes``.

    A ``Content-Length`` above the limit is refused without reading anything. Otherwise
    the body is read here, counting as it streams in (chunked, or a Content-Length that
    lies), and refused as soon as it grows past the limit; only a body within the limit
    reaches the app, replayed as one message. So the app never sees part of an
    oversized body, and at most ``max_bytes`` are held per request. Websocket and
    lifespan scopes pass through untouched.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes cannot be negative")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._declares_too_much(scope):
            await _refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: no one to answer, nothing for the app to do
            body: bytes = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await _refuse(send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # e.g. to learn of a disconnect while streaming
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    def _declares_too_much(self, scope: Scope) -> bool:
        return any(
            name.lower() == b"content-length" and _exceeds(value, self.max_bytes)
            for name, value in scope["headers"]
        )


def _exceeds(length: bytes, limit: int) -> bool:
    """Whether a Content-Length value is above ``limit``; one that is not a number is
    left to the server (and the body is counted anyway)."""
    digits = length.strip()
    if not digits.isdigit():
        return False
    digits = digits.lstrip(b"0") or b"0"
    # more digits than the limit has: larger, without converting a huge number
    return len(digits) > len(str(limit)) or int(digits) > limit


async def _refuse(send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(TOO_LARGE_BODY)).encode()),
                # the rest of the body is left unread: do not reuse the connection
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": TOO_LARGE_BODY})
