"""GraphQL over WebSocket: ``graphql-transport-ws`` and the legacy ``graphql-ws`` protocol.

The connection authenticates once, in ``connection_init``: its payload carries the bearer
token (``{"token": "..."}`` or ``{"Authorization": "Bearer ..."}``); a missing or invalid
token closes the socket with 4403. The schema's limits apply to every operation as over HTTP.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from fastapi import WebSocket
from strawberry import Schema
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType

from aequatio.api.auth import AuthenticationError, TokenVerifier, bearer_token
from aequatio.graphql.context import Context, ContextFactory
from aequatio.graphql.live import TOKEN_EXPIRED

#: Server keep-alive for the legacy protocol (clients of graphql-transport-ws ping the server;
#: uvicorn also pings at the WebSocket level).
KEEP_ALIVE_SECONDS = 15.0


def _token(params: dict[str, Any] | None) -> str | None:
    if not params:
        return None
    token = params.get("token")
    if isinstance(token, str):
        return token
    header = params.get("Authorization") or params.get("authorization")
    return bearer_token(header) if isinstance(header, str) else None


class WebSocketGraphQL(GraphQLRouter[Context, None]):
    """Strawberry's router, used for its WebSocket route only (HTTP has its own endpoint)."""

    def __init__(
        self,
        schema: Schema,
        *,
        contexts: ContextFactory,
        verifier: TokenVerifier,
        path: str = "/graphql",
    ) -> None:
        async def context(websocket: WebSocket) -> Context:
            return contexts(None)  # authenticated by ``connection_init`` in on_ws_connect

        super().__init__(
            schema,
            path=path,
            graphql_ide=None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            context_getter=context,
            keep_alive=True,  # legacy graphql-ws "ka" messages; graphql-transport-ws pings
            keep_alive_interval=KEEP_ALIVE_SECONDS,
        )
        self._verifier = verifier

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            return await super().run(request, context=context, root_value=root_value)
        finally:
            expiry = getattr(getattr(request, "state", None), "expiry", None)
            if isinstance(expiry, asyncio.TimerHandle):
                expiry.cancel()  # the connection ended before its token expired

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        try:
            token = _token(context.connection_params)
            if token is None:
                raise ConnectionRejectionError({"reason": "connection_init needs a token"})
            context.principal = self._verifier.verify(token)
        except AuthenticationError as error:
            raise ConnectionRejectionError({"reason": error.reason}) from None
        _close_when_expired(context)
        return await super().on_ws_connect(context)


def _close_when_expired(context: Context) -> None:
    """A token expiring mid-connection ends the connection (close code 4401)."""
    expires_at = context.principal.expires_at if context.principal else None
    if expires_at is None:
        return
    delay = max(0.0, (expires_at - datetime.now(UTC)).total_seconds())
    loop = asyncio.get_running_loop()

    def expire() -> None:
        task = loop.create_task(context.close_connection(TOKEN_EXPIRED, "token expired"))
        _EXPIRIES.add(task)
        task.add_done_callback(_EXPIRIES.discard)

    handle = loop.call_later(delay, expire)
    websocket = getattr(context, "request", None)
    if isinstance(websocket, WebSocket):
        websocket.state.expiry = handle  # cancelled by ``run`` when the connection ends first


_EXPIRIES: set[asyncio.Task[None]] = set()
