"""Clients of the real API under database faults, and the fault itself.

A ``Spender`` posts ``addExpense`` mutations over HTTP, each with its own idempotency key, and
retries a key for as long as the server answers with a retryable error — what a well-behaved
client does. Every answer that is neither a success nor a clean retryable error is kept, so
the test can show it. ``terminating`` kills the database's backends (``pg_terminate_backend``)
in the background: only backends of the test's own database.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from tests.support.api import GRAPHQL_RESPONSE, Api
from tests.support.databases import ADMIN_DSN

ADD_EXPENSE = (
    "mutation($input: AddExpenseInput!) { addExpense(input: $input) { __typename "
    "... on MutationSuccess { id eventIds replayed } ... on Error { code message field } } }"
)
#: What a server-side failure must never leak to a client.
LEAKS = ("Traceback", "sqlalchemy", "asyncpg", "psycopg", "SELECT ", "INSERT ", 'File "')


@dataclass
class Tally:
    """What the clients saw."""

    succeeded: dict[str, str] = field(default_factory=dict)  # idempotency key -> expense id
    retryable: int = 0
    replayed: int = 0
    unclean: list[str] = field(default_factory=list)


def classify(response: httpx.Response) -> tuple[str, dict[str, Any] | None]:
    """``success`` (with the payload), ``retryable``, or ``unclean`` — and why."""
    body_text = response.text
    if any(leak in body_text for leak in LEAKS):
        return "unclean", None
    if response.status_code != 200:
        return "unclean", None
    try:
        body = response.json()
    except ValueError:
        return "unclean", None
    errors = body.get("errors") or []
    payload = (body.get("data") or {}).get("addExpense")
    if not errors and payload and payload.get("__typename") == "MutationSuccess":
        return "success", payload
    if errors and all(
        (error.get("extensions") or {}).get("retryable") is True
        and (error.get("extensions") or {}).get("code") == "UNAVAILABLE"
        for error in errors
    ):
        return "retryable", None
    return "unclean", None


class Spender:
    def __init__(self, api: Api, token: str, group_id: str, rng: random.Random) -> None:
        self._api = api
        self._token = token
        self._group_id = group_id
        self._rng = rng

    async def spend(self, tally: Tally, count: int) -> None:
        for _ in range(count):
            await self._one(tally)

    async def _one(self, tally: Tally) -> None:
        key = f"fault-{uuid.uuid4()}"
        variables = {
            "input": {
                "groupId": self._group_id,
                "amountCents": self._rng.randint(1, 90_000),
                "currency": self._rng.choice(("EUR", "USD")),
                "description": "under fire",
                "incurredOn": f"2026-0{self._rng.randint(1, 3)}-{self._rng.randint(10, 28)}",
                "idempotencyKey": key,
            }
        }
        for attempt in range(200):
            try:
                response = await self._api.post(ADD_EXPENSE, variables, token=self._token)
            except httpx.HTTPError as error:
                tally.unclean.append(f"{key}: the server dropped the request: {error!r}")
                await asyncio.sleep(0.05)
                continue
            verdict, payload = classify(response)
            if verdict == "success" and payload is not None:
                tally.succeeded[key] = payload["id"]
                tally.replayed += bool(payload["replayed"])
                return
            if verdict == "retryable":
                tally.retryable += 1
            else:
                tally.unclean.append(f"{key}: {response.status_code} {response.text[:300]}")
            await asyncio.sleep(min(0.02 * 2**attempt, 0.5))
        tally.unclean.append(f"{key}: never succeeded")


@dataclass
class Terminations:
    rounds: int = 0
    backends: int = 0


async def terminate_busy_backends(database: str) -> int:
    """Terminate the database's backends that are in the middle of something; how many."""
    connection = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        killed = await connection.fetchval(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid() "
            "AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')",
            database,
        )
    finally:
        await connection.close()
    return int(killed or 0)


@asynccontextmanager
async def terminating(
    database: str, rng: random.Random, every: tuple[float, float] = (0.05, 0.3)
) -> AsyncIterator[Terminations]:
    """Terminate busy backends of ``database`` at random intervals for the block."""
    done = Terminations()
    stop = asyncio.Event()

    async def run() -> None:
        while not stop.is_set():
            done.backends += await terminate_busy_backends(database)
            done.rounds += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), rng.uniform(*every))

    task = asyncio.create_task(run(), name="terminating backends")
    try:
        yield done
    finally:
        stop.set()
        await task


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


__all__ = ["GRAPHQL_RESPONSE", "Spender", "Tally", "database_name", "terminating"]
