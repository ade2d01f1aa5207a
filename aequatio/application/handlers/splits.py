"""Requesting a period's split, and completing it (the split saga's command)."""

from __future__ import annotations

from aequatio.application.commands import CompleteSplit, FailSplit, RequestSplit
from aequatio.application.handlers.common import (
    acting_user_id,
    load_group,
    load_split,
    require_system,
)
from aequatio.application.ids import new_id
from aequatio.application.results import CommandResult
from aequatio.application.unit_of_work import UnitOfWork
from aequatio.domain.calendar import Period
from aequatio.domain.errors import Conflict, ErrorCode
from aequatio.domain.split import Split, SplitStatus
from aequatio.domain.splitting import Conversion, SplitImpossible, compute_split


async def handle_request_split(cmd: RequestSplit, uow: UnitOfWork) -> CommandResult:
    actor = await acting_user_id(uow)
    group = await load_group(uow, cmd.group_id)
    # Rights first: a non-member learns nothing about the group's pending splits.
    group.require_active_member(actor)
    period = Period.of(cmd.period_start, cmd.period_end)
    conversion = (
        Conversion.parse(cmd.conversion.currency, dict(cmd.conversion.rates))
        if cmd.conversion is not None
        else None
    )
    pending = await uow.splits.pending_for(group.id, period)
    if pending is not None:
        if (pending.conversion, pending.issue_invoice) != (conversion, cmd.issue_invoice):
            raise Conflict(
                ErrorCode.SPLIT_PENDING,
                "a split of this period with other options is being computed",
                field="period",
            )
        return await uow.commit(pending)
    split = Split.request(
        split_id=new_id(),
        group=group,
        actor_id=actor,
        period=period,
        conversion=conversion,
        issue_invoice=cmd.issue_invoice,
        now=uow.context.now,
    )
    uow.splits.add(split)
    return await uow.commit(split)


async def handle_complete_split(cmd: CompleteSplit, uow: UnitOfWork) -> CommandResult:
    """Compute the split from the write model; a redelivered request changes nothing."""
    require_system(uow)
    split = await load_split(uow, cmd.split_id)
    if split.status is not SplitStatus.REQUESTED:
        return await uow.commit(split)
    # The calendar is read before the postings: a change committing in between is then seen
    # by the postings but not by the revisions, which makes the split stale (never silently
    # incomplete) when an invoice is issued from it.
    calendar = await uow.calendar.load(split.group_id)
    postings = await uow.expenses.postings_for(split.group_id, split.period)
    group = await load_group(uow, split.group_id)
    try:
        outcome = compute_split(
            split.period,
            postings,
            calendar=calendar,
            conversion=split.conversion,
            members={membership.user_id for membership in group.memberships},
        )
    except SplitImpossible as impossible:
        split.fail(code=impossible.code.value, reason=impossible.message, now=uow.context.now)
    else:
        split.complete(outcome, now=uow.context.now)
    return await uow.commit(split)


async def handle_fail_split(cmd: FailSplit, uow: UnitOfWork) -> CommandResult:
    """End a split that could not complete (a timeout); a finished split stays as it is."""
    require_system(uow)
    split = await load_split(uow, cmd.split_id)
    if split.status is SplitStatus.REQUESTED:
        split.fail(code=cmd.reason_code, reason=cmd.reason, now=uow.context.now)
    return await uow.commit(split)
