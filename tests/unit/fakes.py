"""In-memory fakes of the application ports, with the PostgreSQL adapters' semantics.

``InMemoryDatabase`` holds the committed state. Every ``FakeUnitOfWork`` reads deep copies of
committed rows (plus its own staged writes) and stages what ``commit`` saves; only
``_commit`` writes the staged rows back, so nothing becomes visible to a later unit of work
unless ``commit`` ran. Like the SQL adapters:

* saving an aggregate that is not new locks its row until the unit of work ends (a
  concurrent writer waits) and checks its stored version (``VERSION_CONFLICT``, field
  ``expected_version``), again when the transaction commits;
* the unique constraints that ``persistence.concurrency`` maps to conflicts are enforced
  (subject, e-mail, one pending split and one active invoice per period, and one event per
  aggregate version);
* calendar touches bump month revisions (a new month starts at 1), closing sets the closing
  invoice per month (a new month starts at revision 0), reopening clears it;
* idempotency keys remember the result as JSON, as the table does, and a claim holds the
  key until its unit of work ends (the SQL store's advisory lock), so a concurrent retry
  waits and then replays.

Every read and write yields to the event loop once, so units of work run with
``asyncio.gather`` interleave the way concurrent transactions do.

``Harness`` builds a ``MessageBus`` over the fakes with a controllable ``Clock``.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar
from uuid import UUID

import pytest

from aequatio.application import commands
from aequatio.application.bus import MessageBus
from aequatio.application.context import CommandContext, Principal
from aequatio.application.ports import (
    CalendarRepository,
    ExpenseRepository,
    GroupRepository,
    IdempotencyClaim,
    IdempotencyStore,
    InvoiceRepository,
    LockMode,
    SplitRepository,
    StoredOutcome,
    UserRepository,
)
from aequatio.application.results import CommandResult
from aequatio.application.unit_of_work import UnitOfWork
from aequatio.domain.aggregate import Aggregate
from aequatio.domain.calendar import Month, Period, PeriodCalendar
from aequatio.domain.errors import Conflict, DomainError, ErrorCode
from aequatio.domain.expense import Expense
from aequatio.domain.group import Group
from aequatio.domain.invoice import Invoice, InvoiceStatus
from aequatio.domain.ledger import Posting
from aequatio.domain.split import Split, SplitStatus
from aequatio.domain.user import User
from aequatio.events.envelope import Envelope

A = TypeVar("A", bound=Aggregate)

#: How long a unit of work waits for a lock another one holds before calling it a deadlock.
LOCK_TIMEOUT_SECONDS = 2.0

#: Noon on a mid-month weekday: far from any month boundary in every time zone.
DEFAULT_NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


# -- the committed state -----------------------------------------------------------------


@dataclass
class PeriodRow:
    """One ``group_periods`` row: the month's ledger revision and the invoice closing it."""

    revision: int = 0
    invoice_id: UUID | None = None


@dataclass
class Snapshot:
    """A deep copy of everything committed, comparable with ``==``."""

    users: dict[UUID, User]
    groups: dict[UUID, Group]
    expenses: dict[UUID, Expense]
    splits: dict[UUID, Split]
    invoices: dict[UUID, Invoice]
    periods: dict[tuple[UUID, Month], PeriodRow]
    events: list[Envelope]
    idempotency: dict[tuple[str, str], StoredOutcome]


