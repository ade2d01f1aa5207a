"""``read.splits``: every requested split of a period, and how it ended.

A split's events form one stream (requested, then completed or failed), so the later events
update the row the request created.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.splitting import (
    SplitCompleted,
    SplitFailed,
    SplitInvoiceRequested,
    SplitRequested,
)
from aequatio.projections.base import Projection
from aequatio.projections.common import json_list, json_object, upsert
from aequatio.projections.tables import splits


class Splits(Projection):
    name = "splits"
    patterns = ("splitting.split.*",)
    tables = (splits,)

    async def apply(
        self, connection: AsyncConnection, envelope: Envelope, payload: EventPayload
    ) -> None:
        match payload:
            case SplitRequested():
                await connection.execute(
                    upsert(splits, _requested(envelope, payload), ("split_id",))
                )
            case SplitInvoiceRequested():
                await connection.execute(
                    update(splits)
                    .where(splits.c.split_id == envelope.aggregate_id)
                    .values(issue_invoice=True)
                )
            case SplitCompleted():
                await _update(connection, envelope, _completed(payload))
            case SplitFailed():
                await _update(
                    connection,
                    envelope,
                    {
                        "status": "failed",
                        "failure_code": payload.reason_code,
                        "failure_reason": payload.reason,
                    },
                )


def _requested(envelope: Envelope, payload: SplitRequested) -> dict[str, Any]:
    return {
        "split_id": envelope.aggregate_id,
        "group_id": payload.group_id,
        "period_start": payload.period_start,
        "period_end": payload.period_end,
        "status": "requested",
        "requested_by": payload.requested_by,
        "requested_at": envelope.occurred_at,
        "completed_at": None,
        "issue_invoice": payload.issue_invoice,
        "conversion": json_object(payload.conversion),
        "per_user_amounts": None,
        "transfers": None,
        "converted": None,
        "adjustments": None,
        "failure_code": None,
        "failure_reason": None,
    }


def _completed(payload: SplitCompleted) -> dict[str, Any]:
    return {
        "status": "completed",
        "issue_invoice": payload.issue_invoice,
        "per_user_amounts": json_list(payload.per_user_amounts),
        "transfers": json_list(payload.transfers),
        "converted": json_object(payload.converted),
        "adjustments": json_list(payload.adjustments),
    }


async def _update(connection: AsyncConnection, envelope: Envelope, values: dict[str, Any]) -> None:
    """Record how the split ended; like the write model, a failure also sets ``completed_at``
    (the moment the split stopped being pending)."""
    await connection.execute(
        update(splits)
        .where(splits.c.split_id == envelope.aggregate_id)
        .values(**values, completed_at=envelope.occurred_at)
    )
