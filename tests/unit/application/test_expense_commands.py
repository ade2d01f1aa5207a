"""AddExpense, AmendExpense and DeleteExpense: who paid, who owes, and where it is booked."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest

from aequatio.application.commands import (
    AddExpense,
    AddMember,
    AmendExpense,
    DeleteExpense,
    RemoveMember,
)
from aequatio.application.context import Principal
from aequatio.application.ports import LockMode
from aequatio.domain.calendar import Month
from aequatio.domain.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from aequatio.domain.sharing import Payer, SplitMode, SplitRule
from tests.unit.fakes import Harness, Person

MARCH_2 = date(2025, 3, 2)
MARCH = Month(2025, 3)


def amounts(entries: list[dict[str, Any]]) -> dict[UUID, int]:
    """``[{user_id, amount_cents}]`` from a payload, as a mapping."""
    return {UUID(entry["user_id"]): entry["amount_cents"] for entry in entries}


async def family(h: Harness) -> tuple[UUID, Person, Person, Person]:
    group_id, (alice, bob, carol) = await h.family("Alice", "Bob", "Carol")
    return group_id, alice, bob, carol


def spend(group_id: UUID, amount: int = 3000, **changes: Any) -> AddExpense:
    fields: dict[str, Any] = {
        "group_id": group_id,
        "amount_cents": amount,
        "currency": "EUR",
        "description": "Groceries",
        "incurred_on": MARCH_2,
    }
    fields.update(changes)
    return AddExpense(**fields)


# -- adding ----------------------------------------------------------------------------------


async def test_an_expense_paid_by_the_actor_splits_equally_among_the_members_that_day() -> None:
    h = Harness()
    group_id, alice, bob, carol = await family(h)

    result = await h.run(spend(group_id, 1000, category="Food"), alice)

    assert (result.aggregate_type, result.aggregate_version) == ("expense", 1)
    (event,) = h.events(result)
    assert (event.event_type, event.aggregate_id, event.aggregate_version) == (
        "expense.created",
        result.aggregate_id,
        1,
    )
    payload = event.payload
    assert payload["expense_id"] == str(result.aggregate_id)
    assert payload["group_id"] == str(group_id)
    assert (payload["amount_cents"], payload["currency"]) == (1000, "EUR")
    assert (payload["description"], payload["category"]) == ("Groceries", "Food")
    assert payload["created_by"] == str(alice.user_id)
    assert payload["incurred_on"] == "2025-03-02"
    assert amounts(payload["payers"]) == {alice.user_id: 1000}
    assert payload["split"] == {"mode": "EQUAL", "participants": None, "weights": None}
    shares = amounts(payload["shares"])
    assert set(shares) == {alice.user_id, bob.user_id, carol.user_id}
    assert sorted(shares.values()) == [333, 333, 334]
    (posting,) = payload["postings"]
    assert (posting["month"], posting["kind"], posting["adjusts_month"]) == (
        "2025-03-01",
        "expense",
        None,
    )
    assert amounts(posting["paid"]) == {alice.user_id: 1000}
    assert amounts(posting["owed"]) == shares
    assert h.db.calendar(group_id).revision(MARCH) == 1


async def test_adding_an_expense_shares_the_group_lock() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)
    h.db.group_locks.clear()

    await h.run(spend(group_id), alice)

    assert h.db.group_locks == [(group_id, LockMode.SHARE)]


async def test_equal_split_by_default_counts_only_members_on_the_expense_date() -> None:
    h = Harness()
    group_id, alice, bob, carol = await family(h)
    dave = await h.register("Dave")
    await h.run(
        AddMember(group_id=group_id, user_id=dave.user_id, joined_on=date(2025, 3, 10)), alice
    )
    await h.run(
        RemoveMember(group_id=group_id, user_id=carol.user_id, left_on=date(2025, 3, 1)), alice
    )

    result = await h.run(spend(group_id, 1001), bob)

    assert amounts(h.payload(result)["shares"]) in (
        {alice.user_id: 500, bob.user_id: 501},
        {alice.user_id: 501, bob.user_id: 500},
    )


async def test_equal_split_among_chosen_participants() -> None:
    h = Harness()
    group_id, alice, bob, carol = await family(h)
    rule = SplitRule(SplitMode.EQUAL, participants=(bob.user_id, carol.user_id))

    result = await h.run(spend(group_id, 999, split=rule), alice)

    payload = h.payload(result)
    assert payload["split"]["participants"] == [str(bob.user_id), str(carol.user_id)]
    shares = amounts(payload["shares"])
    assert set(shares) == {bob.user_id, carol.user_id}
    assert sorted(shares.values()) == [499, 500]


async def test_shares_split_by_explicit_weights() -> None:
    h = Harness()
    group_id, alice, bob, carol = await family(h)
    rule = SplitRule(
        SplitMode.SHARES, weights=((alice.user_id, 2), (bob.user_id, 1), (carol.user_id, 0))
    )

    result = await h.run(spend(group_id, 3000, split=rule), alice)

    payload = h.payload(result)
    assert amounts(payload["shares"]) == {alice.user_id: 2000, bob.user_id: 1000}
    assert payload["split"]["mode"] == "SHARES"
    assert amounts(payload["split"]["weights"]) == {
        alice.user_id: 2,
        bob.user_id: 1,
        carol.user_id: 0,
    }


async def test_shares_without_weights_use_the_members_default_weights() -> None:
    h = Harness()
    group_id, (alice,) = await h.family("Alice")
    bob = await h.register("Bob")
    await h.run(
        AddMember(group_id=group_id, user_id=bob.user_id, weight=3, joined_on=date(2025, 1, 1)),
        alice,
    )

    result = await h.run(spend(group_id, 1001, split=SplitRule(SplitMode.SHARES)), alice)

    shares = amounts(h.payload(result)["shares"])
    assert sum(shares.values()) == 1001
    assert shares[bob.user_id] in (750, 751)
    assert shares[alice.user_id] in (250, 251)


async def test_exact_amounts_are_taken_as_given() -> None:
    h = Harness()
    group_id, alice, bob, carol = await family(h)
    rule = SplitRule(
        SplitMode.EXACT, weights=((alice.user_id, 100), (bob.user_id, 2900), (carol.user_id, 0))
    )

    result = await h.run(spend(group_id, 3000, split=rule), alice)

    assert amounts(h.payload(result)["shares"]) == {alice.user_id: 100, bob.user_id: 2900}


async def test_percentages_are_basis_points_and_shares_still_sum_to_the_amount() -> None:
    h = Harness()
    group_id, alice, bob, carol = await family(h)
    rule = SplitRule(
        SplitMode.PERCENT,
        weights=((alice.user_id, 3333), (bob.user_id, 3333), (carol.user_id, 3334)),
    )

    result = await h.run(spend(group_id, 1000, split=rule), alice)

    shares = amounts(h.payload(result)["shares"])
    assert sum(shares.values()) == 1000
    assert all(332 <= share <= 335 for share in shares.values())


async def test_several_payers() -> None:
    h = Harness()
    group_id, alice, bob, carol = await family(h)
    payers = (Payer(bob.user_id, 1200), Payer(carol.user_id, 1800))

    result = await h.run(spend(group_id, 3000, payers=payers), alice)

    payload = h.payload(result)
    assert amounts(payload["payers"]) == {bob.user_id: 1200, carol.user_id: 1800}
    assert payload["created_by"] == str(alice.user_id)
    assert amounts(payload["postings"][0]["paid"]) == {bob.user_id: 1200, carol.user_id: 1800}
    assert amounts(payload["shares"]) == {
        alice.user_id: 1000,
        bob.user_id: 1000,
        carol.user_id: 1000,
    }


@pytest.mark.parametrize(
    "amount",
    [1, 7, 100, 101, 999_999_999_999],
)
@pytest.mark.parametrize("mode", list(SplitMode))
async def test_shares_always_sum_to_the_amount(amount: int, mode: SplitMode) -> None:
    h = Harness()
    group_id, alice, bob, carol = await family(h)
    people = (alice.user_id, bob.user_id, carol.user_id)
    rules = {
        SplitMode.EQUAL: SplitRule(SplitMode.EQUAL),
        SplitMode.SHARES: SplitRule(
            SplitMode.SHARES, weights=tuple(zip(people, (5, 3, 1), strict=True))
        ),
        SplitMode.EXACT: SplitRule(
            SplitMode.EXACT, weights=((alice.user_id, amount), (bob.user_id, 0))
        ),
        SplitMode.PERCENT: SplitRule(
            SplitMode.PERCENT, weights=tuple(zip(people, (3000, 3000, 4000), strict=True))
        ),
    }

    result = await h.run(spend(group_id, amount, split=rules[mode]), alice)

    shares = amounts(h.payload(result)["shares"])
    assert sum(shares.values()) == amount
    assert all(share > 0 for share in shares.values())


# -- refusing bad input ----------------------------------------------------------------------


async def test_the_amount_is_positive_and_bounded() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)

    for amount in (0, -5):
        await h.rejects(
            spend(group_id, amount), alice, ErrorCode.AMOUNT_NOT_POSITIVE, field="amount_cents"
        )
    await h.rejects(
        spend(group_id, 1_000_000_000_000),
        alice,
        ErrorCode.AMOUNT_TOO_LARGE,
        field="amount_cents",
    )


async def test_the_currency_must_be_a_known_iso_code() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)

    for currency in ("ABC", "eur", "EURO"):
        await h.rejects(
            spend(group_id, currency=currency),
            alice,
            ErrorCode.UNKNOWN_CURRENCY,
            field="currency",
        )


async def test_the_description_is_required_and_at_most_500_characters() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)

    for empty in ("", "   "):
        await h.rejects(
            spend(group_id, description=empty), alice, ErrorCode.TEXT_EMPTY, field="description"
        )
    await h.rejects(
        spend(group_id, description="x" * 501),
        alice,
        ErrorCode.TEXT_TOO_LONG,
        field="description",
    )
    await h.run(spend(group_id, description="x" * 500), alice)


async def test_the_date_must_be_plausible() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)

    await h.rejects(
        spend(group_id, incurred_on=date(2100, 1, 1)),
        alice,
        ErrorCode.DATE_OUT_OF_RANGE,
        field="incurred_on",
    )


async def test_payer_amounts_must_add_up_to_the_total() -> None:
    h = Harness()
    group_id, alice, bob, _ = await family(h)

    await h.rejects(
        spend(group_id, 3000, payers=(Payer(alice.user_id, 1000), Payer(bob.user_id, 1999))),
        alice,
        ErrorCode.PAYER_AMOUNTS_MISMATCH,
        field="payers",
    )
    await h.rejects(
        spend(group_id, 3000, payers=(Payer(alice.user_id, 3000), Payer(bob.user_id, 0))),
        alice,
        ErrorCode.AMOUNT_NOT_POSITIVE,
        field="payers.1.amount_cents",
    )


async def test_an_unknown_user_cannot_pay_or_take_part() -> None:
    h = Harness()
    group_id, alice, bob, _ = await family(h)
    stranger = uuid4()

    error = await h.rejects(
        spend(group_id, 3000, payers=(Payer(alice.user_id, 1000), Payer(stranger, 2000))),
        alice,
        ErrorCode.NOT_A_MEMBER,
        field="payers.1.user_id",
    )
    assert isinstance(error, InvalidInput)
    await h.rejects(
        spend(group_id, split=SplitRule(SplitMode.EQUAL, participants=(bob.user_id, stranger))),
        alice,
        ErrorCode.NOT_A_MEMBER,
        field="split.participants.1",
    )
    await h.rejects(
        spend(group_id, split=SplitRule(SplitMode.SHARES, weights=((stranger, 1),))),
        alice,
        ErrorCode.NOT_A_MEMBER,
        field="split.weights.0.user_id",
    )


async def test_a_registered_non_member_cannot_pay_or_take_part() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)
    outsider = await h.register("Outsider")

    await h.rejects(
        spend(group_id, payers=(Payer(outsider.user_id, 3000),)),
        alice,
        ErrorCode.NOT_A_MEMBER,
        field="payers.0.user_id",
    )
    await h.rejects(
        spend(group_id, split=SplitRule(SplitMode.EQUAL, participants=(outsider.user_id,))),
        alice,
        ErrorCode.NOT_A_MEMBER,
        field="split.participants.0",
    )


async def test_a_member_who_joined_after_the_expense_date_cannot_pay_or_take_part() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)
    dave = await h.register("Dave")
    await h.run(
        AddMember(group_id=group_id, user_id=dave.user_id, joined_on=date(2025, 3, 10)), alice
    )

    await h.rejects(
        spend(group_id, payers=(Payer(dave.user_id, 3000),)),
        alice,
        ErrorCode.NOT_A_MEMBER,
        field="payers.0.user_id",
    )
    await h.rejects(
        spend(
            group_id, split=SplitRule(SplitMode.EQUAL, participants=(alice.user_id, dave.user_id))
        ),
        alice,
        ErrorCode.NOT_A_MEMBER,
        field="split.participants.1",
    )
    await h.rejects(
        spend(group_id),
        dave,
        ErrorCode.NOT_A_MEMBER,
        field="payers",
    )
    await h.run(spend(group_id, incurred_on=date(2025, 3, 10)), dave)


async def test_exact_amounts_must_add_up_to_the_total() -> None:
    h = Harness()
    group_id, alice, bob, _ = await family(h)

    await h.rejects(
        spend(
            group_id,
            3000,
            split=SplitRule(SplitMode.EXACT, weights=((alice.user_id, 1000), (bob.user_id, 1000))),
        ),
        alice,
        ErrorCode.EXACT_AMOUNTS_MISMATCH,
        field="split.weights",
    )


async def test_percentages_must_add_up_to_10000_basis_points() -> None:
    h = Harness()
    group_id, alice, bob, _ = await family(h)

    for split in ((5000, 4999), (5000, 5001), (100, 0)):
        await h.rejects(
            spend(
                group_id,
                split=SplitRule(
                    SplitMode.PERCENT,
                    weights=tuple(zip((alice.user_id, bob.user_id), split, strict=True)),
                ),
            ),
            alice,
            ErrorCode.PERCENT_NOT_10000,
            field="split.weights",
        )


async def test_malformed_split_rules_are_refused() -> None:
    h = Harness()
    group_id, alice, bob, _ = await family(h)

    await h.rejects(
        spend(group_id, split=SplitRule(SplitMode.EQUAL, participants=())),
        alice,
        ErrorCode.PARTICIPANTS_EMPTY,
        field="split.participants",
    )
    await h.rejects(
        spend(group_id, split=SplitRule(SplitMode.EQUAL, participants=(bob.user_id, bob.user_id))),
        alice,
        ErrorCode.DUPLICATE_PARTICIPANT,
        field="split.participants.1",
    )
    await h.rejects(
        spend(group_id, split=SplitRule(SplitMode.EXACT)),
        alice,
        ErrorCode.SPLIT_RULE_INVALID,
        field="split.weights",
    )
    await h.rejects(
        spend(group_id, split=SplitRule(SplitMode.SHARES, participants=(bob.user_id,))),
        alice,
        ErrorCode.SPLIT_RULE_INVALID,
        field="split",
    )
    await h.rejects(
        spend(group_id, split=SplitRule(SplitMode.SHARES, weights=((bob.user_id, 0),))),
        alice,
        ErrorCode.WEIGHT_INVALID,
        field="split.weights",
    )
    await h.rejects(
        spend(group_id, split=SplitRule(SplitMode.SHARES, weights=((bob.user_id, -1),))),
        alice,
        ErrorCode.WEIGHT_INVALID,
        field="split.weights.0.value",
    )


async def test_only_members_and_registered_users_add_expenses() -> None:
    h = Harness()
    group_id, _, _, _ = await family(h)
    outsider = await h.register("Outsider")

    error = await h.rejects(spend(group_id), outsider, ErrorCode.NOT_A_MEMBER)
    assert isinstance(error, Forbidden)
    error = await h.rejects(
        spend(group_id), Principal(subject="idp|nobody"), ErrorCode.NOT_REGISTERED
    )
    assert isinstance(error, Forbidden)
    error = await h.rejects(spend(uuid4()), outsider, ErrorCode.GROUP_NOT_FOUND, field="group_id")
    assert isinstance(error, NotFound)


# -- amending --------------------------------------------------------------------------------


async def test_an_amendment_records_what_changed_before_and_after() -> None:
    h = Harness()
    group_id, alice, bob, carol = await family(h)
    added = await h.run(spend(group_id, 3000), alice)
    h.clock.advance()

    result = await h.run(
        AmendExpense(
            expense_id=added.aggregate_id,
            expected_version=1,
            amount_cents=3300,
            description="Groceries and wine",
        ),
        bob,
    )

    assert (result.aggregate_id, result.aggregate_version) == (added.aggregate_id, 2)
    (event,) = h.events(result)
    assert (event.event_type, event.aggregate_version) == ("expense.amended", 2)
    payload = event.payload
    assert payload["amended_by"] == str(bob.user_id)
    assert payload["amended_at"] == h.clock.now.isoformat().replace("+00:00", "Z")
    changes = payload["changes"]
    assert set(changes) == {"amount_cents", "description", "payers", "shares"}
    assert changes["amount_cents"] == {"before": 3000, "after": 3300}
    assert changes["description"] == {"before": "Groceries", "after": "Groceries and wine"}
    assert changes["payers"] == {
        "before": [{"user_id": str(alice.user_id), "amount_cents": 3000}],
        "after": [{"user_id": str(alice.user_id), "amount_cents": 3300}],
    }
    assert amounts(payload["shares"]) == {
        alice.user_id: 1100,
        bob.user_id: 1100,
        carol.user_id: 1100,
    }
    assert payload["amount_cents"] == 3300
    (posting,) = payload["postings"]
    assert amounts(posting["paid"]) == {alice.user_id: 3300}
    assert h.db.expenses[added.aggregate_id].amount == 3300
    assert h.db.calendar(group_id).revision(MARCH) == 2


async def test_an_amendment_with_a_stale_version_is_a_conflict() -> None:
    h = Harness()
    group_id, alice, bob, _ = await family(h)
    added = await h.run(spend(group_id), alice)
    await h.run(
        AmendExpense(expense_id=added.aggregate_id, expected_version=1, description="Rent"), alice
    )

    error = await h.rejects(
        AmendExpense(expense_id=added.aggregate_id, expected_version=1, description="Gas"),
        bob,
        ErrorCode.VERSION_CONFLICT,
        field="expected_version",
    )

    assert isinstance(error, Conflict)


async def test_an_amendment_that_changes_nothing_is_refused() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)
    added = await h.run(spend(group_id, 3000, category="Food"), alice)

    await h.rejects(
        AmendExpense(
            expense_id=added.aggregate_id,
            expected_version=1,
            amount_cents=3000,
            description=" Groceries ",
            currency="EUR",
            category="Food",
            incurred_on=MARCH_2,
        ),
        alice,
        ErrorCode.NOTHING_TO_CHANGE,
    )
    await h.rejects(
        AmendExpense(expense_id=added.aggregate_id, expected_version=1),
        alice,
        ErrorCode.NOTHING_TO_CHANGE,
    )


async def test_a_deleted_expense_cannot_be_amended_or_deleted_again() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)
    added = await h.run(spend(group_id), alice)
    await h.run(DeleteExpense(expense_id=added.aggregate_id, expected_version=1), alice)

    error = await h.rejects(
        AmendExpense(expense_id=added.aggregate_id, expected_version=2, description="Rent"),
        alice,
        ErrorCode.EXPENSE_DELETED,
    )
    assert isinstance(error, Conflict)
    await h.rejects(
        DeleteExpense(expense_id=added.aggregate_id, expected_version=2),
        alice,
        ErrorCode.EXPENSE_DELETED,
    )


async def test_an_amendment_is_validated_like_a_new_expense() -> None:
    h = Harness()
    group_id, alice, bob, _ = await family(h)
    added = await h.run(spend(group_id, 3000), alice)
    expense_id = added.aggregate_id

    await h.rejects(
        AmendExpense(expense_id=expense_id, expected_version=1, amount_cents=0),
        alice,
        ErrorCode.AMOUNT_NOT_POSITIVE,
        field="amount_cents",
    )
    await h.rejects(
        AmendExpense(expense_id=expense_id, expected_version=1, currency="ZZZ"),
        alice,
        ErrorCode.UNKNOWN_CURRENCY,
        field="currency",
    )
    await h.rejects(
        AmendExpense(expense_id=expense_id, expected_version=1, description=""),
        alice,
        ErrorCode.TEXT_EMPTY,
        field="description",
    )
    await h.rejects(
        AmendExpense(
            expense_id=expense_id,
            expected_version=1,
            payers=(Payer(alice.user_id, 1000), Payer(bob.user_id, 1000)),
        ),
        alice,
        ErrorCode.PAYER_AMOUNTS_MISMATCH,
        field="payers",
    )
    await h.rejects(
        AmendExpense(
            expense_id=expense_id,
            expected_version=1,
            split=SplitRule(SplitMode.PERCENT, weights=((alice.user_id, 10),)),
        ),
        alice,
        ErrorCode.PERCENT_NOT_10000,
        field="split.weights",
    )


async def test_changing_the_amount_of_an_expense_with_several_payers_needs_new_payers() -> None:
    h = Harness()
    group_id, alice, bob, _ = await family(h)
    payers = (Payer(alice.user_id, 1000), Payer(bob.user_id, 2000))
    added = await h.run(spend(group_id, 3000, payers=payers), alice)

    await h.rejects(
        AmendExpense(expense_id=added.aggregate_id, expected_version=1, amount_cents=4000),
        alice,
        ErrorCode.PAYER_AMOUNTS_MISMATCH,
        field="payers",
    )
    result = await h.run(
        AmendExpense(
            expense_id=added.aggregate_id,
            expected_version=1,
            amount_cents=4000,
            payers=(Payer(alice.user_id, 1000), Payer(bob.user_id, 3000)),
        ),
        alice,
    )

    assert amounts(h.payload(result)["payers"]) == {alice.user_id: 1000, bob.user_id: 3000}


async def test_moving_an_expense_to_another_month_moves_its_posting() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)
    added = await h.run(spend(group_id), alice)

    result = await h.run(
        AmendExpense(
            expense_id=added.aggregate_id, expected_version=1, incurred_on=date(2025, 2, 27)
        ),
        alice,
    )

    payload = h.payload(result)
    assert payload["changes"]["incurred_on"] == {"before": "2025-03-02", "after": "2025-02-27"}
    assert [p["month"] for p in payload["postings"]] == ["2025-02-01"]
    calendar = h.db.calendar(group_id)
    assert (calendar.revision(Month(2025, 2)), calendar.revision(MARCH)) == (1, 2)


async def test_an_empty_category_clears_it_and_a_rule_change_recomputes_shares() -> None:
    h = Harness()
    group_id, alice, bob, _ = await family(h)
    added = await h.run(spend(group_id, 3000, category="Food"), alice)

    result = await h.run(
        AmendExpense(
            expense_id=added.aggregate_id,
            expected_version=1,
            category="",
            split=SplitRule(SplitMode.EXACT, weights=((bob.user_id, 3000),)),
        ),
        alice,
    )

    payload = h.payload(result)
    assert payload["changes"]["category"] == {"before": "Food", "after": None}
    assert payload["changes"]["split"]["after"] == {
        "mode": "EXACT",
        "weights": [{"user_id": str(bob.user_id), "amount_cents": 3000}],
    }
    assert amounts(payload["shares"]) == {bob.user_id: 3000}
    assert h.db.expenses[added.aggregate_id].category is None


async def test_a_description_change_does_not_touch_the_ledger() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)
    added = await h.run(spend(group_id), alice)

    await h.run(
        AmendExpense(expense_id=added.aggregate_id, expected_version=1, description="Market"),
        alice,
    )

    assert h.db.calendar(group_id).revision(MARCH) == 1


async def test_only_current_members_amend_or_delete() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)
    outsider = await h.register("Outsider")
    added = await h.run(spend(group_id), alice)

    await h.rejects(
        AmendExpense(expense_id=added.aggregate_id, expected_version=1, description="x"),
        outsider,
        ErrorCode.NOT_A_MEMBER,
    )
    await h.rejects(
        DeleteExpense(expense_id=added.aggregate_id, expected_version=1),
        outsider,
        ErrorCode.NOT_A_MEMBER,
    )


async def test_an_unknown_expense_is_not_found() -> None:
    h = Harness()
    _, alice, _, _ = await family(h)

    await h.rejects(
        AmendExpense(expense_id=uuid4(), expected_version=1, description="x"),
        alice,
        ErrorCode.EXPENSE_NOT_FOUND,
        field="expense_id",
    )
    await h.rejects(
        DeleteExpense(expense_id=uuid4(), expected_version=1),
        alice,
        ErrorCode.EXPENSE_NOT_FOUND,
        field="expense_id",
    )


# -- deleting --------------------------------------------------------------------------------


async def test_deleting_an_expense_of_an_open_month_removes_its_posting() -> None:
    h = Harness()
    group_id, alice, bob, _ = await family(h)
    added = await h.run(spend(group_id), alice)

    result = await h.run(DeleteExpense(expense_id=added.aggregate_id, expected_version=1), bob)

    assert (result.aggregate_id, result.aggregate_version) == (added.aggregate_id, 2)
    (event,) = h.events(result)
    assert (event.event_type, event.aggregate_version) == ("expense.deleted", 2)
    assert event.payload == {
        "expense_id": str(added.aggregate_id),
        "group_id": str(group_id),
        "deleted_by": str(bob.user_id),
        "postings": [],
    }
    assert h.db.calendar(group_id).revision(MARCH) == 2


async def test_deleting_with_a_stale_version_is_a_conflict() -> None:
    h = Harness()
    group_id, alice, _, _ = await family(h)
    added = await h.run(spend(group_id), alice)
    await h.run(
        AmendExpense(expense_id=added.aggregate_id, expected_version=1, description="Rent"), alice
    )

    await h.rejects(
        DeleteExpense(expense_id=added.aggregate_id, expected_version=1),
        alice,
        ErrorCode.VERSION_CONFLICT,
        field="expected_version",
    )
