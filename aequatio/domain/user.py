"""A person using aequatio, known by the subject of their identity provider's tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
from uuid import UUID

from aequatio.domain.aggregate import Aggregate
from aequatio.domain.text import require_email, require_text
from aequatio.events.identity import UserRegistered

MAX_NAME_LENGTH = 100


@dataclass(kw_only=True)
class User(Aggregate):
    aggregate_type: ClassVar[str] = "user"

    subject: str
    name: str
    email: str
    registered_at: datetime

    @classmethod
    def register(cls, *, user_id: UUID, subject: str, name: str, email: str, now: datetime) -> User:
        user = cls(
            id=user_id,
            subject=subject,
            name=require_text(name, field="name", max_length=MAX_NAME_LENGTH),
            email=require_email(email),
            registered_at=now,
        )
        user._record(
            UserRegistered(user_id=user.id, subject=subject, name=user.name, email=user.email)
        )
        return user
