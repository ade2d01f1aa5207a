"""What the figures need in the database: people and groups made through the real API, events
bulk-copied from real ones, and the GraphQL documents the load generator sends."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
import httpx

from aequatio.api.auth import ALL_SCOPES
from bench.loadgen import request_template
from tests.support.api import Api, Person

ADD_EXPENSE = (
    "mutation($input: AddExpenseInput!) { addExpense(input: $input) { __typename "
    "... on MutationSuccess { id version eventIds replayed } "
    "... on Error { code message field } } }"
)
BALANCES = (
    "query($g: ID!, $p: PeriodInput!) { balances(groupId: $g, period: $p) "
    "{ currency paidCents owedCents netCents user { name } } }"
)
ACTIVITY = (
    "subscription($g: ID!) { groupActivity(groupId: $g) { eventType summary actor { name } } }"
)
INVOICE_CREATED = (
    "subscription($g: ID!) { invoiceCreated(groupId: $g) { id total { amountCents } } }"
)
AMOUNT = 4250
#: Expenses are spread over this many months: the per-month ledger row is not one hot spot.
MONTHS = 120
FIRST_YEAR = 2016


class BenchApi(Api):
    """The end-to-end tests' client, with tokens that outlive a full run, re-pointed at
    whichever API process a phase runs."""

    async def point_at(self, base_url: str) -> None:
        await self.http.aclose()
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, timeout=60)

    def token(
        self, subject: str, scopes: Iterable[str] = ALL_SCOPES, ttl_seconds: int = 12 * 3600
    ) -> str:
        return super().token(subject, scopes, ttl_seconds)


@dataclass(frozen=True)
class Family:
    group_id: str  # the global id
    people: list[Person]

    @property
    def owner(self) -> Person:
        return self.people[0]


async def make_family(api: BenchApi, people: list[Person], name: str) -> Family:
    """A group owned by the first person, everyone a member since the first month."""
    owner, since = people[0], f"{FIRST_YEAR}-01-01"
    group = await api.succeed(
        "createGroup", {"name": name, "currency": "EUR", "startedOn": since}, token=owner.token
    )
    for member in people[1:]:
        await api.succeed(
            "addMember",
            {"groupId": group["id"], "userId": member.user_id, "joinedOn": since},
            token=owner.token,
        )
    return Family(group["id"], people)


def month_day(index: int) -> date:
    """The ``index``-th expense's date: months rotate, days within the month vary."""
    month = index % MONTHS
    return date(FIRST_YEAR + month // 12, 1 + month % 12, 1 + (index // MONTHS) % 28)


def add_expense_body(group: str, index: int, key: str) -> dict[str, Any]:
    return {
        "query": ADD_EXPENSE,
        "variables": {
            "input": {
                "groupId": group,
                "amountCents": AMOUNT,
                "currency": "EUR",
                "description": "Groceries",
                "incurredOn": month_day(index).isoformat(),
                "idempotencyKey": key,
            }
        },
    }


def add_expense_requests(path: str, groups: list[str], token: str, prefix: str) -> Any:
    """``index -> request bytes`` for ``addExpense`` (or the raw endpoint: the same body),
    the ``index``-th to ``groups[index % len(groups)]``."""
    body = add_expense_body("@@GROUP@@", 0, "@@KEY@@")
    body["variables"]["input"]["incurredOn"] = "@@DAY@@"
    text = json.dumps(body, separators=(",", ":")).encode()
    first, rest = text.split(b"@@GROUP@@")
    second, rest = rest.split(b"@@DAY@@")
    third, last = rest.split(b"@@KEY@@")
    build = request_template(
        path,
        [first, second, third, last],
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/graphql-response+json",
        },
    )
    days = [month_day(i).isoformat().encode() for i in range(MONTHS * 28)]
    encoded_prefix = prefix.encode()

    encoded_groups = [group.encode() for group in groups]

    def make(index: int) -> bytes:
        return build(
            (
                encoded_groups[index % len(encoded_groups)],
                days[index % len(days)],
                b"%s-%d" % (encoded_prefix, index),
            )
        )

    return make


def balances_body(group: str, start: str, end: str) -> dict[str, Any]:
    return {"query": BALANCES, "variables": {"g": group, "p": {"start": start, "end": end}}}


def balances_requests(path: str, group: str, token: str, start: str, end: str) -> Any:
    body = json.dumps(balances_body(group, start, end), separators=(",", ":")).encode()
    build = request_template(
        path,
        [body],
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Accept": "application/graphql-response+json",
        },
    )
    request = build(())
    return lambda index: request


def mutation_ok(status: int, body: bytes) -> bool:
    return status == 200 and b'"MutationSuccess"' in body


def query_ok(status: int, body: bytes) -> bool:
    return status == 200 and b'"errors"' not in body


def raw_ok(status: int, body: bytes) -> bool:
    return status == 200


# -- bulk events ------------------------------------------------------------------------------

