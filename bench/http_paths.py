"""Write and read paths over HTTP, each next to its raw baseline; and the load generator's own
ceiling (calibration), which shows it is not what limits the figures."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.capture import capture_requests, write_scripts
from bench.context import Run
from bench.fixtures import (
    add_expense_body,
    add_expense_requests,
    balances_body,
    balances_requests,
    mutation_ok,
    query_ok,
    raw_ok,
)
from bench.loadgen import Check, RequestFactory, closed_loop, http_request
from bench.profiling import record, stop_recording
from bench.stack import RssSampler, Service

#: The rows one ``addExpense`` writes: compared per request between the app and the raw
#: endpoint, an independent check (in the database) that both do the same writes.
WRITE_TABLES = ("expenses", "expense_postings", "events_store", "events_outbox", "idempotency_keys")
READ_PERIOD = ("2016-01-01", "2017-01-01")
MB = 1_000_000
#: The framework floor's route in the raw endpoint's process (``bench/floor_api.py``).
FLOOR_PATH = "/floor/graphql"


async def capture(run: Run) -> None:
    """Record the SQL of ``addExpense`` and ``balances`` from the real app; write the script
    the raw endpoint replays."""
    family, reader = run.family("write"), run.family("read")
    if family.owner.subject != reader.owner.subject:
        raise RuntimeError("the write and read groups must share their owner (one token)")
    scripts, described = await capture_requests(
        run.stack,
        groups=(run.write_groups[0], run.write_groups[1]),
        token=family.owner.token,
        period=READ_PERIOD,
        read_group=reader.group_id,
    )
    path = run.stack.logs / "raw-scripts.pickle"
    write_scripts(path, scripts)
    run.scripts = path
    run.results["captured_sql"] = described


async def _load(
    run: Run,
    service: Service,
    make: RequestFactory,
    concurrency: int,
    check: Check,
) -> dict[str, Any]:
    profile = run.profile
    result = await closed_loop(
        "127.0.0.1",
        service.port or 0,
        make,
        concurrency=concurrency,
        duration=profile.duration,
        warmup=profile.warmup,
        check=check,
        probes={"server_cpu_s": service.cpu_seconds, "db_cpu_s": run.database_cpu()},
    )
    summary = result.summary()
    summary["ok_total"] = result.ok_total
    for name, spent in result.probed.items():
        # A backend that exits inside the window takes its CPU time out of the sum: a
        # negative difference is no measurement.
        per = spent / result.requests * 1e6 if result.requests and spent >= 0 else None
        summary[name.replace("_s", "_us_per_request")] = round(per, 1) if per else None
    if result.errors:
        run.log(f"  {result.errors} errors, first: {result.first_error}")
    return summary


async def _table_counts(run: Run) -> dict[str, int]:
    counts = {}
    for table in WRITE_TABLES:
        counts[table] = int(await run.sql(f"SELECT count(*) FROM {table}"))  # noqa: S608
    return counts


async def calibrate(run: Run) -> None:
    """The generator against endpoints that do nothing: its ceiling on this machine."""
    service = await run.stack.raw(run.script_path, workers=1)
    points: dict[str, Any] = {}
    try:
        noop = http_request("/noop", b'{"query":"{ ok }"}')
        for concurrency in run.profile.calibrate_concurrencies:
            points[f"noop_c{concurrency}"] = await _load(
                run, service, lambda _: noop, concurrency, raw_ok
            )
            run.log(
                f"  generator vs /noop c={concurrency}: "
                f"{points[f'noop_c{concurrency}']['throughput_rps']:.0f} req/s"
            )
        healthz = http_request("/healthz", method="GET")
        points["healthz_c64"] = await _load(run, service, lambda _: healthz, 64, raw_ok)
        wrk = await asyncio.to_thread(_wrk, service, run.profile.duration)
        if wrk is not None:
            points["healthz_c64_wrk"] = wrk
    finally:
        run.stack.stop(service)
    run.results["generator"] = points


def _wrk(service: Service, duration: float) -> dict[str, Any] | None:
    """The same GET through wrk (C), when it is installed: a cross-check of the ceiling."""
    binary = shutil.which("wrk")
    if binary is None:
        return None
    seconds = max(2, round(duration))
    done = subprocess.run(  # noqa: S603 - fixed program
        [binary, "-t1", "-c64", f"-d{seconds}s", "--latency", service.url + "/healthz"],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    throughput = None
    for line in done.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            throughput = float(line.split()[1])
    return {"tool": "wrk -t1 -c64", "throughput_rps": throughput, "output": done.stdout[-800:]}


#: The three servers each load point is measured on, in this order in the first round.
KINDS = ("app", "raw", "floor")


@dataclass
class _Server:
    """One of the three servers of a worker count, up for all its load points."""

    label: str
    service: Service
    write_path: str
    read_path: str
    check: Check
    read_check: Check
    sampler: RssSampler
    #: Rows written by its ``addExpense`` windows, per table, and the requests that wrote them.
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(WRITE_TABLES, 0))
    requests: int = 0


async def _servers(run: Run, workers: int) -> dict[str, _Server]:
    """The app, and the raw endpoint's process, which serves the floor too
    (``bench/floor_api.py``): two pools of the app's size, not three (with two workers each,
    three would pass PostgreSQL's 100 connections). Their RSS is sampled throughout."""
    app = await run.stack.serve(workers, name=f"api-w{workers}")
    raw = await run.stack.raw(run.script_path, workers)
    # Started once both are up: a failed start leaves no sampler running.
    app_rss, raw_rss = RssSampler(app).__enter__(), RssSampler(raw).__enter__()
    return {
        "app": _Server(
            f"app_w{workers}", app, "/graphql", "/graphql", mutation_ok, query_ok, app_rss
        ),
        "raw": _Server(
            f"raw_w{workers}",
            raw,
            "/raw/add-expense",
            "/raw/balances",
            raw_ok,
            raw_ok,
            raw_rss,
        ),
        "floor": _Server(
            f"floor_w{workers}",
            raw,
            FLOOR_PATH,
            FLOOR_PATH,
            mutation_ok,
            query_ok,
            raw_rss,
        ),
    }