@dataclass
class InMemoryDatabase:
    """Committed state shared by every unit of work built over it."""

    users: dict[UUID, User] = field(default_factory=dict)
    groups: dict[UUID, Group] = field(default_factory=dict)
    expenses: dict[UUID, Expense] = field(default_factory=dict)
    splits: dict[UUID, Split] = field(default_factory=dict)
    invoices: dict[UUID, Invoice] = field(default_factory=dict)
    periods: dict[tuple[UUID, Month], PeriodRow] = field(default_factory=dict)
    #: The event store in append order (the outbox holds the same rows).
    events: list[Envelope] = field(default_factory=list)
    idempotency: dict[tuple[str, str], StoredOutcome] = field(default_factory=dict)
    #: Every ``groups.get`` with the lock it asked for, committed or not.
    group_locks: list[tuple[UUID, LockMode | None]] = field(default_factory=list)
    #: Row locks and idempotency-key locks, held by a unit of work until it ends.
    locks: dict[object, asyncio.Lock] = field(default_factory=dict)
    commits: int = 0
    rollbacks: int = 0

    def unit_of_work(self, context: CommandContext) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, context)

    def snapshot(self) -> Snapshot:
        return Snapshot(
            users=copy.deepcopy(self.users),
            groups=copy.deepcopy(self.groups),
            expenses=copy.deepcopy(self.expenses),
            splits=copy.deepcopy(self.splits),
            invoices=copy.deepcopy(self.invoices),
            periods=copy.deepcopy(self.periods),
            events=list(self.events),
            idempotency=dict(self.idempotency),
        )

    def stream(self, aggregate_id: UUID) -> list[Envelope]:
        """One aggregate's events in version order."""
        return sorted(
            (e for e in self.events if e.aggregate_id == aggregate_id),
            key=lambda e: e.aggregate_version,
        )

    def events_of(self, result: CommandResult) -> list[Envelope]:
        """The events a command wrote, in the order the result lists them."""
        by_id = {envelope.event_id: envelope for envelope in self.events}
        return [by_id[event_id] for event_id in result.event_ids]

    def calendar(self, group_id: UUID) -> PeriodCalendar:
        return _calendar_of(self.periods, group_id)


def _calendar_of(
    rows: dict[tuple[UUID, Month], PeriodRow], group_id: UUID, since: Month | None = None
) -> PeriodCalendar:
    mine = {
        month: row
        for (group, month), row in rows.items()
        if group == group_id and (since is None or month >= since)
    }
    return PeriodCalendar(
        closed=frozenset(month for month, row in mine.items() if row.invoice_id is not None),
        revisions={month: row.revision for month, row in mine.items()},
        since=since,
    )


# -- one table inside one transaction ------------------------------------------------------


async def _round_trip() -> None:
    """A database call: give other units of work a chance to run."""
    await asyncio.sleep(0)


def _version_conflict(aggregate_type: str) -> Conflict:
    """What ``persistence.concurrency.require_updated`` raises when no row was updated."""
    return Conflict(
        ErrorCode.VERSION_CONFLICT,
        f"this {aggregate_type} changed since it was read; reload and retry",
        field="expected_version",
    )


class _Locks:
    """The locks one transaction holds until it ends (rows it updated, keys it claimed)."""

    def __init__(self, db: InMemoryDatabase) -> None:
        self._db = db
        self._held: dict[object, asyncio.Lock] = {}

    async def acquire(self, name: object) -> None:
        if name in self._held:
            return
        lock = self._db.locks.setdefault(name, asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), LOCK_TIMEOUT_SECONDS)
        except TimeoutError:
            # PostgreSQL would report a deadlock; waiting forever would hide the mistake.
            raise AssertionError(f"waited too long for lock {name!r}: a deadlock?") from None
        self._held[name] = lock

    def release_all(self) -> None:
        for lock in self._held.values():
            lock.release()
        self._held = {}


class _Table(Generic[A]):
    """Committed rows plus the rows this transaction wrote (read committed, own writes)."""

    def __init__(self, committed: dict[UUID, A], locks: _Locks) -> None:
        self._committed = committed
        self._locks = locks
        #: id -> (version the committed row must still have, 0 for an insert; new row)
        self.staged: dict[UUID, tuple[int, A]] = {}

    def _current(self, row_id: UUID) -> A | None:
        if row_id in self.staged:
            return self.staged[row_id][1]
        return self._committed.get(row_id)

    def rows(self) -> list[A]:
        """Every visible row (not copies: for filtering only)."""
        merged = dict(self._committed)
        merged.update({row_id: row for row_id, (_, row) in self.staged.items()})
        return list(merged.values())

    def read(self, row_id: UUID) -> A | None:
        row = self._current(row_id)
        return copy.deepcopy(row) if row is not None else None

    async def write(self, aggregate: A) -> None:
        """An INSERT for a new aggregate, else an UPDATE guarded by its stored version.

        Like PostgreSQL, the UPDATE locks the row until the transaction ends: a concurrent
        writer waits, then finds the version moved on and updates nothing.
        """
        await _round_trip()
        if aggregate.is_new:
            if self._current(aggregate.id) is not None:
                raise AssertionError(f"{aggregate.aggregate_type} {aggregate.id} inserted twice")
            expected = 0
        else:
            await self._locks.acquire(aggregate.id)
            current = self._current(aggregate.id)
            if current is None or current.version != aggregate.stored_version:
                raise _version_conflict(aggregate.aggregate_type)
            expected = (
                self.staged[aggregate.id][0]
                if aggregate.id in self.staged
                else aggregate.stored_version
            )
        row = copy.deepcopy(aggregate)
        row.stored_version = row.version
        row.pending_events = []
        self.staged[aggregate.id] = (expected, row)

    def verify(self) -> None:
        """At commit: every row written must still have the version this transaction read."""
        for row_id, (expected, row) in self.staged.items():
            committed = self._committed.get(row_id)
            if (committed.version if committed is not None else 0) != expected:
                raise _version_conflict(row.aggregate_type)

    def apply(self) -> None:
        for row_id, (_, row) in self.staged.items():
            self._committed[row_id] = row


