"""A small family, built through the real command bus, for integration and end-to-end tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from aequatio.application import commands
from aequatio.application.bus import MessageBus
from aequatio.application.context import Principal

START = date(2026, 1, 1)


@dataclass(frozen=True)
class Member:
    principal: Principal
    user_id: UUID


@dataclass(frozen=True)
class Family:
    group_id: UUID
    owner: Member
    others: tuple[Member, ...]

    @property
    def members(self) -> tuple[Member, ...]:
        return (self.owner, *self.others)


async def register(bus: MessageBus, name: str) -> Member:
    principal = Principal(subject=f"{name.lower()}-{uuid.uuid4().hex[:8]}")
    result = await bus.handle(
        commands.RegisterUser(name=name, email=f"{principal.subject}@example.org"), principal
    )
    return Member(principal, result.aggregate_id)


async def family(bus: MessageBus, *names: str, currency: str = "EUR") -> Family:
    """The first name owns the group; everyone is a member from ``START``."""
    owner, *rest = [await register(bus, name) for name in names]
    group = await bus.handle(
        commands.CreateGroup(name="Family", currency=currency, started_on=START), owner.principal
    )
    for member in rest:
        await bus.handle(
            commands.AddMember(
                group_id=group.aggregate_id, user_id=member.user_id, joined_on=START
            ),
            owner.principal,
        )
    return Family(group.aggregate_id, owner, tuple(rest))
