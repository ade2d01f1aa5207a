"""``read.activity``: the audit timeline, one row per event in event-store order.

Summaries name people by a short id, never by name: a name comes from another aggregate's
stream (``user.registered``), which may arrive after the event that mentions the person, so
the row would depend on delivery order. A reader joins ``read.users`` on ``actor_user_id`` to
show names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import ARRAY, Uuid, any_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.domain.errors import InvalidInput
from aequatio.domain.money import currency_of
from aequatio.events.base import EventPayload
from aequatio.events.billing import InvoiceCreated, InvoicePaid, InvoiceVoided
from aequatio.events.envelope import Envelope
from aequatio.events.expenses import ExpenseAmended, ExpenseCreated, ExpenseDeleted
from aequatio.events.groups import GroupCreated, MemberAdded, MemberRemoved
from aequatio.events.identity import UserRegistered
from aequatio.events.splitting import (
    SplitCompleted,
    SplitFailed,
    SplitInvoiceRequested,
    SplitRequested,
)
from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.persistence.tables import events_store
from aequatio.projections.base import Projection
from aequatio.projections.common import upsert_many
from aequatio.projections.tables import activity


@dataclass(frozen=True, slots=True)
class Entry:
    """What the timeline says about one event, besides the envelope's own metadata."""

    summary: str
    group_id: UUID | None = None
    actor_user_id: UUID | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Activity(Projection):
    name = "activity"
    patterns = ("#",)
    tables = (activity,)

    async def apply(
        self, connection: AsyncConnection, envelope: Envelope, payload: EventPayload
    ) -> None:
        await self.apply_many(connection, [(envelope, payload)])

    async def apply_many(
        self, connection: AsyncConnection, items: Sequence[tuple[Envelope, EventPayload]]
    ) -> None:
        """One read of the events' positions, one ``executemany`` of their entries."""
        positions = await _positions(connection, [envelope.event_id for envelope, _ in items])
        #: Groups named by earlier events of this batch (not in the table yet), by aggregate.
        named: dict[UUID, UUID] = {}
        entries = []
        for envelope, payload in items:
            entry = describe(envelope, payload)
            group_id = entry.group_id
            if group_id is None and envelope.aggregate_type != "user":
                group_id = named.get(envelope.aggregate_id) or await _group_of_aggregate(
                    connection, envelope.aggregate_id
                )
            if group_id is not None:
                named.setdefault(envelope.aggregate_id, group_id)
            entries.append(
                {
                    "event_id": envelope.event_id,
                    "position": positions[envelope.event_id],
                    "group_id": group_id,
                    "occurred_at": envelope.occurred_at,
                    "actor": envelope.actor,
                    "actor_user_id": entry.actor_user_id,
                    "event_type": envelope.event_type,
                    "aggregate_type": envelope.aggregate_type,
                    "aggregate_id": envelope.aggregate_id,
                    "summary": entry.summary,
                    "details": entry.details,
                }
            )
        await DriverSql(connection).execute_many(_ENTER, entries)


_ENTER = DriverStatement(
    upsert_many(
        activity,
        (
            "event_id",
            "position",
            "group_id",
            "occurred_at",
            "actor",
            "actor_user_id",
            "event_type",
            "aggregate_type",
            "aggregate_id",
            "summary",
            "details",
        ),
        ("event_id",),
    )
)
_POSITIONS = DriverStatement(
    select(events_store.c.event_id, events_store.c.position).where(
        events_store.c.event_id == any_(bindparam("event_ids", type_=ARRAY(Uuid)))
    )
)


async def _positions(connection: AsyncConnection, event_ids: list[UUID]) -> dict[UUID, int]:
    """The events' global positions: the timeline's order, whatever the delivery order."""
    rows = await DriverSql(connection).rows(_POSITIONS, {"event_ids": event_ids})
    return {row.event_id: int(row.position) for row in rows}


async def _group_of_aggregate(connection: AsyncConnection, aggregate_id: UUID) -> UUID | None:
    """The group an earlier event of the same aggregate named (an ``expense.amended`` in the v1
    seed shape has no ``group_id``; its ``expense.created`` was applied before it)."""
    return (
        await connection.execute(
            select(activity.c.group_id)
            .where(activity.c.aggregate_id == aggregate_id, activity.c.group_id.is_not(None))
            .limit(1)
        )
    ).scalar_one_or_none()


def describe(envelope: Envelope, payload: EventPayload) -> Entry:
    """Summary, group, acting user and details of one event."""
    match payload:
        case UserRegistered():
            return Entry(
                f"{payload.name} registered",
                actor_user_id=payload.user_id,
                details=_pick(payload, "name", "email"),
            )
        case GroupCreated() | MemberAdded() | MemberRemoved():
            return _describe_group(payload)
        case ExpenseCreated() | ExpenseAmended() | ExpenseDeleted():
            return _describe_expense(envelope, payload)
        case SplitRequested() | SplitInvoiceRequested() | SplitCompleted() | SplitFailed():
            return _describe_split(payload)
        case InvoiceCreated() | InvoicePaid() | InvoiceVoided():
            return _describe_invoice(envelope, payload)
    return Entry(f"{envelope.event_type} of {envelope.aggregate_type} {_short(envelope)}")


