"""A family's month end to end: expenses over HTTP, ``createInvoice``, and the split and the
invoice arriving live over WebSocket with exactly the amounts computed here independently.

The expected amounts come from this module's own arithmetic (largest remainder with the
documented tie-break), not from aequatio's code.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import combinations
from typing import Any

from tests.support.api import Api, Person
from tests.support.live import LiveClient, live
from tests.support.recording import polled

JANUARY = {"start": "2026-01-01", "end": "2026-02-01"}
FEBRUARY = {"start": "2026-02-01", "end": "2026-03-01"}

SPLIT_COMPLETED = """subscription($g: ID!) { splitCompleted(groupId: $g) {
  id status period { start end }
  balances { currency paidCents owedCents netCents user { id } }
  transfers { currency amountCents from { id } to { id } } } }"""
INVOICE_CREATED = """subscription($g: ID!) { invoiceCreated(groupId: $g) {
  id status period { start end } total { currency amountCents }
  lines { currency paidCents owedCents netCents user { id } } } }"""
BALANCES = """query($g: ID!, $p: PeriodInput!, $seen: [ID!]) {
  balances(groupId: $g, period: $p, consistentWith: $seen) {
    currency paidCents owedCents netCents user { id } } }"""


def raw_id(global_id: str) -> str:
    """The UUID inside an opaque global id (the tie-break orders and seeds by it)."""
    padded = global_id + "=" * (-len(global_id) % 4)
    return base64.urlsafe_b64decode(padded).decode().split(":", 1)[1]


def rotation(seed: str, size: int) -> int:
    return int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % size


def shares(total: int, weights: dict[str, int], seed: str) -> dict[str, int]:
    """Largest remainder; ties go in member-id order rotated by the expense id's hash."""
    weight_sum = sum(weights.values())
    quotas = {key: Fraction(total * weight, weight_sum) for key, weight in weights.items()}
    floors = {key: int(quota) for key, quota in quotas.items()}
    ordered = sorted(weights, key=raw_id)
    start = rotation(seed, len(ordered))
    rotated = ordered[start:] + ordered[:start]
    by_remainder = sorted(
        rotated, key=lambda key: (-(quotas[key] - floors[key]), rotated.index(key))
    )
    for key in by_remainder[: total - sum(floors.values())]:
        floors[key] += 1
    return {key: value for key, value in floors.items() if value}


@dataclass
class Ledger:
    """Paid and owed per (user global id, currency) for one month, kept by the test."""

    paid: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    owed: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))

    def book(
        self, currency: str, payers: dict[str, int], owed: dict[str, int], sign: int = 1
    ) -> None:
        for user, amount in payers.items():
            self.paid[(user, currency)] += sign * amount
        for user, amount in owed.items():
            self.owed[(user, currency)] += sign * amount

    def balances(self) -> dict[tuple[str, str], tuple[int, int, int]]:
        keys = {k for k in set(self.paid) | set(self.owed) if self.paid[k] or self.owed[k]}
        return {k: (self.paid[k], self.owed[k], self.paid[k] - self.owed[k]) for k in keys}


@dataclass
class Booked:
    id: str
    version: int
    currency: str
    payers: dict[str, int]
    owed: dict[str, int]


def as_balances(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, int, int]]:
    return {
        (row["user"]["id"], row["currency"]): (row["paidCents"], row["owedCents"], row["netCents"])
        for row in rows
    }


def minimum_transfers(nets: list[int]) -> int:
    """Non-zero balances minus the most disjoint zero-sum groups (brute force, small n)."""
    people = [net for net in nets if net]
    best = 0

    def blocks(remaining: tuple[int, ...], found: int) -> None:
        nonlocal best
        best = max(best, found)
        for size in range(1, len(remaining) + 1):
            for chosen in combinations(range(len(remaining)), size):
                if sum(remaining[i] for i in chosen) == 0:
                    rest = tuple(v for i, v in enumerate(remaining) if i not in chosen)
                    blocks(rest, found + 1)
                    return

    blocks(tuple(people), 0)
    return len(people) - best


async def add(
    api: Api, group: str, by: Person, cents: int, currency: str, *, day: str, **extra: Any
) -> dict[str, Any]:
    return await api.succeed(
        "addExpense",
        {
            "groupId": group,
            "amountCents": cents,
            "currency": currency,
            "description": f"{currency} {cents} on {day}",
            "incurredOn": day,
            **extra,
        },
        token=by.token,
    )