# -- repositories --------------------------------------------------------------------------


class FakeUserRepository(UserRepository):
    def __init__(self, db: InMemoryDatabase, locks: _Locks) -> None:
        super().__init__()
        self.table = _Table(db.users, locks)

    def _load(self, user_id: UUID) -> User | None:
        user = self.table.read(user_id)
        return self._track(user) if user is not None else None

    async def get(self, user_id: UUID) -> User | None:
        await _round_trip()
        return self._load(user_id)

    async def get_by_subject(self, subject: str) -> User | None:
        await _round_trip()
        found = next((u for u in self.table.rows() if u.subject == subject), None)
        return self._load(found.id) if found is not None else None

    async def email_in_use(self, email: str) -> bool:
        await _round_trip()
        return any(u.email == email for u in self.table.rows())

    async def existing(self, user_ids: Iterable[UUID]) -> set[UUID]:
        await _round_trip()
        wanted = set(user_ids)
        return {u.id for u in self.table.rows() if u.id in wanted}

    async def _save(self, user: User) -> None:
        await self.table.write(user)
        self.check_unique()

    def check_unique(self) -> None:
        """``uq_users_subject`` and ``uq_users_email``."""
        rows = self.table.rows()
        if len({u.subject for u in rows}) != len(rows):
            raise Conflict(ErrorCode.ALREADY_REGISTERED, "already registered")
        if len({u.email for u in rows}) != len(rows):
            raise Conflict(ErrorCode.EMAIL_TAKEN, "this e-mail address is in use", field="email")


class FakeGroupRepository(GroupRepository):
    def __init__(self, db: InMemoryDatabase, locks: _Locks) -> None:
        super().__init__()
        self._db = db
        self.table = _Table(db.groups, locks)

    async def get(self, group_id: UUID, *, lock: LockMode | None = None) -> Group | None:
        """Row locks are not modelled; the lock asked for is logged in ``group_locks``."""
        await _round_trip()
        self._db.group_locks.append((group_id, lock))
        group = self.table.read(group_id)
        return self._track(group) if group is not None else None

    async def _save(self, group: Group) -> None:
        await self.table.write(group)


class FakeExpenseRepository(ExpenseRepository):
    def __init__(self, db: InMemoryDatabase, locks: _Locks) -> None:
        super().__init__()
        self.table = _Table(db.expenses, locks)

    async def get(self, expense_id: UUID) -> Expense | None:
        await _round_trip()
        expense = self.table.read(expense_id)
        return self._track(expense) if expense is not None else None

    async def postings_for(self, group_id: UUID, period: Period) -> list[tuple[UUID, Posting]]:
        """Ordered like the SQL query: by expense id, then by posting sequence."""
        await _round_trip()
        expenses = sorted(
            (e for e in self.table.rows() if e.group_id == group_id), key=lambda e: e.id
        )
        return [
            (expense.id, copy.deepcopy(posting))
            for expense in expenses
            for posting in expense.postings
            if period.contains(posting.month)
        ]

    async def _save(self, expense: Expense) -> None:
        await self.table.write(expense)