def _describe_group(payload: GroupCreated | MemberAdded | MemberRemoved) -> Entry:
    match payload:
        case GroupCreated():
            currency = f" ({payload.currency})" if payload.currency else ""
            return Entry(
                f"{_who(payload.owner_id)} created the group '{payload.name}'{currency}",
                payload.group_id,
                payload.owner_id,
                _pick(payload, "name", "currency", "owner_id"),
            )
        case MemberAdded():
            return Entry(
                f"{_who(payload.added_by)} added {_who(payload.user_id)} as {payload.role} "
                f"(weight {payload.weight}) from {payload.joined_on}",
                payload.group_id,
                payload.added_by,
                _pick(payload, "user_id", "role", "weight", "joined_on"),
            )
        case MemberRemoved():
            leaving = payload.removed_by == payload.user_id
            summary = (
                f"{_who(payload.user_id)} left the group on {payload.left_on}"
                if leaving
                else f"{_who(payload.removed_by)} removed {_who(payload.user_id)} "
                f"as of {payload.left_on}"
            )
            return Entry(
                summary, payload.group_id, payload.removed_by, _pick(payload, "user_id", "left_on")
            )


def _describe_expense(
    envelope: Envelope, payload: ExpenseCreated | ExpenseAmended | ExpenseDeleted
) -> Entry:
    match payload:
        case ExpenseCreated():
            late = next((p for p in payload.postings or [] if p.kind == "adjustment"), None)
            booked = f", booked as an adjustment in {late.month:%Y-%m}" if late else ""
            return Entry(
                f"{_who(payload.created_by)} added '{payload.description}' "
                f"({_money(payload.amount_cents, payload.currency)}){booked}",
                payload.group_id,
                payload.created_by,
                _pick(
                    payload, "amount_cents", "currency", "description", "category", "incurred_on"
                ),
            )
        case ExpenseAmended():
            name = f"'{payload.description}'" if payload.description else _short(envelope)
            return Entry(
                f"{_who(payload.amended_by)} amended {name}: {', '.join(sorted(payload.changes))}",
                payload.group_id,
                payload.amended_by,
                {
                    field: change.model_dump(mode="json")
                    for field, change in sorted(payload.changes.items())
                },
            )
        case ExpenseDeleted():
            return Entry(
                f"{_who(payload.deleted_by)} deleted the expense {_short(envelope)}",
                payload.group_id,
                payload.deleted_by,
                {"remaining_postings": len(payload.postings)},
            )


def _describe_split(
    payload: SplitRequested | SplitInvoiceRequested | SplitCompleted | SplitFailed,
) -> Entry:
    period = _period(payload.period_start, payload.period_end)
    match payload:
        case SplitRequested():
            into = f" in {payload.conversion.currency}" if payload.conversion else ""
            return Entry(
                f"{_who(payload.requested_by)} requested the split of {period}{into}",
                payload.group_id,
                payload.requested_by,
                _pick(payload, "period_start", "period_end", "conversion", "issue_invoice"),
            )
        case SplitInvoiceRequested():
            return Entry(
                f"{_who(payload.requested_by)} asked for the invoice of {period}",
                payload.group_id,
                payload.requested_by,
                _pick(payload, "period_start", "period_end"),
            )
        case SplitCompleted():
            transfers = len(payload.transfers or [])
            return Entry(
                f"The split of {period} completed with {transfers} transfer(s)",
                payload.group_id,
                details=_pick(payload, "period_start", "period_end", "transfers"),
            )
        case SplitFailed():
            return Entry(
                f"The split of {period} failed: {payload.reason}",
                payload.group_id,
                details=_pick(payload, "period_start", "period_end", "reason_code", "reason"),
            )


def _describe_invoice(
    envelope: Envelope, payload: InvoiceCreated | InvoicePaid | InvoiceVoided
) -> Entry:
    match payload:
        case InvoiceCreated():
            totals = ", ".join(_money(t.amount_cents, t.currency) for t in payload.total)
            return Entry(
                f"{_who(payload.issued_by)} issued the invoice for "
                f"{_period(payload.period_start, payload.period_end)} ({totals or 'nothing'})",
                payload.group_id,
                payload.issued_by,
                _pick(payload, "period_start", "period_end", "split_id", "currency", "total"),
            )
        case InvoicePaid():
            return Entry(
                f"{_who(payload.paid_by)} marked the invoice {_short(envelope)} paid",
                payload.group_id,
                payload.paid_by,
            )
        case InvoiceVoided():
            reason = f": {payload.reason}" if payload.reason else ""
            return Entry(
                f"{_who(payload.voided_by)} voided the invoice {_short(envelope)}{reason}",
                payload.group_id,
                payload.voided_by,
                _pick(payload, "reason"),
            )


def _pick(payload: EventPayload, *names: str) -> dict[str, Any]:
    """A compact subset of the payload as JSON (unset optional fields left out)."""
    return payload.model_dump(mode="json", include=set(names), exclude_none=True)


def _who(user_id: UUID | None) -> str:
    return "someone" if user_id is None else f"user {user_id.hex[:8]}"


def _short(envelope: Envelope) -> str:
    return envelope.aggregate_id.hex[:8]


def _money(amount_cents: int, currency: str) -> str:
    """``4250, "EUR"`` -> ``42.50 EUR``, with the currency's own number of decimals."""
    try:
        exponent = currency_of(currency).exponent
    except InvalidInput:
        return f"{amount_cents} minor units of {currency}"
    return f"{Decimal(amount_cents).scaleb(-exponent):.{exponent}f} {currency}"


def _period(start: date, end: date) -> str:
    """``[2026-01-01, 2026-03-01)`` -> ``2026-01..2026-02`` (whole months, end excluded)."""
    last = end - timedelta(days=1)
    if (start.year, start.month) == (last.year, last.month):
        return f"{start:%Y-%m}"
    return f"{start:%Y-%m}..{last:%Y-%m}"
