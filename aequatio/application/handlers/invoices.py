"""Issuing invoices from completed splits, voiding them and marking them paid.

Issuing and voiding lock the group row exclusively, so no expense change (which holds it in
share mode) can slip into a period while it is being closed or reopened.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from aequatio.application.commands import CreateInvoice, MarkInvoicePaid, VoidInvoice
from aequatio.application.handlers.common import acting_user_id, load_group
from aequatio.application.ports import LockMode
from aequatio.application.results import CommandResult
from aequatio.application.unit_of_work import UnitOfWork
from aequatio.domain.calendar import Period
from aequatio.domain.errors import Conflict, ErrorCode, NotFound
from aequatio.domain.invoice import Invoice


async def handle_create_invoice(cmd: CreateInvoice, uow: UnitOfWork) -> CommandResult:
    """Issue the period's invoice; asking again returns the invoice already issued."""
    actor = await acting_user_id(uow)
    group = await load_group(uow, cmd.group_id, lock=LockMode.UPDATE)
    group.require_active_member(actor)
    period = Period.of(cmd.period_start, cmd.period_end)
    existing = await uow.invoices.active_for(group.id, period)
    if existing is not None:
        return await uow.commit(existing)
    split = await uow.splits.latest_completed(group.id, period)
    if split is None:
        raise Conflict(
            ErrorCode.SPLIT_NOT_COMPLETED,
            "request a split of this period before invoicing it",
            field="period",
        )
    invoice = Invoice.issue(
        invoice_id=uuid4(),
        split=split,
        group=group,
        actor_id=actor,
        calendar=await uow.calendar.load(group.id),
        now=uow.context.now,
    )
    uow.invoices.add(invoice)
    uow.calendar.close(group.id, period.months(), invoice.id)
    return await uow.commit(invoice)


async def _load_invoice(uow: UnitOfWork, invoice_id: UUID) -> Invoice:
    invoice = await uow.invoices.get(invoice_id)
    if invoice is None:
        raise NotFound(ErrorCode.INVOICE_NOT_FOUND, "no such invoice", field="invoice_id")
    return invoice


async def handle_void_invoice(cmd: VoidInvoice, uow: UnitOfWork) -> CommandResult:
    actor = await acting_user_id(uow)
    invoice = await _load_invoice(uow, cmd.invoice_id)
    group = await load_group(uow, invoice.group_id, lock=LockMode.UPDATE)
    invoice.void(group=group, actor_id=actor, reason=cmd.reason, now=uow.context.now)
    uow.calendar.reopen(group.id, invoice.id)
    return await uow.commit(invoice)


async def handle_mark_invoice_paid(cmd: MarkInvoicePaid, uow: UnitOfWork) -> CommandResult:
    actor = await acting_user_id(uow)
    invoice = await _load_invoice(uow, cmd.invoice_id)
    group = await load_group(uow, invoice.group_id)
    invoice.mark_paid(group=group, actor_id=actor, now=uow.context.now)
    return await uow.commit(invoice)