class FakeSplitRepository(SplitRepository):
    def __init__(self, db: InMemoryDatabase, locks: _Locks) -> None:
        super().__init__()
        self.table = _Table(db.splits, locks)

    def _load(self, split_id: UUID) -> Split | None:
        split = self.table.read(split_id)
        return self._track(split) if split is not None else None

    def _of_period(self, group_id: UUID, period: Period, status: SplitStatus) -> list[Split]:
        return [
            s
            for s in self.table.rows()
            if s.group_id == group_id and s.period == period and s.status is status
        ]

    async def get(self, split_id: UUID) -> Split | None:
        await _round_trip()
        return self._load(split_id)

    async def pending_for(self, group_id: UUID, period: Period) -> Split | None:
        await _round_trip()
        pending = self._of_period(group_id, period, SplitStatus.REQUESTED)
        return self._load(pending[0].id) if pending else None

    async def latest_completed(self, group_id: UUID, period: Period) -> Split | None:
        await _round_trip()
        completed = self._of_period(group_id, period, SplitStatus.COMPLETED)
        if not completed:
            return None
        # Among equal completion times the one stored last wins.
        latest = max(reversed(completed), key=lambda s: s.completed_at or s.requested_at)
        return self._load(latest.id)

    async def _save(self, split: Split) -> None:
        await self.table.write(split)
        self.check_unique()

    def check_unique(self) -> None:
        """``uq_splits_pending_period``: one requested split per group and period."""
        pending = [
            (s.group_id, s.period) for s in self.table.rows() if s.status is SplitStatus.REQUESTED
        ]
        if len(set(pending)) != len(pending):
            raise Conflict(
                ErrorCode.SPLIT_PENDING, "a split of this period is being computed", field="period"
            )


class FakeInvoiceRepository(InvoiceRepository):
    def __init__(self, db: InMemoryDatabase, locks: _Locks) -> None:
        super().__init__()
        self.table = _Table(db.invoices, locks)

    def _load(self, invoice_id: UUID) -> Invoice | None:
        invoice = self.table.read(invoice_id)
        return self._track(invoice) if invoice is not None else None

    async def get(self, invoice_id: UUID) -> Invoice | None:
        await _round_trip()
        return self._load(invoice_id)

    async def active_for(self, group_id: UUID, period: Period) -> Invoice | None:
        await _round_trip()
        active = [
            i
            for i in self.table.rows()
            if i.group_id == group_id
            and i.period == period
            and i.status is not InvoiceStatus.VOIDED
        ]
        return self._load(active[0].id) if active else None

    async def _save(self, invoice: Invoice) -> None:
        await self.table.write(invoice)
        self.check_unique()

    def check_unique(self) -> None:
        """``uq_invoices_active_period``: one issued or paid invoice per group and period."""
        active = [
            (i.group_id, i.period)
            for i in self.table.rows()
            if i.status is not InvoiceStatus.VOIDED
        ]
        if len(set(active)) != len(active):
            raise Conflict(
                ErrorCode.PERIOD_CLOSED, "this period is already invoiced", field="period"
            )


@dataclass(frozen=True)
class _PeriodChange:
    """One staged ``group_periods`` statement; applied to the rows current at commit."""

    kind: str  # "touch", "close" or "reopen"
    group_id: UUID
    months: tuple[Month, ...] = ()
    invoice_id: UUID | None = None

    def apply(self, rows: dict[tuple[UUID, Month], PeriodRow]) -> None:
        if self.kind == "touch":
            for month in self.months:
                row = rows.setdefault((self.group_id, month), PeriodRow(revision=0))
                row.revision += 1
        elif self.kind == "close":
            for month in self.months:
                rows.setdefault((self.group_id, month), PeriodRow(revision=0))
                rows[(self.group_id, month)].invoice_id = self.invoice_id
        else:
            for (group, _), row in rows.items():
                if group == self.group_id and row.invoice_id == self.invoice_id:
                    row.invoice_id = None


class FakeCalendarRepository(CalendarRepository):
    def __init__(self, db: InMemoryDatabase) -> None:
        super().__init__()
        self._db = db
        self.staged: list[_PeriodChange] = []

    def _rows(self) -> dict[tuple[UUID, Month], PeriodRow]:
        rows = copy.deepcopy(self._db.periods)
        for change in self.staged:
            change.apply(rows)
        return rows

    async def load(self, group_id: UUID) -> PeriodCalendar:
        await _round_trip()
        return _calendar_of(self._rows(), group_id)

    async def closed_since(self, group_id: UUID, since: Month) -> PeriodCalendar:
        await _round_trip()
        calendar = _calendar_of(self._rows(), group_id, since)
        return replace(calendar, revisions={}, knows_revisions=False)

    async def save_changes(self) -> None:
        """Like the SQL adapter: touches first (months ascending), then closes, then reopens."""
        await _round_trip()
        for group_id, months in self.touched.items():
            self.staged.append(_PeriodChange("touch", group_id, tuple(sorted(months))))
        for group_id, closing, invoice_id in self.closing:
            self.staged.append(_PeriodChange("close", group_id, tuple(sorted(closing)), invoice_id))
        for group_id, invoice_id in self.reopening:
            self.staged.append(_PeriodChange("reopen", group_id, invoice_id=invoice_id))
        self.touched, self.closing, self.reopening = {}, [], []

    def apply(self) -> None:
        for change in self.staged:
            change.apply(self._db.periods)