async def test_a_family_month_is_split_and_invoiced_live(api: Api) -> None:
    group, (ann, ben, cai) = await api.family("Ann", "Ben", "Cai", since="2025-12-01")
    a, b, c = ann.user_id, ben.user_id, cai.user_id
    everyone = {a: 1, b: 1, c: 1}
    january, february = Ledger(), Ledger()
    booked: list[Booked] = []

    # About thirty expenses over two months, two currencies, every split mode, several payers.
    for index in range(30):
        month, ledger = ("01", january) if index % 2 == 0 else ("02", february)
        day = f"2026-{month}-{1 + index % 27:02d}"
        currency = "USD" if index % 5 == 0 else "EUR"
        cents = 1_000 + 37 * index
        payer = (ann, ben, cai)[index % 3]
        mode = index % 4
        extra: dict[str, Any]
        if mode == 0:  # EQUAL among everyone on the date
            extra, weights = {}, dict(everyone)
        elif mode == 1:  # SHARES 2:1:1, two payers
            first = cents // 3
            extra = {
                "split": {
                    "mode": "SHARES",
                    "weights": [
                        {"userId": a, "value": 2},
                        {"userId": b, "value": 1},
                        {"userId": c, "value": 1},
                    ],
                },
                "payers": [
                    {"userId": a, "amountCents": first},
                    {"userId": c, "amountCents": cents - first},
                ],
            }
            weights = {a: 2, b: 1, c: 1}
        elif mode == 2:  # EXACT
            part = cents // 4
            exact = {a: part, b: part, c: cents - 2 * part}
            extra = {
                "split": {
                    "mode": "EXACT",
                    "weights": [{"userId": u, "value": v} for u, v in exact.items()],
                }
            }
            weights = exact
        else:  # PERCENT 50/30/20
            percent = {a: 5_000, b: 3_000, c: 2_000}
            extra = {
                "split": {
                    "mode": "PERCENT",
                    "weights": [{"userId": u, "value": v} for u, v in percent.items()],
                }
            }
            weights = percent
        done = await add(api, group, payer, cents, currency, day=day, **extra)
        expense_id = done["id"]
        owed = weights if mode == 2 else shares(cents, weights, raw_id(expense_id))
        payers = (
            {p["userId"]: p["amountCents"] for p in extra["payers"]}
            if "payers" in extra
            else {payer.user_id: cents}
        )
        ledger.book(currency, payers, owed)
        booked.append(Booked(expense_id, 1, currency, payers, owed))

    # Amend some and delete some (all in January).
    for item in booked[0:6:2]:  # three January expenses: new amount, same EQUAL split
        new_amount = 999
        amended = await api.succeed(
            "amendExpense",
            {
                "expenseId": item.id,
                "expectedVersion": item.version,
                "amountCents": new_amount,
                "split": {"mode": "EQUAL"},
                "payers": [{"userId": a, "amountCents": new_amount}],
            },
            token=ben.token,
        )
        january.book(item.currency, item.payers, item.owed, sign=-1)
        item.payers, item.owed = {a: new_amount}, shares(new_amount, everyone, raw_id(item.id))
        item.version = amended["version"]
        january.book(item.currency, item.payers, item.owed)
    for item in booked[6:10:2]:  # two more January expenses deleted
        await api.succeed(
            "deleteExpense",
            {"expenseId": item.id, "expectedVersion": item.version},
            token=cai.token,
        )
        january.book(item.currency, item.payers, item.owed, sign=-1)

    async with (
        live(api.base_url, ann.token) as splits_feed,
        live(api.base_url, ben.token) as invoices_feed,
    ):
        await splits_feed.subscribe(SPLIT_COMPLETED, {"g": group})
        await invoices_feed.subscribe(INVOICE_CREATED, {"g": group})
        await asyncio.sleep(0.3)  # the subscriptions are registered

        asked = await api.succeed(
            "createInvoice",
            {"groupId": group, "period": JANUARY, "idempotencyKey": "jan-invoice"},
            token=ann.token,
        )
        split = (await splits_feed.next_data())["splitCompleted"]
        invoice = (await invoices_feed.next_data())["invoiceCreated"]

    expected = january.balances()
    assert split["status"] == "COMPLETED"
    assert as_balances(split["balances"]) == expected
    assert as_balances(invoice["lines"]) == expected
    totals: dict[str, int] = defaultdict(int)
    for (_, currency), (_, owed_cents, _) in expected.items():
        totals[currency] += owed_cents
    assert {t["currency"]: t["amountCents"] for t in invoice["total"]} == totals
    for currency in totals:  # the transfers settle every balance, in as few transfers as can be
        nets = {user: net for (user, cur), (_, _, net) in expected.items() if cur == currency}
        moves = [t for t in split["transfers"] if t["currency"] == currency]
        for move in moves:
            nets[move["from"]["id"]] += move["amountCents"]
            nets[move["to"]["id"]] -= move["amountCents"]
        assert set(nets.values()) <= {0}
        start = [net for (_, cur), (_, _, net) in expected.items() if cur == currency]
        assert len(moves) == minimum_transfers(start)

    # The balances query equals the split.
    queried = await api.data(
        BALANCES, {"g": group, "p": JANUARY, "seen": asked["eventIds"]}, token=cai.token
    )
    assert as_balances(queried["balances"]) == expected

    # Asking again (same key, or a new request) returns the issued invoice, nothing new.
    again = await api.succeed(
        "createInvoice",
        {"groupId": group, "period": JANUARY, "idempotencyKey": "jan-invoice"},
        token=ann.token,
    )
    assert (again["id"], again["replayed"]) == (asked["id"], True)
    fresh = await api.succeed(
        "createInvoice", {"groupId": group, "period": JANUARY}, token=ben.token
    )
    assert (fresh["id"], fresh["eventIds"]) == (invoice["id"], [])

    # A January expense added now is booked as an adjustment in February.
    late = await add(api, group, cai, 600, "EUR", day="2026-01-20")
    node = await api.data(
        "query($id: ID!, $seen: [ID!]) { node(id: $id, consistentWith: $seen) "
        "{ ... on Expense { isAdjustment incurredOn } } }",
        {"id": late["id"], "seen": late["eventIds"]},
        token=ann.token,
    )
    assert node["node"] == {"isAdjustment": True, "incurredOn": "2026-01-20"}
    february.book("EUR", {c: 600}, shares(600, everyone, raw_id(late["id"])))
    feb = await api.data(
        BALANCES, {"g": group, "p": FEBRUARY, "seen": late["eventIds"]}, token=ann.token
    )
    assert as_balances(feb["balances"]) == february.balances()

    # Voiding the invoice reopens January: a new January expense counts in January again.
    voided = await api.succeed(
        "voidInvoice", {"invoiceId": invoice["id"], "reason": "redo"}, token=ann.token
    )
    reopened = await add(api, group, ben, 300, "EUR", day="2026-01-21")
    assert voided["version"] == 2
    node = await api.data(
        "query($id: ID!, $seen: [ID!]) { node(id: $id, consistentWith: $seen) "
        "{ ... on Expense { isAdjustment } } }",
        {"id": reopened["id"], "seen": reopened["eventIds"]},
        token=ann.token,
    )
    assert node["node"] == {"isAdjustment": False}


