"""Every mutation and query of the API against a real server, reading its own writes."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from tests.support.api import Api
from tests.support.recording import polled

GROUP = """
query($id: ID!, $after: [ID!]) {
  group(id: $id, consistentWith: $after) {
    id name currency memberCount myRole
    members(includeFormer: true) { role weight joinedOn leftOn active user { id name } }
    totals { currency amountCents }
  }
}"""

EXPENSES = """
query($group: ID!, $first: Int!, $after: String, $seen: [ID!]) {
  expenses(groupId: $group, first: $first, after: $after, consistentWith: $seen,
           period: {start: "2026-01-01", end: "2026-04-01"}) {
    edges { cursor node {
      id description amountCents currency incurredOn version isAdjustment
      createdBy { name } payers { amountCents user { name } } shares { amountCents user { name } }
      split { mode weights { value user { name } } participants { name } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""

BALANCES = """
query($group: ID!, $seen: [ID!]) {
  balances(groupId: $group, period: {start: "2026-01-01", end: "2026-02-01"},
           consistentWith: $seen) {
    currency paidCents owedCents netCents user { name }
  }
}"""


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["user"]["name"]: row for row in rows}


async def test_registration_is_read_back_by_me(api: Api) -> None:
    token = api.token("newcomer-e2e")
    done = await api.succeed(
        "registerUser", {"name": "Newcomer", "email": "newcomer-e2e@example.org"}, token=token
    )
    me = await api.data(
        "query($seen: [ID!]) { me(consistentWith: $seen) { id name email } }",
        {"seen": done["eventIds"]},
        token=token,
    )
    assert me["me"] == {
        "id": done["id"],
        "name": "Newcomer",
        "email": "newcomer-e2e@example.org",
    }


async def test_groups_and_members_are_managed_and_read_right_after(api: Api) -> None:
    group, (ann, ben, cai) = await api.family("Ann", "Ben", "Cai")
    removed = await api.succeed(
        "removeMember",
        {"groupId": group, "userId": cai.user_id, "leftOn": "2026-03-01"},
        token=ann.token,
    )
    found = (await api.data(GROUP, {"id": group, "after": removed["eventIds"]}, token=ben.token))[
        "group"
    ]
    assert (found["id"], found["name"], found["currency"], found["memberCount"]) == (
        group,
        "Family",
        "EUR",
        2,
    )
    assert found["myRole"] == "MEMBER"
    roles = {m["user"]["name"]: (m["role"], m["active"], m["leftOn"]) for m in found["members"]}
    assert roles == {
        "Ann": ("OWNER", True, None),
        "Ben": ("MEMBER", True, None),
        "Cai": ("MEMBER", False, "2026-03-01"),
    }
    mine = await api.data("{ groups { id } }", token=ben.token)
    assert {"id": group} in mine["groups"]


async def test_expenses_in_every_split_mode_page_and_balance_to_the_cent(api: Api) -> None:
    group, (ann, ben, cai) = await api.family("Ann", "Ben", "Cai")
    ids = {p.name: p.user_id for p in (ann, ben, cai)}
    written: list[str] = []
    inputs: list[dict[str, Any]] = [
        {"amountCents": 10_001, "description": "Dinner"},
        {
            "amountCents": 9_000,
            "description": "Rent share",
            "payers": [
                {"userId": ids["Ann"], "amountCents": 6_000},
                {"userId": ids["Ben"], "amountCents": 3_000},
            ],
            "split": {
                "mode": "SHARES",
                "weights": [{"userId": ids["Ann"], "value": 2}, {"userId": ids["Ben"], "value": 1}],
            },
        },
        {
            "amountCents": 1_000,
            "description": "Tickets",
            "split": {
                "mode": "EXACT",
                "weights": [
                    {"userId": ids["Ben"], "value": 400},
                    {"userId": ids["Cai"], "value": 600},
                ],
            },
        },
        {
            "amountCents": 333,
            "description": "Coffee",
            "split": {
                "mode": "PERCENT",
                "weights": [
                    {"userId": ids["Ann"], "value": 5_000},
                    {"userId": ids["Cai"], "value": 5_000},
                ],
            },
        },
        {
            "amountCents": 700,
            "description": "Snacks",
            "split": {"mode": "EQUAL", "participants": [ids["Ben"], ids["Cai"]]},
        },
    ]
    for day, item in enumerate(inputs, start=10):
        done = await api.succeed(
            "addExpense",
            {"groupId": group, "currency": "EUR", "incurredOn": f"2026-01-{day}", **item},
            token=ann.token,
        )
        written += done["eventIds"]

    first = (
        await api.data(EXPENSES, {"group": group, "first": 3, "seen": written}, token=ben.token)
    )["expenses"]
    rest = (
        await api.data(
            EXPENSES,
            {"group": group, "first": 3, "after": first["pageInfo"]["endCursor"]},
            token=ben.token,
        )
    )["expenses"]
    pages = [edge["node"] for edge in first["edges"] + rest["edges"]]
    assert first["pageInfo"]["hasNextPage"] is True
    assert rest["pageInfo"]["hasNextPage"] is False
    assert [e["description"] for e in pages] == [
        "Snacks",
        "Coffee",
        "Tickets",
        "Rent share",
        "Dinner",
    ]
    for expense in pages:
        assert sum(s["amountCents"] for s in expense["shares"]) == expense["amountCents"]
        assert sum(p["amountCents"] for p in expense["payers"]) == expense["amountCents"]

    balances = by_name(
        (await api.data(BALANCES, {"group": group, "seen": written}, token=cai.token))["balances"]
    )
    assert sum(row["netCents"] for row in balances.values()) == 0
    assert balances["Ann"]["paidCents"] == 10_001 + 6_000 + 1_000 + 333 + 700
    assert balances["Ben"]["paidCents"] == 3_000


async def test_amend_and_delete_with_versions(api: Api) -> None:
    group, (ann, ben) = await api.family("Ann", "Ben")
    added = await api.succeed(
        "addExpense",
        {
            "groupId": group,
            "amountCents": 1_000,
            "currency": "EUR",
            "description": "Bread",
            "incurredOn": "2026-01-03",
        },
        token=ann.token,
    )
    amended = await api.succeed(
        "amendExpense",
        {
            "expenseId": added["id"],
            "expectedVersion": 1,
            "amountCents": 1_200,
            "description": "Bread and milk",
        },
        token=ben.token,
    )
    assert amended["version"] == 2
    stale = await api.mutate(
        "amendExpense",
        {"expenseId": added["id"], "expectedVersion": 1, "amountCents": 5},
        token=ben.token,
    )
    assert (stale["__typename"], stale["code"], stale["field"]) == (
        "ConflictError",
        "VERSION_CONFLICT",
        "input.expectedVersion",
    )
    node = await api.data(
        "query($id: ID!, $seen: [ID!]) { node(id: $id, consistentWith: $seen) "
        "{ ... on Expense { description amountCents version } } }",
        {"id": added["id"], "seen": amended["eventIds"]},
        token=ann.token,
    )
    assert node["node"] == {"description": "Bread and milk", "amountCents": 1_200, "version": 2}

    deleted = await api.succeed(
        "deleteExpense", {"expenseId": added["id"], "expectedVersion": 2}, token=ann.token
    )
    left = await api.data(
        EXPENSES, {"group": group, "first": 10, "seen": deleted["eventIds"]}, token=ann.token
    )
    assert left["expenses"]["edges"] == []


async def test_split_invoice_and_activity(api: Api) -> None:
    group, (ann, ben) = await api.family("Ann", "Ben")
    await api.succeed(
        "addExpense",
        {
            "groupId": group,
            "amountCents": 3_000,
            "currency": "EUR",
            "description": "Market",
            "incurredOn": "2026-01-05",
        },
        token=ann.token,
    )
    january = {"start": "2026-01-01", "end": "2026-02-01"}
    requested = await api.succeed(
        "requestSplit", {"groupId": group, "period": january}, token=ben.token
    )

    async def completed() -> dict[str, Any] | None:
        found = await api.data(
            "query($g: ID!) { splits(groupId: $g) { id status transfers { amountCents "
            "from { name } to { name } } balances { netCents user { name } } } }",
            {"g": group},
            token=ann.token,
        )
        done = [split for split in found["splits"] if split["status"] == "COMPLETED"]
        return done[0] if done else None

    split = await polled(completed)
    assert split["id"] == requested["id"]
    assert split["transfers"] == [
        {"amountCents": 1_500, "from": {"name": "Ben"}, "to": {"name": "Ann"}}
    ]

    issued = await api.succeed(
        "createInvoice", {"groupId": group, "period": january}, token=ann.token
    )
    invoices = await api.data(
        "query($g: ID!, $seen: [ID!]) { invoices(groupId: $g, consistentWith: $seen) "
        "{ id status total { currency amountCents } } }",
        {"g": group, "seen": issued["eventIds"]},
        token=ben.token,
    )
    assert invoices["invoices"] == [
        {
            "id": issued["id"],
            "status": "ISSUED",
            "total": [{"currency": "EUR", "amountCents": 3_000}],
        }
    ]
    timeline = await api.data(
        "query($g: ID!, $seen: [ID!]) { activity(groupId: $g, first: 3, consistentWith: $seen) "
        "{ edges { node { eventType summary actor { name } } } pageInfo { hasNextPage } } }",
        {"g": group, "seen": issued["eventIds"]},
        token=ben.token,
    )
    events = [edge["node"]["eventType"] for edge in timeline["activity"]["edges"]]
    assert events == ["invoice.created", "split.completed", "split.requested"]
    assert timeline["activity"]["pageInfo"]["hasNextPage"] is True


async def test_an_idempotent_retry_returns_the_first_result(api: Api) -> None:
    group, (ann,) = await api.family("Ann")
    expense = {
        "groupId": group,
        "amountCents": 250,
        "currency": "EUR",
        "description": "Stamps",
        "incurredOn": "2026-01-02",
        "idempotencyKey": "receipt-42",
    }
    first = await api.succeed("addExpense", expense, token=ann.token)
    again = await api.succeed("addExpense", expense, token=ann.token)
    assert (again["id"], again["eventIds"], again["replayed"]) == (
        first["id"],
        first["eventIds"],
        True,
    )


async def test_a_wait_that_runs_out_answers_stale_instead_of_hanging(api: Api) -> None:
    token = api.token("patient-e2e")
    # An event id no projection will ever apply: the answer comes after the bound, marked stale.
    ghost = base64.urlsafe_b64encode(f"Event:user.registered:{uuid.uuid4()}".encode()).decode()
    response = await api.post(
        "query($seen: [ID!]) { me(consistentWith: $seen) { name } }", {"seen": [ghost]}, token=token
    )
    assert response.json() == {"data": {"me": None}, "extensions": {"stale": True}}