class FakeIdempotencyStore(IdempotencyStore):
    def __init__(self, db: InMemoryDatabase, locks: _Locks) -> None:
        self._db = db
        self._locks = locks
        self.staged: dict[tuple[str, str], StoredOutcome] = {}

    async def claim(self, subject: str, key: str) -> StoredOutcome | None:
        """Hold the key until the unit of work ends, so a concurrent retry waits for us."""
        await self._locks.acquire(("idempotency", subject, key))
        return self.staged.get((subject, key)) or self._db.idempotency.get((subject, key))

    async def remember(self, claim: IdempotencyClaim, result: CommandResult) -> None:
        await _round_trip()
        row = (claim.subject, claim.key)
        if row in self.staged or row in self._db.idempotency:
            raise AssertionError(f"idempotency key {row} stored twice")
        # Stored as JSON like the table's ``result`` column (``replayed`` is not kept).
        self.staged[row] = StoredOutcome(
            claim.command, claim.fingerprint, CommandResult.from_json(result.to_json())
        )

    def verify(self) -> None:
        taken = self.staged.keys() & self._db.idempotency.keys()
        if taken:
            raise AssertionError(f"idempotency keys {sorted(taken)} stored concurrently")

    def apply(self) -> None:
        self._db.idempotency.update(self.staged)


# -- the unit of work ----------------------------------------------------------------------


class FakeUnitOfWork(UnitOfWork):
    users: FakeUserRepository
    groups: FakeGroupRepository
    expenses: FakeExpenseRepository
    splits: FakeSplitRepository
    invoices: FakeInvoiceRepository
    calendar: FakeCalendarRepository
    idempotency: FakeIdempotencyStore

    def __init__(self, db: InMemoryDatabase, context: CommandContext) -> None:
        super().__init__(context)
        self.db = db
        self.open = False
        self._appended: list[Envelope] = []
        self._locks = _Locks(db)

    async def _begin(self) -> None:
        if self.open:
            raise AssertionError("a unit of work is entered once")
        self.open = True
        self.users = FakeUserRepository(self.db, self._locks)
        self.groups = FakeGroupRepository(self.db, self._locks)
        self.expenses = FakeExpenseRepository(self.db, self._locks)
        self.splits = FakeSplitRepository(self.db, self._locks)
        self.invoices = FakeInvoiceRepository(self.db, self._locks)
        self.calendar = FakeCalendarRepository(self.db)
        self.idempotency = FakeIdempotencyStore(self.db, self._locks)

    async def _append(self, envelopes: list[Envelope]) -> None:
        await _round_trip()
        self._appended.extend(envelopes)
        self._check_event_keys()

    def _check_event_keys(self) -> None:
        """``uq_events_store_aggregate_id_aggregate_version`` and the unique event id."""
        stored = [*self.db.events, *self._appended]
        versions = [(e.aggregate_id, e.aggregate_version) for e in stored]
        if len(set(versions)) != len(versions):
            raise Conflict(
                ErrorCode.VERSION_CONFLICT,
                "someone else changed this at the same time; reload and retry",
            )
        if len({e.event_id for e in stored}) != len(stored):
            raise AssertionError("an event id was stored twice")

    async def _commit(self) -> None:
        if not self.open:
            raise AssertionError("commit outside the unit of work")
        tables: list[_Table[Any]] = [
            self.users.table,
            self.groups.table,
            self.expenses.table,
            self.splits.table,
            self.invoices.table,
        ]
        # Verify everything first, so a conflict leaves the database untouched.
        for table in tables:
            table.verify()
        self.users.check_unique()
        self.splits.check_unique()
        self.invoices.check_unique()
        self._check_event_keys()
        self.idempotency.verify()
        for table in tables:
            table.apply()
        self.calendar.apply()
        self.db.events.extend(self._appended)
        self.idempotency.apply()
        self.db.commits += 1

    async def _rollback(self) -> None:
        self.db.rollbacks += 1

    async def _close(self) -> None:
        self.open = False
        self._locks.release_all()