def in_turn(round_: int) -> tuple[str, ...]:
    """The kinds in the order round ``round_`` measures them: each goes first once in three
    rounds, so none is always measured right after another's load."""
    shift = round_ % len(KINDS)
    return KINDS[shift:] + KINDS[:shift]


def median_window(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """The window of median throughput (the lower middle of an even count), whole: its
    latencies and CPU are the ones measured with that throughput. Every round's throughput
    is kept beside it (``rounds_rps``)."""
    ordered = sorted(windows, key=lambda window: window["throughput_rps"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["rounds_rps"] = [window["throughput_rps"] for window in windows]
    return chosen


async def write_and_read(run: Run) -> None:
    """``addExpense`` and ``balances`` on the app, the raw endpoint and the floor, per worker
    count: the three servers up together, each load point measured on each in turn, in
    ``profile.rounds`` rounds, and the median window of each kept. Measured one server after
    the other instead, a ratio took the machine's drift over minutes for a difference between
    them (one worker's write ratio read 0.49 and 0.66 in two runs of the same code)."""
    profile = run.profile
    writer = run.family("write")
    reader = run.family("read")
    # Filled as the load points are measured: a failure later keeps what was measured.
    write: dict[str, Any] = run.results.setdefault("write", {})
    read: dict[str, Any] = run.results.setdefault("read", {})
    rss: dict[str, Any] = run.results.setdefault("write_rss", {})
    rows: dict[str, Any] = run.results.setdefault("rows_per_request", {})
    await _check_raw_statements(run)
    for workers in profile.workers:
        servers: dict[str, _Server] = {}
        recording = None
        try:
            servers = await _servers(run, workers)
            recording = record(run, servers["app"].service, f"app_w{workers}_write")
            windows: dict[str, list[dict[str, Any]]] = {}
            for round_ in range(profile.rounds):
                for concurrency in profile.concurrencies:
                    for kind in in_turn(round_):
                        server = servers[kind]
                        make = add_expense_requests(
                            server.write_path,
                            run.write_groups,
                            writer.owner.token,
                            f"{server.label}-r{round_}-c{concurrency}-{run.stack.run_id}",
                        )
                        before = await _table_counts(run)
                        point = await _load(run, server.service, make, concurrency, server.check)
                        after = await _table_counts(run)
                        server.requests += point["ok_total"]
                        for table in WRITE_TABLES:
                            server.rows[table] += after[table] - before[table]
                        _keep(
                            run,
                            windows,
                            f"write {server.label}",
                            point,
                            concurrency=concurrency,
                            round_=round_,
                        )
            for key, measured in windows.items():
                write[key.removeprefix("write ")] = median_window(measured)
            for server in servers.values():
                rss[server.label] = {
                    "max_total_mb": round(server.sampler.max_total / MB, 1),
                    "max_process_mb": round(server.sampler.max_single / MB, 1),
                }
                rows[server.label] = {
                    table: round(server.rows[table] / server.requests, 3) for table in WRITE_TABLES
                }
            if workers == 1:
                stop_recording(run, recording)
                recording = record(run, servers["app"].service, "app_w1_read")
                await _read_rounds(run, servers, reader, read)
        finally:
            stop_recording(run, recording)
            for server in servers.values():
                server.sampler.__exit__()
                run.stack.stop(server.service)
    mismatched = [
        table
        for workers in profile.workers
        for table in WRITE_TABLES
        for other in ("raw", "floor")
        if rows[f"app_w{workers}"][table] != rows[f"{other}_w{workers}"][table]
    ]
    run.results["rows_match"] = not mismatched
    if mismatched:
        raise RuntimeError(f"the baselines do not write what addExpense writes: {rows}")


async def _read_rounds(
    run: Run, servers: dict[str, _Server], reader: Any, read: dict[str, Any]
) -> None:
    """``balances`` on the three servers in turn, in rounds, as the writes are measured."""
    windows: dict[str, list[dict[str, Any]]] = {}
    for round_ in range(run.profile.rounds):
        for concurrency in run.profile.read_concurrencies:
            for kind in in_turn(round_):
                server = servers[kind]
                make = balances_requests(
                    server.read_path, reader.group_id, reader.owner.token, *READ_PERIOD
                )
                point = await _load(run, server.service, make, concurrency, server.read_check)
                _keep(run, windows, f"read {kind}", point, concurrency=concurrency, round_=round_)
    for key, measured in windows.items():
        read[key.removeprefix("read ")] = median_window(measured)


def _keep(
    run: Run,
    windows: dict[str, list[dict[str, Any]]],
    name: str,
    point: dict[str, Any],
    *,
    concurrency: int,
    round_: int,
) -> None:
    """Keep one window among its load point's (``<name>_c<concurrency>``), and log it."""
    windows.setdefault(f"{name}_c{concurrency}", []).append(point)
    run.log(
        f"  {name} c={concurrency} round {round_ + 1}: {point['throughput_rps']:.0f}/s "
        f"p50 {point['p50_ms']} ms p99 {point['p99_ms']} ms"
    )


def _driver_internal(statement: str) -> bool:
    """asyncpg's own statements: the transaction's BEGIN and COMMIT, and the type introspection
    it runs once per connection the first time a statement binds an array (``= any($1)``),
    with JIT switched off around it. The app's connections ran theirs when warmed up."""
    return (
        statement in ("BEGIN;", "COMMIT;")
        or "typeinfo_tree" in statement
        or "set_config('jit'" in statement
    )


async def _check_raw_statements(run: Run) -> None:
    """What asyncpg sent for the raw endpoint equals what SQLAlchemy sent for the app, statement
    by statement; and the raw read returns the balances the GraphQL query returns."""
    service = await run.stack.raw(run.script_path, workers=1)
    try:
        writer, reader = run.family("write"), run.family("read")
        expected = run.results["captured_sql"]
        checks: dict[str, bool] = {}
        bodies: dict[str, dict[str, Any]] = {
            "add_expense": add_expense_body(writer.group_id, 5, f"trace-{run.stack.run_id}"),
            "balances": balances_body(reader.group_id, *READ_PERIOD),
        }
        answers: dict[str, Any] = {}
        for name, body in bodies.items():
            response = await _post_json(service, f"/raw/trace/{name}", body)
            answers[name] = response
            want = [s for tx in expected[name]["transactions"] for s in tx["statements"]]
            got = [s for s in response["statements"] if not _driver_internal(s)]
            checks[name] = got == want
            if got != want:
                raise RuntimeError(f"raw {name} sent other SQL than the app:\n{got}\n!=\n{want}")
        run.results["raw_statements_match"] = checks
        floor_bodies = {
            **bodies,
            "add_expense": add_expense_body(writer.group_id, 6, f"floor-{run.stack.run_id}"),
        }
        run.results["floor_answers_match"] = await _check_floor(service, floor_bodies, expected)
    finally:
        run.stack.stop(service)
    app_balances = expected["balances"]["app_answer"]["balances"]
    raw_rows = [row for rows in answers["balances"]["data"]["balances"] for row in rows]
    raw_paid = sum(int(row["paid_cents"]) for row in raw_rows if "paid_cents" in row)
    app_paid = sum(int(entry["paidCents"]) for entry in app_balances)
    run.results["raw_read_equals_app"] = raw_paid == app_paid and app_paid > 0
    if raw_paid != app_paid:
        raise RuntimeError(f"raw balances paid {raw_paid} != app {app_paid}")


async def _check_floor(
    service: Service, bodies: dict[str, dict[str, Any]], expected: dict[str, Any]
) -> dict[str, bool]:
    """The bare Strawberry floor answers the balances the app answered, field for field, and
    ``addExpense`` with a success of the same shape (the ids are this request's)."""
    read = await _post_json(service, FLOOR_PATH, bodies["balances"])
    if read != {"data": expected["balances"]["app_answer"]}:
        raise RuntimeError(f"the floor's balances differ from the app's: {read}")
    write = (await _post_json(service, FLOOR_PATH, bodies["add_expense"]))["data"]["addExpense"]
    app = expected["add_expense"]["app_answer"]["addExpense"]
    same_shape = {k: type(v) for k, v in write.items()} == {k: type(v) for k, v in app.items()}
    if not same_shape or write["__typename"] != "MutationSuccess" or write["id"] == app["id"]:
        raise RuntimeError(f"the floor's addExpense answer {write} is not like the app's {app}")
    return {"balances": True, "add_expense": True}


async def _post_json(service: Service, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        response = await client.post(path, json=body)
        response.raise_for_status()
        answer: dict[str, Any] = response.json()
        return answer


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)
