"""Capturing the SQL of real requests: the application's own ASGI app, in this process, on the
run's database, with the SQLAlchemy statement recorder (``bench/sqlscript.py``) around one
request at a time. No background role runs in it, so every statement recorded is the
request's."""

from __future__ import annotations

import pickle
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from aequatio.api.app import create_app
from aequatio.config import Settings
from bench.fixtures import add_expense_body, balances_body, global_id_uuid
from bench.script_runner import Pickled
from bench.sqlscript import Capture, analyse, capturing
from bench.stack import Stack


async def _post(client: httpx.AsyncClient, body: dict[str, Any], token: str) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    payload: dict[str, Any] = response.json()
    if response.status_code != 200 or payload.get("errors"):
        raise RuntimeError(f"capture request failed: {response.status_code} {payload}")
    return payload


async def capture_requests(
    stack: Stack,
    *,
    groups: tuple[str, str],
    token: str,
    period: tuple[str, str],
    read_group: str,
) -> tuple[dict[str, Pickled], dict[str, Any]]:
    """The ``addExpense`` and ``balances`` scripts, and a description of them for the report."""
    settings = Settings(
        database_url=stack.database_url,
        amqp_url=stack.amqp_url,
        serve_roles="",
        jwt_secret=SecretStr(stack.secret),
        log_level="WARNING",
    )
    app = create_app(settings)
    keys = (f"capture-a-{uuid.uuid4().hex}", f"capture-b-{uuid.uuid4().hex}")
    # Different months and days, so dates and month rows differ between A and B.
    indices = (3 + 120 * 14, 7 + 120 * 5)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench"
        ) as client,
    ):
        # Warm up: connections in the pool, caches, first-use statements.
        await _post(client, add_expense_body(groups[0], 11, f"warm-{uuid.uuid4().hex}"), token)
        await _post(client, balances_body(read_group, *period), token)
        writes: list[Capture] = []
        answers: list[dict[str, Any]] = []
        # A and B in different groups too: the group is a per-request value of the script.
        for key, index, group in zip(keys, indices, groups, strict=True):
            with capturing() as capture:
                answer = await _post(client, add_expense_body(group, index, key), token)
            if answer["data"]["addExpense"]["__typename"] != "MutationSuccess":
                raise RuntimeError(f"capture mutation refused: {answer}")
            writes.append(capture)
            answers.append(answer["data"])
        with capturing() as read:
            read_answer = (await _post(client, balances_body(read_group, *period), token))["data"]
    days = tuple(
        date.fromisoformat(add_expense_body(groups[0], i, "")["variables"]["input"]["incurredOn"])
        for i in indices
    )
    group_ids = (uuid.UUID(global_id_uuid(groups[0])), uuid.UUID(global_id_uuid(groups[1])))
    substitution = analyse(
        writes[0], writes[1], keys=keys, days=(days[0], days[1]), groups=group_ids
    )
    if len(writes[0].transactions) != 1:
        raise RuntimeError(
            f"addExpense ran {len(writes[0].transactions)} transactions; the raw endpoint "
            "replays each as one, check that this is still what the mutation does"
        )
    scripts: dict[str, Pickled] = {
        "add_expense": (writes[0], substitution, True, answers[0]),
        "balances": (read, None, False, read_answer),
    }
    described = {
        "add_expense": {
            "transactions": [
                {"ends": tx.ends, "statements": [s.sql for s in tx.statements]}
                for tx in writes[0].transactions
            ],
            "per_request_values": {
                "fresh_uuids": len(substitution.fresh_uuids),
                "timestamps": len(substitution.timestamps),
                "hex_tokens": len(substitution.hex_tokens),
                "idempotency_key_and_date": True,
                "group": True,
            },
            "verified_against_second_capture": True,
            "app_answer": answers[0],
        },
        "balances": {
            "transactions": [
                {"ends": tx.ends, "statements": [s.sql for s in tx.statements]}
                for tx in read.transactions
            ],
            "app_answer": read_answer,
        },
    }
    return scripts, described


def write_scripts(path: Path, scripts: dict[str, Pickled]) -> None:
    path.write_bytes(pickle.dumps(scripts))
