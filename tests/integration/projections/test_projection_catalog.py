"""The catalog of projections: unique names, narrow subscriptions, lookup by name."""

from __future__ import annotations

import pytest

from aequatio.events.catalog import EVENTS
from aequatio.projections.catalog import PROJECTIONS, by_name
from aequatio.projections.tables import TRACKING_TABLES


def test_names_are_unique_and_found_by_name() -> None:
    names = [projection.name for projection in PROJECTIONS]
    assert len(set(names)) == len(names) == 7
    assert all(
        by_name(name) is projection for name, projection in zip(names, PROJECTIONS, strict=True)
    )
    with pytest.raises(KeyError, match="no projection 'nope'"):
        by_name("nope")


def test_each_listens_to_exactly_the_events_it_uses() -> None:
    listening = {projection.name: projection.event_types(EVENTS) for projection in PROJECTIONS}
    expense_events = ["expense.amended", "expense.created", "expense.deleted"]
    assert listening == {
        "user_directory": ["user.registered"],
        "group_summary": [
            *expense_events,
            "group.created",
            "group.member_added",
            "group.member_removed",
        ],
        "expenses": expense_events,
        "balances": expense_events,
        "splits": [
            "split.completed",
            "split.failed",
            "split.invoice_requested",
            "split.requested",
        ],
        "invoices": ["invoice.created", "invoice.paid", "invoice.voided"],
        "activity": EVENTS.event_types(),
    }


def test_no_two_projections_own_the_same_table() -> None:
    owned = [table for projection in PROJECTIONS for table in projection.tables]
    assert len(set(owned)) == len(owned)
    assert not set(owned) & set(TRACKING_TABLES)
    assert all(table.schema == "read" for table in owned)
