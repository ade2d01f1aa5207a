"""The one registry of command handlers: ``HANDLERS[type(command)](command, uow)``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aequatio.application import commands
from aequatio.application.handlers.expenses import (
    handle_add_expense,
    handle_amend_expense,
    handle_delete_expense,
)
from aequatio.application.handlers.groups import (
    handle_add_member,
    handle_create_group,
    handle_remove_member,
)
from aequatio.application.handlers.identity import handle_register_user
from aequatio.application.handlers.invoices import (
    handle_create_invoice,
    handle_issue_invoice,
    handle_mark_invoice_paid,
    handle_void_invoice,
)
from aequatio.application.handlers.splits import (
    handle_complete_split,
    handle_fail_split,
    handle_request_split,
)
from aequatio.application.results import CommandResult
from aequatio.application.unit_of_work import UnitOfWork

Handler = Callable[[Any, UnitOfWork], Awaitable[CommandResult]]

HANDLERS: dict[type[commands.Command], Handler] = {
    commands.RegisterUser: handle_register_user,
    commands.CreateGroup: handle_create_group,
    commands.AddMember: handle_add_member,
    commands.RemoveMember: handle_remove_member,
    commands.AddExpense: handle_add_expense,
    commands.AmendExpense: handle_amend_expense,
    commands.DeleteExpense: handle_delete_expense,
    commands.RequestSplit: handle_request_split,
    commands.CompleteSplit: handle_complete_split,
    commands.FailSplit: handle_fail_split,
    commands.IssueInvoice: handle_issue_invoice,
    commands.CreateInvoice: handle_create_invoice,
    commands.VoidInvoice: handle_void_invoice,
    commands.MarkInvoicePaid: handle_mark_invoice_paid,
}
