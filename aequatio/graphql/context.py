"""The per-request context every resolver gets: who is asking, the bus, the read store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import strawberry
from fastapi import WebSocket
from sqlalchemy import Row
from strawberry.fastapi import BaseContext

from aequatio.application.bus import MessageBus
from aequatio.application.context import Principal
from aequatio.application.ids import new_id
from aequatio.domain.errors import ErrorCode, Forbidden, NotFound
from aequatio.graphql.consistency import wait_for_projections
from aequatio.graphql.errors import unauthenticated
from aequatio.graphql.live import LiveFeed
from aequatio.graphql.loaders import Loaders
from aequatio.graphql.read_store import Membership, ReadStore


@dataclass
class Context(BaseContext):
    """Per request over HTTP; per connection over WebSocket (``connection_params`` then holds
    the ``connection_init`` payload, whose token authenticates the connection)."""

    principal: Principal | None
    bus: MessageBus
    store: ReadStore
    loaders: Loaders
    correlation_id: UUID
    consistency_timeout: float = 2.0
    #: Set when a ``consistentWith`` wait ran out: the answer may not show those writes yet.
    stale: bool = False
    connection_params: dict[str, Any] | None = None
    #: This API process's live feed (subscriptions); none where nothing subscribes.
    live: LiveFeed | None = None
    _actor: Row[Any] | None = field(default=None, repr=False)
    _memberships: dict[UUID, Membership | None] = field(default_factory=dict, repr=False)

    def require_principal(self) -> Principal:
        if self.principal is None:
            raise unauthenticated()
        return self.principal

    async def actor(self) -> Row[Any] | None:
        """The caller's row in the user directory, ``None`` until they registered."""
        if self._actor is None:
            self._actor = await self.store.user_by_subject(self.require_principal().subject)
        return self._actor

    async def actor_id(self) -> UUID:
        row = await self.actor()
        if row is None:
            raise Forbidden(ErrorCode.NOT_REGISTERED, "register before reading groups")
        return row.user_id  # type: ignore[no-any-return]

    async def membership(self, group_id: UUID) -> Membership | None:
        """The caller's current membership of the group (cached for the request)."""
        if group_id in self._memberships:
            return self._memberships[group_id]
        if self._actor is None:
            subject = self.require_principal().subject
            actor, membership = await self.store.actor_and_membership(subject, group_id)
            if actor is not None:
                self._actor = actor
            await self.actor_id()  # NOT_REGISTERED when there is no one
        else:
            membership = await self.store.active_membership(group_id, self._actor.user_id)
        self._memberships[group_id] = membership
        return membership

    async def require_member(self, group_id: UUID) -> Membership:
        """Only current members read a group; others get FORBIDDEN (existence or not)."""
        membership = await self.membership(group_id)
        if membership is None:
            raise Forbidden(ErrorCode.NOT_A_MEMBER, "you are not a member of this group")
        return membership

    def require_live(self) -> LiveFeed:
        if self.live is None:
            raise RuntimeError("live subscriptions are not running in this process")
        return self.live

    async def close_connection(self, code: int, reason: str) -> None:
        """Close the WebSocket this context belongs to (no-op over HTTP)."""
        websocket = getattr(self, "request", None)
        if isinstance(websocket, WebSocket):
            with contextlib.suppress(RuntimeError):
                await websocket.close(code=code, reason=reason)

    async def consistent_with(
        self, event_ids: Sequence[str] | None, projections: Iterable[str]
    ) -> None:
        if not event_ids:
            return
        if not await wait_for_projections(
            self.store, event_ids, projections, within=self.consistency_timeout
        ):
            self.stale = True


@dataclass(frozen=True)
class ContextFactory:
    """Makes the context of a request (HTTP) or a connection (WebSocket)."""

    bus: MessageBus
    store: ReadStore
    consistency_timeout: float = 2.0
    live: LiveFeed | None = None

    def __call__(self, principal: Principal | None, correlation_id: UUID | None = None) -> Context:
        return Context(
            principal=principal,
            bus=self.bus,
            store=self.store,
            loaders=Loaders.create(self.store),
            correlation_id=correlation_id or new_id(),
            consistency_timeout=self.consistency_timeout,
            live=self.live,
        )


def require_found(row: Row[Any] | None, code: ErrorCode, what: str) -> Row[Any]:
    if row is None:
        raise NotFound(code, f"no such {what}")
    return row


Info = strawberry.Info[Context, None]
