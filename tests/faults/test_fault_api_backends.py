"""PostgreSQL backends die under the real API server while clients write through it.

``aequatio serve`` runs as a child process on the test's own database and virtual host (with
the dispatcher, the projections and the sagas in it). Clients post ``addExpense`` mutations,
each with its own idempotency key, retrying a key while the server answers with a retryable
error; meanwhile the test terminates (``pg_terminate_backend``) the busy backends of that
database — the API's, the dispatcher's, the consumers' — at random moments.

Every answer must be a success or a clean, typed, retryable GraphQL error (never an HTTP 500,
never a stack trace, SQL or driver name), and nothing may be half-written: each key is
committed exactly once, with exactly one expense, its ``expense.created`` event and that
event's outbox row; no expense exists without them. Then the read side drains and the usual
checks hold.
"""

from __future__ import annotations

import asyncio
import random
import secrets
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.bootstrap import Application
from aequatio.graphql.ids import decode_node
from tests.support.api import Api
from tests.support.faultapi import Spender, Tally, database_name, terminating
from tests.support.faultcheck import assert_consistent
from tests.support.faultscale import scaled
from tests.support.server import serve_process

CLIENTS = 3
EXPENSES_PER_CLIENT = scaled(12, 500)

pytestmark = pytest.mark.timeout(scaled(180, 3 * 3600))


def node_id(global_id: str) -> UUID:
    decoded = decode_node(global_id)
    assert decoded is not None, global_id
    return decoded[1]


async def assert_nothing_half_written(engine: AsyncEngine, tally: Tally, group_id: UUID) -> None:
    """One idempotency key, one expense, one event, one outbox row — for every key."""
    expense_ids = {key: node_id(global_id) for key, global_id in tally.succeeded.items()}
    async with engine.connect() as connection:
        keys: dict[str, UUID] = dict(
            (
                await connection.execute(
                    text(
                        "SELECT key, (result->>'aggregate_id')::uuid FROM idempotency_keys "
                        "WHERE key LIKE 'fault-%'"
                    )
                )
            ).all()
        )
        expenses = set(
            (
                await connection.execute(
                    text("SELECT id FROM expenses WHERE group_id = :g"), {"g": group_id}
                )
            ).scalars()
        )
        created = (
            await connection.execute(
                text(
                    "SELECT s.aggregate_id, count(*) AS events, count(o.position) AS queued "
                    "FROM events_store s LEFT JOIN events_outbox o USING (position) "
                    "WHERE s.event_type = 'expense.created' AND s.aggregate_id = ANY(:ids) "
                    "GROUP BY s.aggregate_id"
                ),
                {"ids": list(expenses | set(expense_ids.values()))},
            )
        ).all()
    assert keys == expense_ids, "each key is stored once, with the expense its client was given"
    assert expenses == set(expense_ids.values()), "an expense without a key, or a key without one"
    assert {row.aggregate_id: (row.events, row.queued) for row in created} == dict.fromkeys(
        expenses, (1, 1)
    ), "each expense has exactly one expense.created event, and its outbox row"


async def test_backends_terminated_under_the_api_give_clean_retryable_errors_and_no_half_writes(
    application: Application,
    database_url: str,
    amqp_url: str,
    rng: random.Random,
    tmp_path: Path,
) -> None:
    secret = secrets.token_urlsafe(48)
    env = {
        "AEQUATIO_DATABASE_URL": database_url,
        "AEQUATIO_AMQP_URL": amqp_url,
        "AEQUATIO_SERVE_ROLES": "all",
        "AEQUATIO_JWT_SECRET": secret,
        "AEQUATIO_DATA_DIR": str(tmp_path / "data"),
        "AEQUATIO_LOG_LEVEL": "WARNING",
    }
    tally = Tally()
    with serve_process(env, tmp_path / "serve.log") as (url, _):
        api = Api(url, secret)
        try:
            group_id, people = await api.family("Ann", "Ben", "Cai")
            spenders = [
                Spender(api, people[n % len(people)].token, group_id, random.Random(rng.random()))
                for n in range(CLIENTS)
            ]
            async with terminating(database_name(database_url), rng) as terminated:
                await asyncio.gather(
                    *(spender.spend(tally, EXPENSES_PER_CLIENT) for spender in spenders)
                )
            print(
                f"{len(tally.succeeded)} expenses, {tally.retryable} retryable answers, "
                f"{tally.replayed} replayed; {terminated.backends} backends terminated "
                f"in {terminated.rounds} rounds"
            )
            assert tally.unclean == [], f"{len(tally.unclean)} unclean answers: {tally.unclean[:5]}"
            assert len(tally.succeeded) == CLIENTS * EXPENSES_PER_CLIENT
            assert terminated.backends > 0, "no backend was terminated: the fault never happened"
            await assert_nothing_half_written(application.engine, tally, node_id(group_id))
            await assert_consistent(application.engine, amqp_url=amqp_url)
        finally:
            await api.close()