#: A new UUIDv7 in SQL (PostgreSQL has ``uuidv7()`` from 18 only), made as the app makes its
#: ids (``aequatio.application.ids``): the time of the call in the first 48 bits, version 7.
UUID_V7 = (
    "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing "
    "substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) "
    "FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"
)

#: Copies of one real ``expense.created`` with new ids, spread over months (and the group
#: given): ``expense_id`` in the payload equals the new aggregate id, the incurred date and
#: the posting month agree, so every projection accepts them as the command bus' own.
COPY_EXPENSES = f"""
WITH template AS (
    SELECT * FROM events_store WHERE event_id = $1
), numbered AS (
    SELECT n, {UUID_V7} AS expense_id,
           make_date($5 + ((n % $4) / 12)::int, 1 + ((n % $4) % 12)::int, 1 + ((n / $4) % 28)::int)
               AS day
    FROM generate_series($2::bigint, $3::bigint - 1) AS n
)
INSERT INTO events_store (event_id, event_type, event_version, schema_id, aggregate_type,
    aggregate_id, aggregate_version, occurred_at, correlation_id, actor, payload)
SELECT {UUID_V7}, t.event_type, t.event_version, t.schema_id, t.aggregate_type,
    numbered.expense_id, 1, t.occurred_at, {UUID_V7}, t.actor,
    replace(replace(replace(t.payload::text,
        t.aggregate_id::text, numbered.expense_id::text),
        '"' || (t.payload->>'incurred_on') || '"', '"' || numbered.day::text || '"'),
        '"' || (t.payload->'postings'->0->>'month') || '"',
        '"' || date_trunc('month', numbered.day)::date::text || '"')::jsonb
FROM template AS t, numbered
RETURNING position
"""  # noqa: S608 - constants, no input
#: The copies with their outbox rows (to be dispatched), or without (history only).
COPY_OUTBOX = (
    "WITH copied AS (" + COPY_EXPENSES + ") "  # noqa: S608 - constants, no input
    "INSERT INTO events_outbox (position) SELECT position FROM copied"
)
COPY_ONLY = "WITH copied AS (" + COPY_EXPENSES + ") SELECT count(*) FROM copied"  # noqa: S608


async def copy_expenses(
    dsn: str,
    template_event: str,
    count: int,
    *,
    start: int = 0,
    outbox: bool = False,
    chunk: int = 100_000,
    progress: str | None = None,
) -> float:
    """Insert ``count`` copies of the template event (and outbox rows if asked), in chunks of
    ``chunk`` per transaction; returns the seconds it took."""
    connection = await asyncpg.connect(dsn)
    began = time.perf_counter()
    try:
        for offset in range(start, start + count, chunk):
            stop = min(offset + chunk, start + count)
            statement = COPY_OUTBOX if outbox else COPY_ONLY
            await connection.execute(
                statement, _uuid(template_event), offset, stop, MONTHS, FIRST_YEAR
            )
            if progress:
                print(f"  {progress}: {stop - start:,}/{count:,} events", flush=True)
    finally:
        await connection.close()
    return time.perf_counter() - began


def _uuid(value: str) -> uuid.UUID:
    return uuid.UUID(value)


async def template_event(dsn: str, group_uuid: str) -> str:
    """The id of the group's latest ``expense.created`` (one posting, made by the API)."""
    connection = await asyncpg.connect(dsn)
    try:
        value = await connection.fetchval(
            "SELECT event_id FROM events_store WHERE event_type = 'expense.created' "
            "AND payload->>'group_id' = $1 ORDER BY position DESC LIMIT 1",
            group_uuid,
        )
    finally:
        await connection.close()
    if value is None:
        raise RuntimeError("no expense.created to copy")
    return str(value)


async def applied_count(dsn: str, consumer: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM read.processed_events WHERE consumer = $1", consumer
            )
        )
    finally:
        await connection.close()


async def wait_caught_up(dsn: str, within: float = 120) -> None:
    """Until every committed event is published and applied by the balances and activity
    projections (what the fixtures' reads and subscriptions need)."""
    deadline = time.monotonic() + within
    connection = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < deadline:
            behind = await connection.fetchval(
                """
                SELECT (SELECT count(*) FROM events_outbox WHERE published_at IS NULL)
                     + (SELECT count(*) FROM events_store s WHERE s.event_type LIKE 'expense.%'
                        AND NOT EXISTS (SELECT 1 FROM read.processed_events p
                            WHERE p.consumer = 'projection.balances' AND p.event_id = s.event_id))
                """
            )
            if behind == 0:
                return
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    raise RuntimeError(f"the read side did not catch up within {within:.0f}s")


def global_id_uuid(global_id: str) -> str:
    """The UUID inside a global id (``base64("Type:uuid")``)."""
    padded = global_id + "=" * (-len(global_id) % 4)
    return base64.urlsafe_b64decode(padded).decode().rsplit(":", 1)[1]
