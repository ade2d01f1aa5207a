"""Every query the API runs: SELECTs on the projection tables of schema ``read``, nothing else.

The API's read path needs no more than SELECT on ``read``; a test runs every query with a
statement recorder and fails if any touches another schema.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import ARRAY, Row, and_, bindparam, func, select, tuple_
from sqlalchemy import Uuid as UUIDType
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.projections.tables import (
    activity,
    expenses,
    group_members,
    group_totals,
    groups,
    invoices,
    monthly_balances,
    processed_events,
    splits,
    users,
)

Rows = list[Row[Any]]


@dataclass(frozen=True, slots=True)
class Membership:
    """A row of ``read.group_members``."""

    group_id: UUID
    user_id: UUID
    joined_on: date
    role: str
    weight: int
    left_on: date | None


# The statements nearly every request runs, built once with bind parameters: only the
# parameters are bound per call (building them was about a third of their cost).
_USER_BY_SUBJECT = DriverStatement(select(users).where(users.c.subject == bindparam("subject")))
#: ``= ANY($1)``: one statement whatever the number of ids (``IN`` renders one per id).
_USERS_BY_ID = DriverStatement(
    select(users).where(users.c.user_id == func.any(bindparam("user_ids", type_=ARRAY(UUIDType))))
)
_ACTIVE_MEMBERSHIP = select(group_members).where(
    group_members.c.group_id == bindparam("group_id"),
    group_members.c.user_id == bindparam("user_id"),
    group_members.c.left_on.is_(None),
)
_MEMBER_COLUMNS = tuple(column.name for column in group_members.c)
#: The caller and their current membership of a group in one round trip (every read of a
#: group starts with both: two statements were a quarter of a ``balances`` query's).
_ACTOR_AND_MEMBERSHIP = DriverStatement(
    select(users, *(group_members.c[name].label(f"member_{name}") for name in _MEMBER_COLUMNS))
    .select_from(
        users.outerjoin(
            group_members,
            and_(
                group_members.c.user_id == users.c.user_id,
                group_members.c.group_id == bindparam("group_id"),
                group_members.c.left_on.is_(None),
            ),
        )
    )
    .where(users.c.subject == bindparam("subject"))
)
_BALANCES = DriverStatement(
    select(
        monthly_balances.c.user_id,
        monthly_balances.c.currency,
        func.sum(monthly_balances.c.paid_cents).label("paid_cents"),
        func.sum(monthly_balances.c.owed_cents).label("owed_cents"),
        func.sum(monthly_balances.c.net_cents).label("net_cents"),
    )
    .where(
        monthly_balances.c.group_id == bindparam("group_id"),
        monthly_balances.c.month >= bindparam("start"),
        monthly_balances.c.month < bindparam("end"),
    )
    .group_by(monthly_balances.c.user_id, monthly_balances.c.currency)
    .order_by(monthly_balances.c.currency, monthly_balances.c.user_id)
)


class _Lease:
    """One pooled connection for the reads of one request: taken at the first, given back at
    the end. Reads of the request that run side by side take turns on it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._lock = asyncio.Lock()
        self._connection: AsyncConnection | None = None
        self._sql: DriverSql | None = None
        self.ended = False

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[tuple[AsyncConnection, DriverSql]]:
        async with self._lock:
            if self._sql is not None and self._sql.closed():
                # Closed by the server since the last read (as the pool checks at checkout).
                await self._give_back()
            if self._connection is None or self._sql is None:
                self._connection = await self._engine.connect()
                self._sql = DriverSql(self._connection)
            try:
                yield self._connection, self._sql
            except BaseException:
                # A failed statement may have lost the connection: the next read takes another.
                await self._give_back()
                raise

    async def end(self) -> None:
        self.ended = True
        await self.set_aside()

    async def set_aside(self) -> None:
        """Give the connection back now; the next read takes one again."""
        async with self._lock:
            await self._give_back()

    async def _give_back(self) -> None:
        connection, self._connection, self._sql = self._connection, None, None
        if connection is not None:
            await connection.close()


#: The lease of the request being served, if it reads through one (``ReadStore.reading``).
_LEASE: ContextVar[_Lease | None] = ContextVar("read_lease", default=None)


