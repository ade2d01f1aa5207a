"""The fakes keep the unit of work's contract, and concurrent commands behave as on PostgreSQL.

Nothing is visible before ``commit``; a stale stored version, a duplicate e-mail or a second
pending split loses at commit; a retry holding the same idempotency key waits and replays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date
from uuid import UUID, uuid4

import pytest

from aequatio.application.commands import (
    AddExpense,
    AmendExpense,
    CreateInvoice,
    DeleteExpense,
    MarkInvoicePaid,
    RegisterUser,
    RequestSplit,
    VoidInvoice,
)
from aequatio.application.context import CommandContext, Principal
from aequatio.application.ports import LockMode
from aequatio.application.results import CommandResult
from aequatio.domain.calendar import Month
from aequatio.domain.errors import Conflict, DomainError, ErrorCode
from aequatio.domain.user import User
from tests.unit.fakes import DEFAULT_NOW, FakeUnitOfWork, Harness, InMemoryDatabase

MAR, APR = date(2025, 3, 1), date(2025, 4, 1)


def context(subject: str = "idp|alice") -> CommandContext:
    return CommandContext(principal=Principal(subject=subject), now=DEFAULT_NOW)


def new_user(name: str = "Alice") -> User:
    return User.register(
        user_id=uuid4(),
        subject=f"idp|{name.lower()}",
        name=name,
        email=f"{name.lower()}@example.org",
        now=DEFAULT_NOW,
    )


def outcome(results: Sequence[CommandResult | BaseException]) -> tuple[int, list[DomainError]]:
    """How many succeeded, and the domain errors of the others."""
    errors = [r for r in results if isinstance(r, DomainError)]
    unexpected = [r for r in results if isinstance(r, BaseException) and r not in errors]
    assert not unexpected, unexpected
    return len(results) - len(errors), errors


async def test_nothing_is_visible_without_commit() -> None:
    db = InMemoryDatabase()
    user = new_user()

    async with FakeUnitOfWork(db, context()) as uow:
        uow.users.add(user)
        await uow.users.save_changes()
        assert await uow.users.get(user.id) is not None

    assert db.users == {}
    assert db.rollbacks == 1
    async with FakeUnitOfWork(db, context()) as later:
        assert await later.users.get(user.id) is None


async def test_a_commit_writes_the_aggregate_its_events_and_nothing_else() -> None:
    db = InMemoryDatabase()
    user = new_user()

    async with FakeUnitOfWork(db, context()) as uow:
        uow.users.add(user)
        result = await uow.commit(user)

    assert db.commits == 1
    assert db.users[user.id].stored_version == 1
    assert [e.event_id for e in db.events] == list(result.event_ids)
    assert uow.written == db.events
    assert (user.stored_version, user.pending_events) == (1, [])


async def test_loaded_aggregates_are_copies_of_the_committed_rows() -> None:
    db = InMemoryDatabase()
    user = new_user()
    async with FakeUnitOfWork(db, context()) as uow:
        uow.users.add(user)
        await uow.commit(user)

    async with FakeUnitOfWork(db, context()) as uow:
        loaded = await uow.users.get(user.id)
        assert loaded is not None
        loaded.name = "Mallory"

    assert db.users[user.id].name == "Alice"


async def test_saving_over_a_newer_version_is_a_version_conflict() -> None:
    h = Harness()
    group_id, (alice, _) = await h.family("Alice", "Bob")
    expense_id = (await h.expense(group_id, alice, 3000, date(2025, 3, 2))).aggregate_id

    async with h.db.unit_of_work(context()) as late:
        theirs = await late.expenses.get(expense_id)
        async with h.db.unit_of_work(context()) as early:
            mine = await early.expenses.get(expense_id)
            assert mine is not None
            mine.description, mine.version = "Mine", 2
            await early.commit(mine)
        assert theirs is not None
        theirs.description, theirs.version = "Theirs", 2
        before = h.db.snapshot()
        with pytest.raises(Conflict) as caught:
            await late.commit(theirs)

    assert (caught.value.code, caught.value.field) == (
        ErrorCode.VERSION_CONFLICT,
        "expected_version",
    )
    assert h.db.snapshot() == before
    assert h.db.expenses[expense_id].description == "Mine"


async def test_a_writer_waits_for_the_row_lock_until_the_other_transaction_ends() -> None:
    h = Harness()
    group_id, (alice, _) = await h.family("Alice", "Bob")
    expense_id = (await h.expense(group_id, alice, 3000, date(2025, 3, 2))).aggregate_id
    first_saved = asyncio.Event()
    order: list[str] = []

    async def first_rolls_back() -> None:
        async with h.db.unit_of_work(context()) as uow:
            expense = await uow.expenses.get(expense_id)
            assert expense is not None
            expense.description, expense.version = "First", 2
            await uow.expenses.save_changes()
            first_saved.set()
            await asyncio.sleep(0.01)
            order.append("first rolled back")

    async def second_commits() -> None:
        async with h.db.unit_of_work(context()) as uow:
            expense = await uow.expenses.get(expense_id)
            assert expense is not None
            await first_saved.wait()
            expense.description, expense.version = "Second", 2
            await uow.commit(expense)
            order.append("second committed")

    await asyncio.gather(first_rolls_back(), second_commits())

    assert order == ["first rolled back", "second committed"]
    assert h.db.expenses[expense_id].description == "Second"


async def test_calendar_touches_bump_revisions_and_close_and_reopen_follow_the_invoice() -> None:
    db = InMemoryDatabase()
    group_id, invoice_id, march, april = uuid4(), uuid4(), Month(2025, 3), Month(2025, 4)
    user = new_user()

    async with FakeUnitOfWork(db, context()) as uow:
        uow.users.add(user)
        uow.calendar.touch(group_id, [march])
        uow.calendar.touch(group_id, [march])
        await uow.commit(user)
    async with FakeUnitOfWork(db, context()) as uow:
        uow.calendar.touch(group_id, [march, april])
        uow.calendar.close(group_id, [march, Month(2025, 5)], invoice_id)
        await uow.commit(user)

    calendar = db.calendar(group_id)
    assert calendar.revisions == {march: 2, april: 1, Month(2025, 5): 0}
    assert calendar.closed == {march, Month(2025, 5)}
    async with FakeUnitOfWork(db, context()) as uow:
        uow.calendar.reopen(group_id, uuid4())
        uow.calendar.reopen(group_id, invoice_id)
        assert (await uow.calendar.load(group_id)).closed == {march, Month(2025, 5)}
        await uow.commit(user)
    assert db.calendar(group_id).closed == frozenset()
    assert db.calendar(group_id).revisions[march] == 2


async def test_of_two_concurrent_amendments_of_one_version_exactly_one_wins() -> None:
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob")
    expense_id = (await h.expense(group_id, alice, 3000, date(2025, 3, 2))).aggregate_id

    results = await asyncio.gather(
        h.run(AmendExpense(expense_id=expense_id, expected_version=1, amount_cents=10), alice),
        h.run(AmendExpense(expense_id=expense_id, expected_version=1, description="x"), bob),
        return_exceptions=True,
    )

    succeeded, errors = outcome(results)
    assert succeeded == 1
    assert [(e.code, e.field) for e in errors] == [(ErrorCode.VERSION_CONFLICT, "expected_version")]
    assert h.db.expenses[expense_id].version == 2
    assert [e.aggregate_version for e in h.db.stream(expense_id)] == [1, 2]


async def test_an_amendment_racing_a_deletion_cannot_resurrect_the_expense() -> None:
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob")
    expense_id = (await h.expense(group_id, alice, 3000, date(2025, 3, 2))).aggregate_id

    results = await asyncio.gather(
        h.run(DeleteExpense(expense_id=expense_id, expected_version=1), alice),
        h.run(AmendExpense(expense_id=expense_id, expected_version=1, amount_cents=10), bob),
        return_exceptions=True,
    )

    succeeded, errors = outcome(results)
    assert (succeeded, [e.code for e in errors]) == (1, [ErrorCode.VERSION_CONFLICT])


async def test_two_concurrent_registrations_with_one_email_leave_one_user() -> None:
    h = Harness()

    results = await asyncio.gather(
        h.run(RegisterUser(name="A", email="same@example.org"), Principal(subject="idp|a")),
        h.run(RegisterUser(name="B", email="same@example.org"), Principal(subject="idp|b")),
        return_exceptions=True,
    )

    succeeded, errors = outcome(results)
    assert succeeded == 1
    assert [(e.code, e.field) for e in errors] == [(ErrorCode.EMAIL_TAKEN, "email")]
    assert len(h.db.users) == 1
    assert len(h.db.events) == 1


async def test_two_concurrent_split_requests_leave_one_pending_split() -> None:
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob")
    request = RequestSplit(group_id=group_id, period_start=MAR, period_end=APR)

    results = await asyncio.gather(
        h.run(request, alice), h.run(request, bob), return_exceptions=True
    )

    succeeded, errors = outcome(results)
    assert succeeded == 1
    assert [(e.code, e.field) for e in errors] == [(ErrorCode.SPLIT_PENDING, "period")]
    assert len(h.db.splits) == 1


async def test_a_concurrent_retry_with_the_same_key_waits_and_replays() -> None:
    h = Harness()
    group_id, (alice, _) = await h.family("Alice", "Bob")
    command = AddExpense(
        group_id=group_id,
        amount_cents=1200,
        currency="EUR",
        description="Groceries",
        incurred_on=date(2025, 3, 2),
        idempotency_key="tap-twice",
    )

    first, second = await asyncio.gather(h.run(command, alice), h.run(command, alice))

    assert (first.replayed, second.replayed) == (False, True)
    assert second.aggregate_id == first.aggregate_id
    assert len(h.db.expenses) == 1


async def test_expense_changes_share_the_group_lock_and_invoicing_takes_it_exclusively() -> None:
    h = Harness()
    group_id, (alice, _) = await h.family("Alice", "Bob")
    expense_id = (await h.expense(group_id, alice, 3000, date(2025, 3, 2))).aggregate_id

    async def locks_taken(command: object) -> list[LockMode | None]:
        h.db.group_locks.clear()
        assert isinstance(
            command, AmendExpense | DeleteExpense | CreateInvoice | VoidInvoice | MarkInvoicePaid
        )
        await h.run(command, alice)
        return [lock for group, lock in h.db.group_locks if group == group_id]

    assert await locks_taken(
        AmendExpense(expense_id=expense_id, expected_version=1, description="x")
    ) == [LockMode.SHARE]
    assert await locks_taken(DeleteExpense(expense_id=expense_id, expected_version=2)) == [
        LockMode.SHARE
    ]
    await h.split(group_id, alice, MAR, APR)
    assert await locks_taken(
        CreateInvoice(group_id=group_id, period_start=MAR, period_end=APR)
    ) == [LockMode.UPDATE]
    invoice_id: UUID = next(iter(h.db.invoices))
    assert await locks_taken(VoidInvoice(invoice_id=invoice_id)) == [LockMode.UPDATE]
