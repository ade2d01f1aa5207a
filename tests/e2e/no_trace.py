"""Proof that a refused request left no trace: read the ledger back through the API once a
fresh, legitimate write is visible.

Projections apply events in commit order, so when the sentinel written *after* a refusal is
visible, anything the refused request had written would be visible too.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.api import Api, GraphQLFailed, Person

SENTINEL = "Sentinel"

TIMELINE = """
query($group: ID!, $seen: [ID!]) {
  activity(groupId: $group, first: 100, consistentWith: $seen) {
    edges { node { eventType actor { name } } }
  }
}"""

#: What ``api.family("Ann", "Ben")`` writes into its group's timeline, oldest first.
FAMILY_OF_TWO = [("group.created", "Ann"), ("group.member_added", "Ann")]


def expense(group: str, **overrides: Any) -> dict[str, Any]:
    """A valid ``AddExpenseInput`` for ``group``, with ``overrides`` applied."""
    return {
        "groupId": group,
        "amountCents": 1_000,
        "currency": "EUR",
        "description": "Groceries",
        "incurredOn": "2026-01-10",
        **overrides,
    }


async def settled_timeline(api: Api, group: str, member: Person) -> list[tuple[str, str | None]]:
    """``(eventType, actor name)`` of everything written to ``group``, oldest first, read once a
    sentinel expense ``member`` adds now is visible (the sentinel itself is left out)."""
    sentinel = await api.succeed(
        "addExpense", expense(group, description=SENTINEL), token=member.token
    )
    response = await api.post(
        TIMELINE, {"group": group, "seen": sentinel["eventIds"]}, token=member.token
    )
    body = response.json()
    if response.status_code != 200 or "errors" in body or "extensions" in body:
        raise GraphQLFailed(f"the timeline is not settled: {response.status_code} {body}")
    entries = [
        (edge["node"]["eventType"], (edge["node"]["actor"] or {}).get("name"))
        for edge in reversed(body["data"]["activity"]["edges"])
    ]
    assert entries[-1] == ("expense.created", member.name), "the sentinel comes last"
    return entries[:-1]


async def still_unregistered(api: Api, subject: str) -> bool:
    """Whether ``subject`` can still register: the write model knows no user behind it."""
    payload = await api.mutate(
        "registerUser",
        {"name": "Late Comer", "email": f"{subject}-late@example.org"},
        token=api.token(subject),
    )
    return bool(payload["__typename"] == "MutationSuccess" and payload["version"] == 1)


async def outsider(api: Api, name: str = "Eve") -> Person:
    """A registered person in no group, once the read side knows them (queries look callers
    up there, and would answer NOT_REGISTERED a moment after the registration)."""
    subject = f"{name.lower()}-{uuid.uuid4().hex[:8]}"
    token = api.token(subject)
    registered = await api.succeed(
        "registerUser", {"name": name, "email": f"{subject}@example.org"}, token=token
    )
    me = await api.data(
        "query($seen: [ID!]) { me(consistentWith: $seen) { id } }",
        {"seen": registered["eventIds"]},
        token=token,
    )
    assert me["me"] == {"id": registered["id"]}
    return Person(name, subject, token, registered["id"])
