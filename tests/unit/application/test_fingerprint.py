"""The idempotency fingerprint: the digest of ``dataclasses.asdict`` as JSON, whatever the
command holds (digests stored before a release must still compare equal after it)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from aequatio.application.bus import fingerprint
from aequatio.application.commands import AddExpense, Command, ConversionInput, RequestSplit
from aequatio.domain.sharing import Payer, SplitMode, SplitRule


def reference(command: Command) -> str:
    """The fingerprint as first defined (``asdict``, then canonical JSON)."""
    content = {k: v for k, v in dataclasses.asdict(command).items() if k != "idempotency_key"}
    canonical = json.dumps(
        {"command": type(command).__name__, "content": content}, sort_keys=True, default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


uuids = st.uuids()
rules = st.builds(
    SplitRule,
    mode=st.sampled_from(SplitMode),
    participants=st.none() | st.lists(uuids, max_size=4).map(tuple),
    weights=st.none() | st.lists(st.tuples(uuids, st.integers(0, 10)), max_size=4).map(tuple),
)
expenses = st.builds(
    AddExpense,
    idempotency_key=st.none() | st.text(max_size=8),
    group_id=uuids,
    amount_cents=st.integers(1, 10**9),
    currency=st.sampled_from(["EUR", "USD", "JPY"]),
    description=st.text(max_size=20),
    incurred_on=st.dates(),
    category=st.none() | st.text(max_size=5),
    payers=st.none() | st.lists(st.builds(Payer, user_id=uuids, amount=st.integers())).map(tuple),
    split=rules,
)
splits = st.builds(
    RequestSplit,
    group_id=uuids,
    period_start=st.dates(),
    period_end=st.dates(),
    conversion=st.none()
    | st.builds(
        ConversionInput,
        currency=st.just("EUR"),
        rates=st.lists(st.tuples(st.just("USD"), st.just("0.9"))).map(tuple),
    ),
    issue_invoice=st.booleans(),
)


@given(expenses | splits)
def test_the_fingerprint_is_the_digest_of_the_commands_fields(command: Command) -> None:
    assert fingerprint(command) == reference(command)


def test_the_key_is_not_part_of_the_fingerprint_and_the_content_is() -> None:
    def expense(key: str, amount: int) -> AddExpense:
        return AddExpense(
            idempotency_key=key,
            group_id=UUID(int=1),
            amount_cents=amount,
            currency="EUR",
            description="Rent",
            incurred_on=date(2026, 1, 1),
        )

    assert fingerprint(expense("a", 100)) == fingerprint(expense("b", 100))
    assert fingerprint(expense("a", 100)) != fingerprint(expense("a", 101))
