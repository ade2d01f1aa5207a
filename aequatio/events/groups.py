"""Events of the groups context (a family and its members)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from aequatio.events.base import EventPayload, Fragment
from aequatio.events.common import RoleName


class GroupMemberData(Fragment):
    user_id: UUID
    role: RoleName
    weight: int = 1
    joined_on: date | None = None


class GroupCreated(EventPayload):
    """Seed event: ``{group_id, name, owner_id, members[]}``."""

    event_type = "group.created"
    event_version = 1
    context = "groups"

    group_id: UUID
    name: str
    owner_id: UUID
    members: list[GroupMemberData]
    currency: str | None = None


class MemberAdded(EventPayload):
    event_type = "group.member_added"
    event_version = 1
    context = "groups"

    group_id: UUID
    user_id: UUID
    role: RoleName
    weight: int
    joined_on: date
    added_by: UUID


class MemberRemoved(EventPayload):
    event_type = "group.member_removed"
    event_version = 1
    context = "groups"

    group_id: UUID
    user_id: UUID
    left_on: date
    removed_by: UUID
