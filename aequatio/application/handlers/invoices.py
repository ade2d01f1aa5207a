"""Issuing invoices from completed splits, voiding them and marking them paid.

Issuing and voiding lock the group row exclusively, so no expense change (which holds it in
share mode) can slip into a period while it is being closed or reopened.
"""

from __future__ import annotations

from uuid import UUID

from aequatio.application.commands import (
    CreateInvoice,
    IssueInvoice,
    MarkInvoicePaid,
    VoidInvoice,
)
from aequatio.application.handlers.common import (
    acting_user_id,
    load_group,
    load_split,
    require_system,
)
from aequatio.application.ids import new_id
from aequatio.application.ports import LockMode
from aequatio.application.results import CommandResult
from aequatio.application.unit_of_work import UnitOfWork
from aequatio.domain.calendar import Period, PeriodCalendar
from aequatio.domain.errors import Conflict, ErrorCode, NotFound
from aequatio.domain.group import Group
from aequatio.domain.invoice import Invoice
from aequatio.domain.split import Split, SplitStatus


async def handle_create_invoice(cmd: CreateInvoice, uow: UnitOfWork) -> CommandResult:
    """Invoice a period: at once from a current completed split, else as soon as a split does.

    Asking again returns the invoice already issued, or the split still being computed.
    """
    actor = await acting_user_id(uow)
    group = await load_group(uow, cmd.group_id, lock=LockMode.UPDATE)
    group.require_active_member(actor)
    period = Period.of(cmd.period_start, cmd.period_end)
    existing = await uow.invoices.active_for(group.id, period)
    if existing is not None:
        return await uow.commit(existing)
    calendar = await uow.calendar.load(group.id)
    if any(calendar.is_closed(month) for month in period.months()):
        raise Conflict(
            ErrorCode.PERIOD_CLOSED, "part of this period is already invoiced", field="period"
        )
    split = await uow.splits.latest_completed(group.id, period)
    if split is not None and split.is_current(calendar):
        return await _issue(uow, split, group, actor, calendar)
    pending = await uow.splits.pending_for(group.id, period)
    if pending is not None:
        pending.request_invoice(actor_id=actor)
        return await uow.commit(pending)
    fresh = Split.request(
        split_id=new_id(),
        group=group,
        actor_id=actor,
        period=period,
        conversion=split.conversion if split is not None else None,
        issue_invoice=True,
        now=uow.context.now,
    )
    uow.splits.add(fresh)
    return await uow.commit(fresh)


async def handle_issue_invoice(cmd: IssueInvoice, uow: UnitOfWork) -> CommandResult:
    """The invoice workflow's step: issue from the completed split, or ask for a fresh split
    when expenses changed since it was computed. Redelivery is harmless."""
    require_system(uow)
    split = await load_split(uow, cmd.split_id)
    group = await load_group(uow, split.group_id, lock=LockMode.UPDATE)
    existing = await uow.invoices.active_for(group.id, split.period)
    if existing is not None:
        return await uow.commit(existing)
    if split.status is not SplitStatus.COMPLETED:
        raise Conflict(ErrorCode.SPLIT_NOT_COMPLETED, "the split has not completed")
    calendar = await uow.calendar.load(group.id)
    if split.is_current(calendar):
        return await _issue(uow, split, group, split.requested_by, calendar)
    pending = await uow.splits.pending_for(group.id, split.period)
    if pending is not None:
        pending.request_invoice(actor_id=split.requested_by)
        return await uow.commit(pending)
    fresh = Split.again(split, split_id=new_id(), now=uow.context.now)
    uow.splits.add(fresh)
    return await uow.commit(fresh)


async def _issue(
    uow: UnitOfWork, split: Split, group: Group, actor: UUID, calendar: PeriodCalendar
) -> CommandResult:
    invoice = Invoice.issue(
        invoice_id=new_id(),
        split=split,
        group=group,
        actor_id=actor,
        calendar=calendar,
        now=uow.context.now,
    )
    uow.invoices.add(invoice)
    uow.calendar.close(group.id, split.period.months(), invoice.id)
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
