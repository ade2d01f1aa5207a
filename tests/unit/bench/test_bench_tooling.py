"""The benchmark's own tooling: the framework floor accepts the documents the load generator
sends, the CPU breakdown tells the stack's processes apart, and the HTTP load points are
measured on every server in turn and reported by their median window."""

from __future__ import annotations

import pytest
from graphql import parse, validate

from bench.fixtures import ADD_EXPENSE, BALANCES
from bench.floor_api import SCHEMA
from bench.http_paths import KINDS, in_turn, median_window
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


def test_in_three_rounds_each_server_goes_first_once_and_every_round_measures_all() -> None:
    orders = [in_turn(round_) for round_ in range(3)]
    assert all(sorted(order) == sorted(KINDS) for order in orders)
    assert sorted(order[0] for order in orders) == sorted(KINDS)


def test_the_median_window_is_reported_whole_with_every_rounds_throughput() -> None:
    windows = [
        {"throughput_rps": 300.0, "p50_ms": 9.0},
        {"throughput_rps": 500.0, "p50_ms": 5.0},
        {"throughput_rps": 400.0, "p50_ms": 7.0},
    ]
    chosen = median_window(windows)
    assert chosen["throughput_rps"] == 400.0
    assert chosen["p50_ms"] == 7.0  # the latencies measured with that throughput
    assert chosen["rounds_rps"] == [300.0, 500.0, 400.0]
    assert "rounds_rps" not in windows[2]  # the windows themselves are left as measured


def test_of_two_windows_the_slower_is_reported() -> None:
    windows = [{"throughput_rps": 500.0}, {"throughput_rps": 300.0}]
    assert median_window(windows)["throughput_rps"] == 300.0
