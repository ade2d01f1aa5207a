"""``read.users``: who is registered, by id and by token subject."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.identity import UserRegistered
from aequatio.projections.base import Projection
from aequatio.projections.common import upsert
from aequatio.projections.tables import users


class UserDirectory(Projection):
    name = "user_directory"
    patterns = ("identity.user.registered",)
    tables = (users,)

    async def apply(
        self, connection: AsyncConnection, envelope: Envelope, payload: EventPayload
    ) -> None:
        if not isinstance(payload, UserRegistered):
            return
        await connection.execute(
            upsert(
                users,
                {
                    "user_id": envelope.aggregate_id,
                    "subject": payload.subject,
                    "name": payload.name,
                    "email": payload.email,
                    "registered_at": envelope.occurred_at,
                },
                key=("user_id",),
            )
        )
