"""Per group and month: ledger revision and the invoice that closed it (``group_periods``)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.application.ports import CalendarRepository
from aequatio.domain.calendar import Month, PeriodCalendar
from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.persistence.tables import group_periods

# Built once with bind parameters, so their compiled form is cached; the rows go as an
# executemany. (A multi-row ``VALUES`` is compiled anew on every call: ~0.5 ms a command.)
_MONTHS = select(group_periods).where(group_periods.c.group_id == bindparam("group_id"))
_CLOSED_SINCE = DriverStatement(
    select(group_periods.c.month).where(
        group_periods.c.group_id == bindparam("group_id"),
        group_periods.c.month >= bindparam("since"),
        group_periods.c.invoice_id.is_not(None),
    )
)
_TOUCH = DriverStatement(
    pg_insert(group_periods).on_conflict_do_update(
        constraint="pk_group_periods", set_={"revision": group_periods.c.revision + 1}
    )
)
_CLOSE = pg_insert(group_periods)
_CLOSE = _CLOSE.on_conflict_do_update(
    constraint="pk_group_periods", set_={"invoice_id": _CLOSE.excluded.invoice_id}
)


class SqlCalendarRepository(CalendarRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__()
        self._connection = connection

    async def load(self, group_id: UUID) -> PeriodCalendar:
        rows = await self._connection.execute(_MONTHS, {"group_id": group_id})
        closed: set[Month] = set()
        revisions: dict[Month, int] = {}
        for row in rows:
            month = Month.parse(row.month)
            revisions[month] = row.revision
            if row.invoice_id is not None:
                closed.add(month)
        return PeriodCalendar(closed=frozenset(closed), revisions=revisions)

    async def closed_since(self, group_id: UUID, since: Month) -> PeriodCalendar:
        rows = await DriverSql(self._connection).rows(
            _CLOSED_SINCE, {"group_id": group_id, "since": since.first_day}
        )
        closed = frozenset(Month.parse(month) for (month,) in rows)
        return PeriodCalendar(closed=closed, since=since, knows_revisions=False)

    async def save_changes(self) -> None:
        for group_id, months in self.touched.items():
            # Months in ascending order so concurrent writers lock rows in the same order.
            rows = [
                {"group_id": group_id, "month": month.first_day, "revision": 1}
                for month in sorted(months)
            ]
            await DriverSql(self._connection).execute_many(_TOUCH, rows)
        for group_id, closing_months, invoice_id in self.closing:
            await self._connection.execute(
                _CLOSE,
                [
                    {
                        "group_id": group_id,
                        "month": month.first_day,
                        "revision": 0,
                        "invoice_id": invoice_id,
                    }
                    for month in sorted(closing_months)
                ],
            )
        for group_id, invoice_id in self.reopening:
            await self._connection.execute(
                update(group_periods)
                .where(
                    group_periods.c.group_id == group_id,
                    group_periods.c.invoice_id == invoice_id,
                )
                .values(invoice_id=None)
            )
