"""Splits: the request, and once completed the outcome as JSON."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.application.ports import SplitRepository
from aequatio.domain.calendar import Period
from aequatio.domain.serialization import (
    adjustments_data,
    adjustments_from,
    balances_data,
    balances_from,
    conversion_data,
    conversion_from,
    revisions_data,
    revisions_from,
    transfers_data,
    transfers_from,
)
from aequatio.domain.split import Split, SplitStatus
from aequatio.domain.splitting import SplitOutcome
from aequatio.persistence import json_columns
from aequatio.persistence.concurrency import require_updated
from aequatio.persistence.tables import splits


def outcome_json(outcome: SplitOutcome) -> dict[str, Any]:
    return {
        "balances": json_columns.dump(balances_data(outcome.balances)),
        "transfers": json_columns.dump(transfers_data(outcome.transfers)),
        "converted": (
            json_columns.dump(balances_data(outcome.converted))
            if outcome.converted is not None
            else None
        ),
        "adjustments": json_columns.dump(adjustments_data(outcome.adjustments)),
        "revisions": json_columns.dump(revisions_data(outcome.revisions)),
    }


def outcome_from(data: dict[str, Any]) -> SplitOutcome:
    converted = data.get("converted")
    return SplitOutcome(
        balances=balances_from(json_columns.balances(data["balances"])),
        transfers=transfers_from(json_columns.transfers(data["transfers"])),
        converted=(
            balances_from(json_columns.balances(converted)) if converted is not None else None
        ),
        adjustments=adjustments_from(json_columns.adjustments(data["adjustments"])),
        revisions=revisions_from(json_columns.revisions(data["revisions"])),
    )


def _split(row: Any) -> Split:
    return Split(
        id=row.id,
        version=row.version,
        stored_version=row.version,
        group_id=row.group_id,
        period=Period(row.period_start, row.period_end),
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        conversion=(
            conversion_from(json_columns.conversion(row.conversion)) if row.conversion else None
        ),
        issue_invoice=row.issue_invoice,
        status=SplitStatus(row.status),
        outcome=outcome_from(row.outcome) if row.outcome is not None else None,
        completed_at=row.completed_at,
        failure_code=row.failure_code,
        failure_reason=row.failure_reason,
    )


class SqlSplitRepository(SplitRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__()
        self._connection = connection

    async def _one(self, query: Any) -> Split | None:
        row = (await self._connection.execute(query)).first()
        return self._track(_split(row)) if row else None

    def _of_period(self, group_id: UUID, period: Period) -> Any:
        return select(splits).where(
            splits.c.group_id == group_id,
            splits.c.period_start == period.start,
            splits.c.period_end == period.end,
        )

    async def get(self, split_id: UUID) -> Split | None:
        return await self._one(select(splits).where(splits.c.id == split_id))

    async def pending_for(self, group_id: UUID, period: Period) -> Split | None:
        return await self._one(
            self._of_period(group_id, period).where(splits.c.status == SplitStatus.REQUESTED.value)
        )

    async def latest_completed(self, group_id: UUID, period: Period) -> Split | None:
        return await self._one(
            self._of_period(group_id, period)
            .where(splits.c.status == SplitStatus.COMPLETED.value)
            .order_by(splits.c.completed_at.desc())
            .limit(1)
        )

    async def _save(self, split: Split) -> None:
        values = {
            "group_id": split.group_id,
            "period_start": split.period.start,
            "period_end": split.period.end,
            "status": split.status.value,
            "requested_by": split.requested_by,
            "requested_at": split.requested_at,
            "conversion": (
                conversion_data(split.conversion).model_dump(mode="json")
                if split.conversion
                else None
            ),
            "issue_invoice": split.issue_invoice,
            "outcome": outcome_json(split.outcome) if split.outcome is not None else None,
            "completed_at": split.completed_at,
            "failure_code": split.failure_code,
            "failure_reason": split.failure_reason,
            "version": split.version,
        }
        if split.is_new:
            await self._connection.execute(insert(splits).values(id=split.id, **values))
            return
        result = await self._connection.execute(
            update(splits)
            .where(splits.c.id == split.id, splits.c.version == split.stored_version)
            .values(**values)
        )
        require_updated(result, split)
