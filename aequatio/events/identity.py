"""Events of the identity context (users)."""

from __future__ import annotations

from uuid import UUID

from aequatio.events.base import EventPayload


class UserRegistered(EventPayload):
    event_type = "user.registered"
    event_version = 1
    context = "identity"

    user_id: UUID
    subject: str
    name: str
    email: str
