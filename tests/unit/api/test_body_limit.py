"""BodySizeLimit: an oversized request body is refused with 413 before the app reads it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.types import Message, Receive, Scope, Send

from aequatio.api.limits import BodySizeLimit

LIMIT = 1024
REFUSAL = {
    "errors": [{"message": "request body too large", "extensions": {"code": "REQUEST_TOO_LARGE"}}]
}


def echo_app(seen: list[int]) -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        body = await request.body()
        seen.append(len(body))
        return {"size": len(body)}

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        seen.append(0)
        return {"ping": "pong"}

    return app


def client(seen: list[int]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=BodySizeLimit(echo_app(seen), max_bytes=LIMIT))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/json"
    assert response.json() == REFUSAL


async def chunks(count: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(count):
        yield b"x" * size


@pytest.mark.parametrize("size", [0, 1, LIMIT - 1, LIMIT])
async def test_a_body_within_the_limit_reaches_the_app_whole(size: int) -> None:
    seen: list[int] = []
    async with client(seen) as http:
        response = await http.post("/echo", content=b"x" * size)
    assert response.status_code == 200
    assert response.json() == {"size": size}
    assert seen == [size]


async def test_a_declared_content_length_above_the_limit_is_refused() -> None:
    seen: list[int] = []
    async with client(seen) as http:
        response = await http.post("/echo", content=b"x" * (LIMIT + 1))
    assert_refused(response)
    assert response.content == json.dumps(REFUSAL, separators=(",", ":")).encode()
    assert response.headers["connection"] == "close"
    assert seen == []


async def test_a_streamed_body_growing_past_the_limit_is_refused() -> None:
    seen: list[int] = []
    async with client(seen) as http:
        response = await http.post("/echo", content=chunks(count=10, size=200))
    assert_refused(response)
    assert seen == []


async def test_a_streamed_body_within_the_limit_is_reassembled() -> None:
    seen: list[int] = []
    async with client(seen) as http:
        response = await http.post("/echo", content=chunks(count=5, size=200))
    assert response.status_code == 200
    assert seen == [1000]


async def test_a_request_without_a_body_passes() -> None:
    seen: list[int] = []
    async with client(seen) as http:
        response = await http.get("/ping")
    assert response.json() == {"ping": "pong"}
    assert seen == [0]


# --- at the ASGI level ---------------------------------------------------------------------


class Recorder:
    """A stand-in app that records what it was called with and reads the whole body."""

    def __init__(self) -> None:
        self.calls: list[tuple[Scope, Receive, Send]] = []
        self.body = b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append((scope, receive, send))
        if scope["type"] == "http":
            while True:
                message = await receive()
                self.body += message.get("body", b"")
                if not message.get("more_body"):
                    break


def feeder(*messages: Message) -> Receive:
    queue = list(messages)

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    return receive


def http_scope(content_length: str | None = None) -> Scope:
    headers = [] if content_length is None else [(b"content-length", content_length.encode())]
    return {"type": "http", "method": "POST", "path": "/", "headers": headers}


async def call(middleware: BodySizeLimit, scope: Scope, receive: Receive) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    return sent


def status_of(sent: list[Message]) -> int | None:
    return next((m["status"] for m in sent if m["type"] == "http.response.start"), None)


async def test_a_content_length_that_lies_does_not_get_a_large_body_through() -> None:
    app = Recorder()
    receive = feeder(
        {"type": "http.request", "body": b"x" * 800, "more_body": True},
        {"type": "http.request", "body": b"x" * 800, "more_body": False},
    )
    sent = await call(BodySizeLimit(app, LIMIT), http_scope("10"), receive)
    assert status_of(sent) == 413
    assert json.loads(sent[1]["body"]) == REFUSAL
    assert app.calls == []


@pytest.mark.parametrize("length", ["1" + "0" * 5000, "1025", "  2048 "])
async def test_any_declared_length_above_the_limit_is_refused_unread(length: str) -> None:
    app = Recorder()

    async def receive() -> Message:
        raise AssertionError("the body was read")

    sent = await call(BodySizeLimit(app, LIMIT), http_scope(length), receive)
    assert status_of(sent) == 413
    assert app.calls == []


async def test_leading_zeros_do_not_make_a_length_large() -> None:
    app = Recorder()
    receive = feeder({"type": "http.request", "body": b"abc", "more_body": False})
    sent = await call(BodySizeLimit(app, LIMIT), http_scope("0" * 20 + "3"), receive)
    assert sent == []
    assert app.body == b"abc"


async def test_after_the_body_the_app_still_hears_of_a_disconnect() -> None:
    heard: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        heard.append(await receive())
        heard.append(await receive())

    receive = feeder({"type": "http.request", "body": b"abc", "more_body": False})
    await call(BodySizeLimit(app, LIMIT), http_scope(), receive)
    assert heard == [
        {"type": "http.request", "body": b"abc", "more_body": False},
        {"type": "http.disconnect"},
    ]


async def test_a_client_that_leaves_mid_body_reaches_nothing() -> None:
    app = Recorder()
    receive = feeder({"type": "http.request", "body": b"x" * 10, "more_body": True})
    sent = await call(BodySizeLimit(app, LIMIT), http_scope(), receive)
    assert sent == []
    assert app.calls == []


@pytest.mark.parametrize("kind", ["websocket", "lifespan"])
async def test_websockets_and_lifespan_pass_through_untouched(kind: str) -> None:
    app = Recorder()
    scope: dict[str, Any] = {"type": kind, "headers": [(b"content-length", b"999999")]}
    receive = feeder()

    async def send(message: Message) -> None:
        raise AssertionError("the middleware answered")

    await BodySizeLimit(app, 0)(scope, receive, send)
    assert app.calls == [(scope, receive, send)]


def test_a_negative_limit_is_refused() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError

    with pytest.raises(ValueError, match="negative"):
        BodySizeLimit(app, -1)
