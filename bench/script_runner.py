"""The captured statement scripts, loaded and run on an asyncpg connection: what the raw
baseline (``bench/raw_api.py``) and the framework floor (``bench/floor_api.py``) both replay."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg

from aequatio.graphql.ids import decode_node
from bench.sqlscript import Capture, CompiledStatement, Substitution, compile_script

#: What the harness pickles per script: the capture, how its values change per request (writes),
#: whether each captured transaction runs as one, and the app's answer to the captured request.
Pickled = tuple[Capture, Substitution | None, bool, dict[str, Any]]


@dataclass
class Script:
    transactions: list[list[CompiledStatement]]
    substitution: Substitution | None
    #: Run each captured transaction as one (writes), or statements on their own (reads).
    transactional: bool
    #: The application's ``data`` for the captured request.
    answer: dict[str, Any]


def load_scripts(path: Path) -> dict[str, Script]:
    if not path.is_file():
        return {}
    raw: dict[str, Pickled] = pickle.loads(path.read_bytes())  # noqa: S301 - the harness wrote it
    return {
        name: Script(
            compile_script(capture, substitution or Substitution()),
            substitution,
            transactional,
            answer,
        )
        for name, (capture, substitution, transactional, answer) in raw.items()
    }


async def run_script(
    connection: asyncpg.Connection, script: Script, mapping: dict[Any, Any]
) -> list[list[dict[str, Any]]]:
    """Every statement of ``script`` with this request's values; the rows of each SELECT."""
    results: list[list[dict[str, Any]]] = []

    async def one(statement: CompiledStatement) -> None:
        arguments = statement.arguments(mapping)
        if statement.many:
            await connection.executemany(statement.sql, arguments)
        elif statement.returns_rows:
            rows = await connection.fetch(statement.sql, *arguments)
            results.append([dict(row) for row in rows])
        else:
            await connection.execute(statement.sql, *arguments)

    for transaction in script.transactions:
        if script.transactional:
            async with connection.transaction():
                for statement in transaction:
                    await one(statement)
        else:
            for statement in transaction:
                await one(statement)
    return results


def request_values(script: Script, key: str, day: date, group: str) -> dict[Any, Any]:
    """The captured request's values -> this request's: fresh ids and timestamps, and the
    idempotency key, date and group (a global id) the request names."""
    if script.substitution is None:
        return {}
    decoded = decode_node(group)
    if decoded is None or decoded[0] != "Group":
        raise ValueError(f"not a group id: {group}")
    return script.substitution.objects(key, day, datetime.now(UTC), decoded[1])