async def test_a_non_member_is_refused_and_receives_nothing(api: Api) -> None:
    group, (ann,) = await api.family("Ann")
    stranger = await api.person("Stranger")
    async with live(api.base_url, stranger.token) as feed:
        await feed.subscribe(SPLIT_COMPLETED, {"g": group})
        refused = await feed.receive()
        await api.succeed("requestSplit", {"groupId": group, "period": JANUARY}, token=ann.token)
        later = await drain(feed, seconds=1.5)
    errors = refused["payload"]["errors"] if refused["type"] == "next" else refused["payload"]
    assert errors[0]["extensions"]["code"] == "NOT_A_MEMBER"
    assert [m["type"] for m in later] in ([], ["complete"])


async def drain(feed: LiveClient, *, seconds: float) -> list[dict[str, Any]]:
    """Every message that arrives within ``seconds``."""
    messages: list[dict[str, Any]] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            while True:
                messages.append(await feed.receive())
    return messages


async def test_group_activity_pushes_every_event_once_projected(api: Api) -> None:
    group, (ann, ben) = await api.family("Ann", "Ben")
    async with live(api.base_url, ben.token) as feed:
        await feed.subscribe(
            "subscription($g: ID!) { groupActivity(groupId: $g) "
            "{ eventType summary actor { id } } }",
            {"g": group},
        )
        await asyncio.sleep(0.3)
        await add(api, group, ann, 1_234, "EUR", day="2026-01-09")
        entry = (await feed.next_data())["groupActivity"]
    assert (entry["eventType"], entry["actor"]["id"]) == ("expense.created", ann.user_id)
    assert "12.34 EUR" in entry["summary"]


async def test_the_legacy_protocol_works_and_unsubscribing_stops_the_stream(api: Api) -> None:
    group, (ann,) = await api.family("Ann")
    async with live(api.base_url, ann.token, protocol="graphql-ws") as feed:
        operation = await feed.subscribe(
            "subscription($g: ID!) { groupActivity(groupId: $g) { eventType } }", {"g": group}
        )
        await asyncio.sleep(0.3)
        await add(api, group, ann, 100, "EUR", day="2026-01-02")
        assert (await feed.next_data())["groupActivity"]["eventType"] == "expense.created"
        await feed.complete(operation)
        await asyncio.sleep(0.3)
        await add(api, group, ann, 200, "EUR", day="2026-01-03")
        later = await drain(feed, seconds=1.5)
    assert [m["type"] for m in later] in ([], ["complete"])


async def test_a_token_expiring_mid_subscription_closes_the_socket(api: Api) -> None:
    group, (ann,) = await api.family("Ann")
    short = api.token(ann.subject, ttl_seconds=2)
    async with live(api.base_url, short) as feed:
        await feed.subscribe(
            "subscription($g: ID!) { groupActivity(groupId: $g) { eventType } }", {"g": group}
        )
        closed = await polled(lambda: _closed(feed), within=15)
    assert closed == 4401


async def _closed(feed: LiveClient) -> int | None:
    try:
        await feed.receive(within=0.5)
    except TimeoutError:
        return None
    except Exception:
        return feed.socket.close_code
    return None
