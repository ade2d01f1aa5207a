"""A small graphql-transport-ws (and legacy graphql-ws) client for end-to-end tests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

TRANSPORT_WS = "graphql-transport-ws"
LEGACY_WS = "graphql-ws"


class LiveClient:
    def __init__(self, socket: ClientConnection, protocol: str) -> None:
        self.socket = socket
        self.protocol = protocol
        self._next_id = 0

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))

    async def receive(self, within: float = 30) -> dict[str, Any]:
        """The next message that is not a keep-alive."""
        while True:
            message = json.loads(await asyncio.wait_for(self.socket.recv(), within))
            if message.get("type") in ("ka", "pong"):
                continue
            if message.get("type") == "ping":
                await self.send({"type": "pong"})
                continue
            return message  # type: ignore[no-any-return]

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None) -> str:
        self._next_id += 1
        operation = str(self._next_id)
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        await self.send(
            {
                "id": operation,
                "type": kind,
                "payload": {"query": query, "variables": variables or {}},
            }
        )
        return operation

    async def complete(self, operation: str) -> None:
        kind = "complete" if self.protocol == TRANSPORT_WS else "stop"
        await self.send({"id": operation, "type": kind})

    async def next_data(self, within: float = 30) -> dict[str, Any]:
        """The ``data`` of the next result (fails on an error message)."""
        message = await self.receive(within)
        if message.get("type") not in ("next", "data"):
            raise AssertionError(f"expected a result, got {message}")
        payload = message["payload"]
        if payload.get("errors"):
            raise AssertionError(f"errors: {payload['errors']}")
        return payload["data"]  # type: ignore[no-any-return]


@asynccontextmanager
async def live(
    base_url: str, token: str | None, *, protocol: str = TRANSPORT_WS
) -> AsyncIterator[LiveClient]:
    """A connected, initialised client (``connection_init`` carries the token)."""
    url = base_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=[protocol]) as socket:  # type: ignore[list-item]
        client = LiveClient(socket, protocol)
        await client.send({"type": "connection_init", "payload": {"token": token} if token else {}})
        ack = await client.receive()
        if ack.get("type") != "connection_ack":
            raise AssertionError(f"not acknowledged: {ack}")
        yield client
