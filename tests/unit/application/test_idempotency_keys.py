"""Idempotency keys: a retry with the same key returns the first result and writes nothing."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from aequatio.application.commands import AddExpense, CreateGroup, RegisterUser, RemoveMember
from aequatio.application.context import Principal
from aequatio.domain.errors import Conflict, ErrorCode, InvalidInput
from tests.unit.fakes import Harness


def groceries(group_id: UUID, amount: int = 1200, key: str | None = "k-1") -> AddExpense:
    return AddExpense(
        group_id=group_id,
        amount_cents=amount,
        currency="EUR",
        description="Groceries",
        incurred_on=date(2025, 3, 2),
        idempotency_key=key,
    )


async def test_a_retry_with_the_same_key_replays_the_first_result() -> None:
    h = Harness()
    group_id, (alice, _) = await h.family("Alice", "Bob")
    first = await h.run(groceries(group_id), alice)
    before = h.db.snapshot()

    retry = await h.run(groceries(group_id), alice)

    assert retry.replayed
    assert not first.replayed
    assert (retry.aggregate_type, retry.aggregate_id, retry.aggregate_version) == (
        "expense",
        first.aggregate_id,
        1,
    )
    assert retry.event_ids == first.event_ids
    assert h.db.snapshot() == before
    assert len(h.db.expenses) == 1


async def test_a_replay_returns_the_first_result_even_after_the_aggregate_moved_on() -> None:
    h = Harness()
    group_id, (_, bob) = await h.family("Alice", "Bob")
    first = await h.run(
        RemoveMember(group_id=group_id, user_id=bob.user_id, idempotency_key="leave"), bob
    )

    retry = await h.run(
        RemoveMember(group_id=group_id, user_id=bob.user_id, idempotency_key="leave"), bob
    )

    assert retry.replayed
    assert (retry.aggregate_version, retry.event_ids) == (first.aggregate_version, first.event_ids)


async def test_the_same_key_for_different_content_is_refused() -> None:
    h = Harness()
    group_id, (alice, _) = await h.family("Alice", "Bob")
    await h.run(groceries(group_id, 1200), alice)

    error = await h.rejects(
        groceries(group_id, 1300),
        alice,
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        field="idempotency_key",
    )
    assert isinstance(error, Conflict)
    await h.rejects(
        CreateGroup(name="Other", currency="EUR", idempotency_key="k-1"),
        alice,
        ErrorCode.IDEMPOTENCY_KEY_REUSED,
        field="idempotency_key",
    )


async def test_keys_belong_to_one_principal() -> None:
    h = Harness()
    group_id, (alice, bob) = await h.family("Alice", "Bob")
    alices = await h.run(groceries(group_id), alice)

    bobs = await h.run(groceries(group_id), bob)

    assert not bobs.replayed
    assert bobs.aggregate_id != alices.aggregate_id
    assert len(h.db.expenses) == 2


async def test_without_a_key_a_retry_runs_again() -> None:
    h = Harness()
    group_id, (alice, _) = await h.family("Alice", "Bob")

    first = await h.run(groceries(group_id, key=None), alice)
    second = await h.run(groceries(group_id, key=None), alice)

    assert first.aggregate_id != second.aggregate_id
    assert h.db.idempotency == {}


async def test_a_failed_command_does_not_use_up_its_key() -> None:
    h = Harness()
    group_id, (alice, _) = await h.family("Alice", "Bob")
    await h.rejects(
        groceries(group_id, 0), alice, ErrorCode.AMOUNT_NOT_POSITIVE, field="amount_cents"
    )

    result = await h.run(groceries(group_id, 1200), alice)

    assert not result.replayed
    assert len(h.db.expenses) == 1


async def test_registering_again_with_the_key_replays_instead_of_conflicting() -> None:
    h = Harness()
    principal = Principal(subject="idp|alice")
    command = RegisterUser(name="Alice", email="alice@example.org", idempotency_key="signup")
    first = await h.run(command, principal)

    retry = await h.run(command, principal)

    assert retry.replayed
    assert retry.aggregate_id == first.aggregate_id
    assert len(h.db.users) == 1


async def test_a_key_is_one_to_200_characters() -> None:
    h = Harness()
    group_id, (alice, _) = await h.family("Alice", "Bob")

    error = await h.rejects(
        groceries(group_id, key="   "), alice, ErrorCode.TEXT_EMPTY, field="idempotency_key"
    )
    assert isinstance(error, InvalidInput)
    await h.rejects(
        groceries(group_id, key="k" * 201),
        alice,
        ErrorCode.TEXT_TOO_LONG,
        field="idempotency_key",
    )
    result = await h.run(groceries(group_id, key="k" * 200), alice)
    assert not result.replayed
