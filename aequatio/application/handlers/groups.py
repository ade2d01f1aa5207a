"""Creating groups and managing their members."""

from __future__ import annotations

from aequatio.application.commands import AddMember, CreateGroup, RemoveMember
from aequatio.application.handlers.common import acting_user_id, load_group
from aequatio.application.ids import new_id
from aequatio.application.results import CommandResult
from aequatio.application.unit_of_work import UnitOfWork
from aequatio.domain.errors import ErrorCode, NotFound
from aequatio.domain.group import Group, Role


async def handle_create_group(cmd: CreateGroup, uow: UnitOfWork) -> CommandResult:
    actor = await acting_user_id(uow)
    group = Group.create(
        group_id=new_id(),
        name=cmd.name,
        currency=cmd.currency,
        owner_id=actor,
        started_on=cmd.started_on or uow.context.now.date(),
        now=uow.context.now,
    )
    uow.groups.add(group)
    return await uow.commit(group)


async def handle_add_member(cmd: AddMember, uow: UnitOfWork) -> CommandResult:
    actor = await acting_user_id(uow)
    group = await load_group(uow, cmd.group_id)
    # Rights first: someone who may not add members learns nothing about the user or role.
    group.require_manager(actor)
    role = Role.parse(cmd.role)
    if not await uow.users.existing([cmd.user_id]):
        raise NotFound(ErrorCode.UNKNOWN_USER, "no such user", field="user_id")
    group.add_member(
        actor_id=actor,
        user_id=cmd.user_id,
        role=role,
        weight=cmd.weight,
        joined_on=cmd.joined_on or uow.context.now.date(),
    )
    return await uow.commit(group)


async def handle_remove_member(cmd: RemoveMember, uow: UnitOfWork) -> CommandResult:
    actor = await acting_user_id(uow)
    group = await load_group(uow, cmd.group_id)
    group.remove_member(
        actor_id=actor, user_id=cmd.user_id, left_on=cmd.left_on or uow.context.now.date()
    )
    return await uow.commit(group)
