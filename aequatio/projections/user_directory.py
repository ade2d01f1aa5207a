"""``read.users``: who is registered, by id and by token subject."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.identity import UserRegistered
from aequatio.projections.base import Projection
from aequatio.projections.common import upsert, upsert_many
from aequatio.projections.tables import users


class UserDirectory(Projection):
    name = "user_directory"
    patterns = ("identity.user.registered",)
    tables = (users,)

    async def apply_many(
        self, connection: AsyncConnection, items: Sequence[tuple[Envelope, EventPayload]]
    ) -> None:
        """A batch's registrations in one ``executemany`` (in order: each row is its own
        upsert), not one round trip each: a statement per event made this the slowest
        consumer under a stream of sign-ups (the outbox soak)."""
        rows = [
            _user(envelope, payload)
            for envelope, payload in items
            if isinstance(payload, UserRegistered)
        ]
        if rows:
            await connection.execute(_UPSERT_MANY, rows)

    async def apply(
        self, connection: AsyncConnection, envelope: Envelope, payload: EventPayload
    ) -> None:
        if isinstance(payload, UserRegistered):
            await connection.execute(upsert(users, _user(envelope, payload), key=_KEY))


_KEY = ("user_id",)
_UPSERT_MANY = upsert_many(
    users, ("user_id", "subject", "name", "email", "registered_at"), key=_KEY
)


def _user(envelope: Envelope, payload: UserRegistered) -> dict[str, object]:
    return {
        "user_id": envelope.aggregate_id,
        "subject": payload.subject,
        "name": payload.name,
        "email": payload.email,
        "registered_at": envelope.occurred_at,
    }
