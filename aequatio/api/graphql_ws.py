"""GraphQL over WebSocket: ``graphql-transport-ws`` and the legacy ``graphql-ws`` protocol.

The connection authenticates once, in ``connection_init``: its payload carries the bearer
token (``{"token": "..."}`` or ``{"Authorization": "Bearer ..."}``); a missing or invalid
token closes the socket with 4403. The schema's limits apply to every operation as over HTTP.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from fastapi import WebSocket
from strawberry import Schema
from strawberry.exceptions import ConnectionRejectionError
from strawberry.fastapi import GraphQLRouter
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from aequatio.api.auth import AuthenticationError, TokenVerifier, bearer_token
from aequatio.application.bus import MessageBus
from aequatio.graphql.context import Context
from aequatio.graphql.loaders import Loaders
from aequatio.graphql.read_store import ReadStore


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
        bus: MessageBus,
        store: ReadStore,
        verifier: TokenVerifier,
        consistency_timeout: float,
        path: str = "/graphql",
    ) -> None:
        async def context(websocket: WebSocket) -> Context:
            return Context(
                principal=None,
                bus=bus,
                store=store,
                loaders=Loaders.create(store),
                correlation_id=uuid4(),
                consistency_timeout=consistency_timeout,
            )

        super().__init__(
            schema,
            path=path,
            graphql_ide=None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL, GRAPHQL_WS_PROTOCOL),
            context_getter=context,
        )
        self._verifier = verifier

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        try:
            token = _token(context.connection_params)
            if token is None:
                raise ConnectionRejectionError({"reason": "connection_init needs a token"})
            context.principal = self._verifier.verify(token)
        except AuthenticationError as error:
            raise ConnectionRejectionError({"reason": error.reason}) from None
        return await super().on_ws_connect(context)