# -- a bus over the fakes, with a clock the test controls ------------------------------------


class Clock:
    """A settable ``now``; the bus reads it once per command."""

    def __init__(self, now: datetime = DEFAULT_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta = timedelta(minutes=1)) -> datetime:
        self.now += delta
        return self.now


def build_bus(db: InMemoryDatabase, clock: Callable[[], datetime] | None = None) -> MessageBus:
    """A ``MessageBus`` whose units of work run on ``db``."""
    return MessageBus(db.unit_of_work, clock=clock or Clock())


@dataclass(frozen=True)
class Person:
    name: str
    principal: Principal
    user_id: UUID


SYSTEM = Principal.system_process("split-saga")


class Harness:
    """A database, a clock and a bus, with shortcuts to set a scene up through commands."""

    def __init__(self, now: datetime = DEFAULT_NOW) -> None:
        self.db = InMemoryDatabase()
        self.clock = Clock(now)
        self.bus = build_bus(self.db, self.clock)

    async def run(self, command: commands.Command, by: Person | Principal) -> CommandResult:
        principal = by.principal if isinstance(by, Person) else by
        return await self.bus.handle(command, principal)

    def events(self, result: CommandResult) -> list[Envelope]:
        return self.db.events_of(result)

    async def rejects(
        self,
        command: commands.Command,
        by: Person | Principal,
        code: ErrorCode,
        *,
        field: str | None = None,
    ) -> DomainError:
        """Run a command that must fail with ``code`` on ``field`` and write nothing at all."""
        before = self.db.snapshot()
        with pytest.raises(DomainError) as caught:
            await self.run(command, by)
        error = caught.value
        assert (error.code, error.field) == (code, field), repr(error)
        assert self.db.snapshot() == before, "a rejected command changed the database"
        return error

    def payload(self, result: CommandResult) -> dict[str, Any]:
        """The payload of the single event a command wrote."""
        (envelope,) = self.events(result)
        return envelope.payload

    async def register(self, name: str) -> Person:
        principal = Principal(subject=f"idp|{name.lower()}")
        result = await self.run(
            commands.RegisterUser(name=name, email=f"{name.lower()}@example.org"), principal
        )
        return Person(name, principal, result.aggregate_id)

    async def family(
        self,
        *names: str,
        currency: str = "EUR",
        since: date = date(2025, 1, 1),
    ) -> tuple[UUID, list[Person]]:
        """A group owned by the first person, the others members since ``since``."""
        people = [await self.register(name) for name in names]
        created = await self.run(
            commands.CreateGroup(name="Family", currency=currency, started_on=since), people[0]
        )
        for person in people[1:]:
            await self.run(
                commands.AddMember(
                    group_id=created.aggregate_id, user_id=person.user_id, joined_on=since
                ),
                people[0],
            )
        return created.aggregate_id, people

    async def expense(
        self,
        group_id: UUID,
        by: Person,
        amount: int,
        on: date,
        *,
        description: str = "Groceries",
        currency: str = "EUR",
    ) -> CommandResult:
        return await self.run(
            commands.AddExpense(
                group_id=group_id,
                amount_cents=amount,
                currency=currency,
                description=description,
                incurred_on=on,
            ),
            by,
        )

    async def split(
        self,
        group_id: UUID,
        by: Person,
        start: date,
        end: date,
        conversion: commands.ConversionInput | None = None,
    ) -> tuple[CommandResult, CommandResult]:
        """Request a split of ``[start, end)`` and complete it as the split saga would."""
        requested = await self.run(
            commands.RequestSplit(
                group_id=group_id, period_start=start, period_end=end, conversion=conversion
            ),
            by,
        )
        completed = await self.run(commands.CompleteSplit(split_id=requested.aggregate_id), SYSTEM)
        return requested, completed

    async def invoice(self, group_id: UUID, by: Person, start: date, end: date) -> CommandResult:
        """Split ``[start, end)`` and invoice it, which closes its months."""
        await self.split(group_id, by, start, end)
        return await self.run(
            commands.CreateInvoice(group_id=group_id, period_start=start, period_end=end), by
        )