class ReadStore:
    def __init__(self, engine: AsyncEngine) -> None:
        # Each query is one statement: in autocommit it is sent alone, where a transaction
        # wrapped it in BEGIN and ROLLBACK (two more round trips per statement, for the same
        # snapshot of one statement).
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """The reads inside share one pooled connection (taken at the first read).

        A checkout and its return cost about 190 us of CPU (measured), as much as a
        statement: a request's reads share one. Outside, each read takes a connection of its
        own (a subscription's pushes, background checks). Whoever takes another connection
        inside (a command's unit of work) calls :meth:`set_aside` first, so that a request
        never holds one connection while it waits for another from the same pool.
        """
        if _LEASE.get() is not None:
            yield
            return
        lease = _Lease(self._engine)
        token = _LEASE.set(lease)
        try:
            yield
        finally:
            _LEASE.reset(token)
            await lease.end()

    async def set_aside(self) -> None:
        """The request's read connection back to the pool until its next read (no-op outside
        ``reading``)."""
        lease = _LEASE.get()
        if lease is not None:
            await lease.set_aside()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[tuple[AsyncConnection, DriverSql]]:
        lease = _LEASE.get()
        if lease is not None and not lease.ended:
            async with lease.connection() as leased:
                yield leased
            return
        async with self._engine.connect() as connection:
            yield connection, DriverSql(connection)

    async def _all(self, query: Any, parameters: dict[str, Any] | None = None) -> Rows:
        async with self._connection() as (connection, _):
            return list((await connection.execute(query, parameters)).all())

    async def _one(self, query: Any, parameters: dict[str, Any] | None = None) -> Row[Any] | None:
        async with self._connection() as (connection, _):
            return (await connection.execute(query, parameters)).first()

    async def _fetch(self, statement: DriverStatement, parameters: dict[str, Any]) -> list[Any]:
        """The hot statements, straight on the driver (``persistence.driver``): their rows are
        named tuples, read by attribute like SQLAlchemy's."""
        async with self._connection() as (_, sql):
            return await sql.rows(statement, parameters)

    # -- people and groups ------------------------------------------------------------------

    async def user_by_subject(self, subject: str) -> Any | None:
        rows = await self._fetch(_USER_BY_SUBJECT, {"subject": subject})
        return rows[0] if rows else None

    async def users_by_id(self, user_ids: Sequence[UUID]) -> list[Any]:
        return await self._fetch(_USERS_BY_ID, {"user_ids": list(user_ids)})

    async def active_membership(self, group_id: UUID, user_id: UUID) -> Membership | None:
        row = await self._one(_ACTIVE_MEMBERSHIP, {"group_id": group_id, "user_id": user_id})
        return Membership(**row._mapping) if row is not None else None

    async def actor_and_membership(
        self, subject: str, group_id: UUID
    ) -> tuple[Any | None, Membership | None]:
        """The user with ``subject`` (``None``: not registered) and their current membership
        of the group (``None``: not a member), in one statement."""
        rows = await self._fetch(_ACTOR_AND_MEMBERSHIP, {"subject": subject, "group_id": group_id})
        if not rows:
            return None, None
        row = rows[0]
        if row.member_group_id is None:
            return row, None
        fields = {name: getattr(row, f"member_{name}") for name in _MEMBER_COLUMNS}
        return row, Membership(**fields)

    async def share_a_group(self, user_id: UUID, other_id: UUID) -> bool:
        """True when both people are (or were) members of one group."""
        mine = select(group_members.c.group_id).where(group_members.c.user_id == user_id)
        query = select(group_members.c.group_id).where(
            group_members.c.user_id == other_id, group_members.c.group_id.in_(mine)
        )
        return await self._one(query.limit(1)) is not None

    async def groups_by_id(self, group_ids: Sequence[UUID]) -> Rows:
        return await self._all(select(groups).where(groups.c.group_id.in_(list(group_ids))))

    async def groups_of(self, user_id: UUID) -> Rows:
        mine = select(group_members.c.group_id).where(
            group_members.c.user_id == user_id, group_members.c.left_on.is_(None)
        )
        return await self._all(
            select(groups).where(groups.c.group_id.in_(mine)).order_by(groups.c.created_at)
        )

    async def members_of(self, group_ids: Sequence[UUID]) -> Rows:
        return await self._all(
            select(group_members)
            .where(group_members.c.group_id.in_(list(group_ids)))
            .order_by(group_members.c.joined_on, group_members.c.user_id)
        )

    async def totals_of(self, group_ids: Sequence[UUID]) -> Rows:
        return await self._all(
            select(group_totals)
            .where(group_totals.c.group_id.in_(list(group_ids)))
            .order_by(group_totals.c.currency)
        )

    # -- expenses ---------------------------------------------------------------------------

    async def expenses_page(
        self,
        group_id: UUID,
        *,
        start: date | None,
        end: date | None,
        after: tuple[date, UUID] | None,
        limit: int,
    ) -> Rows:
        """Newest first by ``(incurred_on, expense_id)``, keyset-paginated; deleted left out."""
        query = select(expenses).where(
            expenses.c.group_id == group_id, expenses.c.status == "active"
        )
        if start is not None:
            query = query.where(expenses.c.incurred_on >= start)
        if end is not None:
            query = query.where(expenses.c.incurred_on < end)
        if after is not None:
            query = query.where(
                tuple_(expenses.c.incurred_on, expenses.c.expense_id) < tuple_(*after)
            )
        return await self._all(
            query.order_by(expenses.c.incurred_on.desc(), expenses.c.expense_id.desc()).limit(limit)
        )

    async def expenses_by_id(self, expense_ids: Sequence[UUID]) -> Rows:
        return await self._all(select(expenses).where(expenses.c.expense_id.in_(list(expense_ids))))

    # -- balances, splits, invoices ---------------------------------------------------------

    async def balances(self, group_id: UUID, start: date, end: date) -> list[Any]:
        """Paid, owed and net per member and currency, summed over the period's months."""
        return await self._fetch(_BALANCES, {"group_id": group_id, "start": start, "end": end})

    async def splits_of(self, group_id: UUID, start: date | None, end: date | None) -> Rows:
        query = select(splits).where(splits.c.group_id == group_id)
        if start is not None and end is not None:
            query = query.where(splits.c.period_start >= start, splits.c.period_end <= end)
        return await self._all(query.order_by(splits.c.requested_at.desc()))

    async def splits_by_id(self, split_ids: Sequence[UUID]) -> Rows:
        return await self._all(select(splits).where(splits.c.split_id.in_(list(split_ids))))

    async def invoices_of(self, group_id: UUID) -> Rows:
        return await self._all(
            select(invoices)
            .where(invoices.c.group_id == group_id)
            .order_by(invoices.c.period_start.desc(), invoices.c.issued_at.desc())
        )

    async def invoices_by_id(self, invoice_ids: Sequence[UUID]) -> Rows:
        return await self._all(select(invoices).where(invoices.c.invoice_id.in_(list(invoice_ids))))

    # -- activity ---------------------------------------------------------------------------

    async def activity_page(self, group_id: UUID, *, before: int | None, limit: int) -> Rows:
        """The group's timeline, newest first, keyset-paginated on the event position."""
        query = select(activity).where(activity.c.group_id == group_id)
        if before is not None:
            query = query.where(activity.c.position < before)
        return await self._all(query.order_by(activity.c.position.desc()).limit(limit))

    async def activity_by_id(self, event_ids: Sequence[UUID]) -> Rows:
        return await self._all(select(activity).where(activity.c.event_id.in_(list(event_ids))))

    # -- read your writes -------------------------------------------------------------------

    async def applied(self, wanted: Iterable[tuple[str, UUID]]) -> set[tuple[str, UUID]]:
        """Which of the ``(consumer, event_id)`` pairs the projections have applied."""
        pairs = list(wanted)
        if not pairs:
            return set()
        rows = await self._all(
            select(processed_events.c.consumer, processed_events.c.event_id).where(
                tuple_(processed_events.c.consumer, processed_events.c.event_id).in_(pairs)
            )
        )
        return {(row.consumer, row.event_id) for row in rows}
