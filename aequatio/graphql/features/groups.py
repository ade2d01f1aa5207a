"""Groups and members: ``group``, ``groups``, ``createGroup``, ``addMember``, ``removeMember``."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any
from uuid import UUID

import strawberry
from sqlalchemy import Row

from aequatio.application.commands import AddMember, CreateGroup, RemoveMember
from aequatio.domain.errors import ErrorCode
from aequatio.graphql import ids
from aequatio.graphql.common import CurrencyAmount, Node, Outcome, run_command, uuid_of
from aequatio.graphql.context import Info, require_found
from aequatio.graphql.features.users import User, load_user

SCOPE = "groups:write"


@strawberry.enum
class Role(Enum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


@strawberry.type(description="One span of membership `[joinedOn, leftOn)`.")
class Member:
    role: Role
    weight: int
    joined_on: date
    left_on: date | None
    active: bool
    user_id: strawberry.Private[UUID]

    @strawberry.field
    async def user(self, info: Info) -> User | None:
        return await load_user(info, self.user_id)

    @classmethod
    def of(cls, row: Row[Any]) -> Member:
        return cls(
            role=Role(row.role),
            weight=row.weight,
            joined_on=row.joined_on,
            left_on=row.left_on,
            active=row.left_on is None,
            user_id=row.user_id,
        )


@strawberry.type(description="A family sharing expenses.")
class Group(Node):
    name: str
    currency: str | None
    created_at: datetime
    member_count: int
    group_id: strawberry.Private[UUID]

    @classmethod
    def of(cls, row: Row[Any]) -> Group:
        return cls(
            id=strawberry.ID(ids.encode("Group", row.group_id)),
            name=row.name,
            currency=row.currency,
            created_at=row.created_at,
            member_count=row.member_count,
            group_id=row.group_id,
        )

    @strawberry.field(description="Current members (and former ones with `includeFormer`).")
    async def members(self, info: Info, include_former: bool = False) -> list[Member]:
        rows = await info.context.loaders.members.load(self.group_id)
        return [Member.of(row) for row in rows if include_former or row.left_on is None]

    @strawberry.field(description="What the group spent per currency (deleted expenses excluded).")
    async def totals(self, info: Info) -> list[CurrencyAmount]:
        rows = await info.context.loaders.totals.load(self.group_id)
        return [CurrencyAmount(currency=row.currency, amount_cents=row.total_cents) for row in rows]

    @strawberry.field(description="The caller's role in this group.")
    async def my_role(self, info: Info) -> Role | None:
        membership = await info.context.membership(self.group_id)
        return Role(membership.role) if membership is not None else None


async def readable_group(info: Info, group_id: UUID) -> Group:
    """A group the caller is a member of (FORBIDDEN otherwise, NOT_FOUND if not projected)."""
    await info.context.require_member(group_id)
    row = await info.context.loaders.groups.load(group_id)
    return Group.of(require_found(row, ErrorCode.GROUP_NOT_FOUND, "group"))


@strawberry.type
class GroupsQuery:
    @strawberry.field(description="A group the caller belongs to.")
    async def group(
        self, info: Info, id: strawberry.ID, consistent_with: list[strawberry.ID] | None = None
    ) -> Group:
        await info.context.consistent_with(consistent_with, ["group_summary"])
        return await readable_group(info, uuid_of(id, "Group", field="id"))

    @strawberry.field(description="The groups the caller currently belongs to.")
    async def groups(
        self, info: Info, consistent_with: list[strawberry.ID] | None = None
    ) -> list[Group]:
        await info.context.consistent_with(consistent_with, ["group_summary"])
        actor = await info.context.actor()
        if actor is None:
            return []
        return [Group.of(row) for row in await info.context.store.groups_of(actor.user_id)]


@strawberry.input
class CreateGroupInput:
    name: str
    currency: str = strawberry.field(description="The group's currency (ISO 4217).")
    started_on: date | None = strawberry.field(
        default=None, description="When the creator's membership starts (default: today)."
    )
    idempotency_key: str | None = None


@strawberry.input
class AddMemberInput:
    group_id: strawberry.ID
    user_id: strawberry.ID
    role: Role = Role.MEMBER
    weight: int = 1
    joined_on: date | None = None
    idempotency_key: str | None = None


@strawberry.input
class RemoveMemberInput:
    group_id: strawberry.ID
    user_id: strawberry.ID
    left_on: date | None = None
    idempotency_key: str | None = None


CreateGroupPayload = Annotated[Outcome, strawberry.union("CreateGroupPayload")]
AddMemberPayload = Annotated[Outcome, strawberry.union("AddMemberPayload")]
RemoveMemberPayload = Annotated[Outcome, strawberry.union("RemoveMemberPayload")]


@strawberry.type
class GroupsMutation:
    @strawberry.mutation(description="Create a group; the caller becomes its owner.")
    async def create_group(self, info: Info, input: CreateGroupInput) -> CreateGroupPayload:
        return await run_command(
            info,
            SCOPE,
            lambda: CreateGroup(
                name=input.name,
                currency=input.currency,
                started_on=input.started_on,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(description="Add a registered user to a group (owners and admins).")
    async def add_member(self, info: Info, input: AddMemberInput) -> AddMemberPayload:
        return await run_command(
            info,
            SCOPE,
            lambda: AddMember(
                group_id=uuid_of(input.group_id, "Group", field="group_id"),
                user_id=uuid_of(input.user_id, "User", field="user_id"),
                role=input.role.value,
                weight=input.weight,
                joined_on=input.joined_on,
                idempotency_key=input.idempotency_key,
            ),
        )

    @strawberry.mutation(description="End a membership (managers, or members leaving).")
    async def remove_member(self, info: Info, input: RemoveMemberInput) -> RemoveMemberPayload:
        return await run_command(
            info,
            SCOPE,
            lambda: RemoveMember(
                group_id=uuid_of(input.group_id, "Group", field="group_id"),
                user_id=uuid_of(input.user_id, "User", field="user_id"),
                left_on=input.left_on,
                idempotency_key=input.idempotency_key,
            ),
        )
