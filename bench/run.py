"""The benchmark harness: ``make bench`` (full, about 25 minutes) and ``make bench-quick``
(small sizes, about five minutes).

Creates a database and a RabbitMQ virtual host, sets the stack up, measures every figure of
issue 7 next to its same-run baseline, writes ``bench/results.json`` and ``bench/RESULTS.md``,
and removes everything it created (on failure and on SIGINT/SIGTERM too).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import signal
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.persistence.database import create_engine, migrate
from bench import report
from bench.context import FULL, QUICK, Profile, Run
from bench.dispatch import dispatcher_and_projections
from bench.e2e import end_to_end
from bench.fixtures import (
    AMOUNT,
    BenchApi,
    add_expense_body,
    global_id_uuid,
    make_family,
    template_event,
    wait_caught_up,
)
from bench.http_paths import calibrate, capture, write_and_read
from bench.machine import describe
from bench.replay_scale import replay_and_scale
from bench.stack import BENCH, ServiceUnavailable, Stack, check_services
from tests.support.maintenance import maintain_like_autovacuum

Phase = Callable[[Run], Awaitable[None]]

PHASES: dict[str, Phase] = {
    "calibrate": calibrate,
    "write_read": write_and_read,
    "e2e": end_to_end,
    "dispatcher": dispatcher_and_projections,
    "replay_scale": replay_and_scale,
}


async def setup(run: Run) -> None:
    """Migrate; then, with the API and a worker running every role, make the people and groups
    every figure uses, through the real API, and wait until the read side has them."""
    stack = run.stack
    await asyncio.to_thread(migrate, stack.database_url)
    worker = await stack.worker("all", name="setup-worker")
    api_service = await stack.serve(1, name="setup-api")
    api = BenchApi(api_service.url, stack.secret)
    run.api = api
    try:
        people = [await api.person(name) for name in ("Ann", "Ben", "Cai")]
        groups = {"write": 2, "read": 2, "lag": 3, "invoice": 2, "subs": 2, "scale": 2, "bulk": 2}
        for name, size in groups.items():
            run.families[name] = await make_family(api, people[:size], name)
        for index in range(1, run.profile.write_groups):
            run.families[f"write-{index}"] = await make_family(api, people[:2], f"write-{index}")
        reader = run.family("read")
        for index in range(run.profile.read_expenses):
            body = add_expense_body(reader.group_id, index, f"read-{index}")
            await api.succeed("addExpense", body["variables"]["input"], token=reader.owner.token)
        # One real expense per bulk group: the template its copies are made from (day 15, so
        # the date and the month of its posting differ).
        for name in ("scale", "bulk"):
            family = run.family(name)
            await api.succeed(
                "addExpense",
                {
                    "groupId": family.group_id,
                    "amountCents": AMOUNT,
                    "currency": "EUR",
                    "description": "Groceries",
                    "incurredOn": "2016-01-15",
                },
                token=family.owner.token,
            )
            run.templates[name] = await template_event(stack.dsn, global_id_uuid(family.group_id))
        await wait_caught_up(stack.dsn)
    finally:
        stack.stop(api_service)
        stack.stop(worker)


class _Maintenance:
    """Autovacuum's work on the run's database where the server has it off: every 30 s, what
    autovacuum would vacuum and analyze at its default thresholds
    (``tests.support.maintenance``). With no statistics, a table that grows from empty during
    a phase keeps the plans its connections cached while it was empty, and the figures would
    be those of a server nobody runs."""

    def __init__(self) -> None:
        self._engine: AsyncEngine | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[int | None] | None = None

    async def start(self, database_url: str) -> None:
        self._engine = create_engine(database_url)
        self._task = asyncio.create_task(maintain_like_autovacuum(self._engine, self._stop))

    async def stop(self) -> dict[str, Any]:
        """What was done: ``{"server": "on"}``, ``{"server": "off", "stand_in_statements": n}``,
        or the error that stopped the stand-in (the figures stand; the report says so)."""
        if self._engine is None or self._task is None:
            return {}
        self._stop.set()
        try:
            statements = await self._task
        except Exception as error:
            return {"server": "off", "stand_in_error": f"{type(error).__name__}: {error}"}
        finally:
            await self._engine.dispose()
        if statements is None:
            return {"server": "on"}
        return {"server": "off", "stand_in_statements": statements}


def _raise_file_limit() -> None:
    """1,000 WebSockets need more descriptors than a default soft limit of 1,024 (the servers
    started from here inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 65_536) if hard != resource.RLIM_INFINITY else 65_536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def run_phases(run: Run, only: list[str]) -> None:
    for name, phase in PHASES.items():
        if only and name not in only:
            continue
        run.log(f"phase {name}")
        try:
            await phase(run)
        except (Exception, TimeoutError) as error:  # one phase failing spoils no other
            run.failures[name] = f"{type(error).__name__}: {error}"
            traceback.print_exc()
        finally:
            await asyncio.to_thread(run.stack.stop_all)


async def main(profile: Profile, only: list[str], output: Path, py_spy: Path | None = None) -> int:
    _raise_file_limit()
    began = time.monotonic()
    try:
        await check_services()
    except ServiceUnavailable as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(signum, lambda: task.cancel() if task else None)
    stack = Stack()
    run = Run(profile, stack, py_spy=py_spy)
    if py_spy is not None:
        run.results["profiled_with_py_spy"] = str(py_spy)
    run.results["profile"] = {  # JSON has no infinity: an uncapped replay is null
        key: None if value == math.inf else value for key, value in asdict(profile).items()
    }
    run.results["machine"] = await describe()
    failures = run.failures
    run.results["phases_run"] = [name for name in PHASES if not only or name in only]
    maintenance = _Maintenance()
    try:
        run.log(f"bench ({profile.name}): database {stack.database}, vhost {stack.vhost}")
        await stack.create()
        await maintenance.start(stack.database_url)
        run.log("setup: migrate, people and groups through the API")
        await setup(run)
        run.log("capture: the SQL of addExpense and balances")
        await capture(run)
        await run_phases(run, only)
    except asyncio.CancelledError:
        failures["interrupted"] = "stopped by a signal"
        raise
    except Exception as error:
        failures["setup"] = f"{type(error).__name__}: {error}"
        traceback.print_exc()
    finally:
        run.results["autovacuum"] = await maintenance.stop()
        run.log("cleanup: processes, database, virtual host")
        await stack.destroy()
        if run.api is not None:
            await run.api.close()
        run.results["duration_seconds"] = round(time.monotonic() - began)
        if failures:
            run.results["failures"] = failures
        report.write(run.results, output)
        run.log(f"wrote {output / 'results.json'} and {output / 'RESULTS.md'}")
    return 1 if failures else 0


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, every figure, about five minutes"
    )
    parser.add_argument(
        "--only", action="append", choices=sorted(PHASES), default=[], help="run these phases"
    )
    parser.add_argument("--output", type=Path, default=BENCH, help="where results go")
    parser.add_argument(
        "--replay-cap",
        type=float,
        default=None,
        help="stop the large replay after this many seconds (0: never); "
        "default 600 (full), 120 (quick)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="py-spy stacks of the API under the write, read and fan-out loads, into DIR",
    )
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.replay_cap is not None:
        profile = replace(profile, replay_cap=args.replay_cap or math.inf)
    args.output.mkdir(parents=True, exist_ok=True)
    try:
        # uvloop (uvicorn[standard] brings it): the load generator's CPU per request is lower.
        return uvloop.run(main(profile, args.only, args.output, args.py_spy))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130
