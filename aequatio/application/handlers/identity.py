"""Registering the person behind a token subject."""

from __future__ import annotations

from aequatio.application.commands import RegisterUser
from aequatio.application.ids import new_id
from aequatio.application.results import CommandResult
from aequatio.application.unit_of_work import UnitOfWork
from aequatio.domain.errors import Conflict, ErrorCode, Forbidden
from aequatio.domain.text import require_email
from aequatio.domain.user import User


async def handle_register_user(cmd: RegisterUser, uow: UnitOfWork) -> CommandResult:
    principal = uow.context.principal
    if principal.system:
        raise Forbidden(ErrorCode.FORBIDDEN, "system processes are not users")
    if await uow.users.get_by_subject(principal.subject) is not None:
        raise Conflict(ErrorCode.ALREADY_REGISTERED, "this identity is already registered")
    if await uow.users.email_in_use(require_email(cmd.email)):
        raise Conflict(ErrorCode.EMAIL_TAKEN, "this e-mail address is in use", field="email")
    user = User.register(
        user_id=new_id(),
        subject=principal.subject,
        name=cmd.name,
        email=cmd.email,
        now=uow.context.now,
    )
    uow.users.add(user)
    return await uow.commit(user)
