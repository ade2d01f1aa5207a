"""The benchmark's own tooling: the framework floor accepts the documents the load generator
sends, and the CPU breakdown tells the stack's processes apart."""

from __future__ import annotations

import pytest
from graphql import parse, validate

from bench.fixtures import ADD_EXPENSE, BALANCES
from bench.floor_api import SCHEMA
from bench.machine import process_kind


@pytest.mark.parametrize("document", [ADD_EXPENSE, BALANCES], ids=["addExpense", "balances"])
def test_the_floor_executes_the_very_documents_sent_to_aequatio(document: str) -> None:
    assert validate(SCHEMA._schema, parse(document)) == []


@pytest.mark.parametrize(
    ("name", "command", "kind"),
    [
        ("python", "/x/.venv/bin/python -m aequatio serve --port 4000 --workers 1", "API"),
        (
            "python",
            "/x/.venv/bin/python -m aequatio worker --metrics-port 0 --role sagas",
            "worker sagas",
        ),
        (
            "python",
            "python -m aequatio worker --role dispatcher --role projections",
            "worker dispatcher+projections",
        ),
        ("python", "python -m aequatio worker", "worker all"),
        ("postgres", "postgres: postgres aeq_benchrun 127.0.0.1(5000) idle", "PostgreSQL"),
        ("beam.smp", "/usr/lib/erlang/erts/bin/beam.smp -W w -- -root", "RabbitMQ"),
        ("python", "python -m bench.raw_api --port 4001", "other"),
        ("python", "python -m pytest tests/unit/serve", "other"),
    ],
)
def test_processes_are_told_apart_by_what_they_run(name: str, command: str, kind: str) -> None:
    assert process_kind(name, command) == kind
