"""Helpers every handler shares: who is acting, and loading what a command names."""

from __future__ import annotations

from uuid import UUID

from aequatio.application.ports import LockMode
from aequatio.application.unit_of_work import UnitOfWork
from aequatio.domain.errors import ErrorCode, Forbidden, NotFound
from aequatio.domain.group import Group
from aequatio.domain.split import Split


async def acting_user_id(uow: UnitOfWork) -> UUID:
    """The registered user behind the principal; system processes act as nobody."""
    principal = uow.context.principal
    if principal.system:
        raise Forbidden(ErrorCode.FORBIDDEN, "system processes do not act as a user")
    user = await uow.users.get_by_subject(principal.subject)
    if user is None:
        raise Forbidden(ErrorCode.NOT_REGISTERED, "register before acting on groups")
    return user.id


def require_system(uow: UnitOfWork) -> None:
    if not uow.context.principal.system:
        raise Forbidden(ErrorCode.FORBIDDEN, "only aequatio's own workflows may do this")


async def load_group(
    uow: UnitOfWork, group_id: UUID, *, lock: LockMode | None = None, field: str = "group_id"
) -> Group:
    group = await uow.groups.get(group_id, lock=lock)
    if group is None:
        raise NotFound(ErrorCode.GROUP_NOT_FOUND, "no such group", field=field)
    return group


async def load_split(uow: UnitOfWork, split_id: UUID) -> Split:
    split = await uow.splits.get(split_id)
    if split is None:
        raise NotFound(ErrorCode.SPLIT_NOT_FOUND, "no such split", field="split_id")
    return split
