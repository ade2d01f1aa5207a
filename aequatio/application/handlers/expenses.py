"""Adding, amending and deleting expenses.

Each takes the group row in share mode: concurrent expense changes proceed side by side, but
not while an invoice closes a period or membership changes (those lock it exclusively).
"""

from __future__ import annotations

from uuid import UUID

from aequatio.application.commands import AddExpense, AmendExpense, DeleteExpense
from aequatio.application.handlers.common import acting_user_id, load_group
from aequatio.application.ids import new_id
from aequatio.application.ports import LockMode
from aequatio.application.results import CommandResult
from aequatio.application.unit_of_work import UnitOfWork
from aequatio.domain.calendar import Month
from aequatio.domain.errors import ErrorCode, NotFound
from aequatio.domain.expense import Expense


async def handle_add_expense(cmd: AddExpense, uow: UnitOfWork) -> CommandResult:
    actor = await acting_user_id(uow)
    group = await load_group(uow, cmd.group_id, lock=LockMode.SHARE)
    # A new expense books into its own month or the first open one after it.
    calendar = await uow.calendar.closed_since(group.id, Month.of(cmd.incurred_on))
    expense = Expense.add(
        expense_id=new_id(),
        group=group,
        actor_id=actor,
        amount=cmd.amount_cents,
        currency=cmd.currency,
        description=cmd.description,
        category=cmd.category,
        incurred_on=cmd.incurred_on,
        payers=cmd.payers,
        rule=cmd.split,
        calendar=calendar,
        now=uow.context.now,
    )
    uow.expenses.add(expense)
    uow.calendar.touch(group.id, (posting.month for posting in expense.postings))
    return await uow.commit(expense)


async def _load_expense(uow: UnitOfWork, expense_id: UUID) -> Expense:
    expense = await uow.expenses.get(expense_id)
    if expense is None:
        raise NotFound(ErrorCode.EXPENSE_NOT_FOUND, "no such expense", field="expense_id")
    return expense


async def handle_amend_expense(cmd: AmendExpense, uow: UnitOfWork) -> CommandResult:
    actor = await acting_user_id(uow)
    expense = await _load_expense(uow, cmd.expense_id)
    group = await load_group(uow, expense.group_id, lock=LockMode.SHARE)
    calendar = await uow.calendar.load(group.id)
    touched = expense.amend(
        group=group,
        actor_id=actor,
        expected_version=cmd.expected_version,
        calendar=calendar,
        now=uow.context.now,
        amount=cmd.amount_cents,
        currency=cmd.currency,
        description=cmd.description,
        category=cmd.category,
        incurred_on=cmd.incurred_on,
        payers=cmd.payers,
        rule=cmd.split,
    )
    uow.calendar.touch(group.id, touched)
    return await uow.commit(expense)


async def handle_delete_expense(cmd: DeleteExpense, uow: UnitOfWork) -> CommandResult:
    actor = await acting_user_id(uow)
    expense = await _load_expense(uow, cmd.expense_id)
    group = await load_group(uow, expense.group_id, lock=LockMode.SHARE)
    calendar = await uow.calendar.load(group.id)
    touched = expense.delete(
        group=group, actor_id=actor, expected_version=cmd.expected_version, calendar=calendar
    )
    uow.calendar.touch(group.id, touched)
    return await uow.commit(expense)
