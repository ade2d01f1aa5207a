"""What every figure's code shares: the run's sizes, its stack, its fixtures and results."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench.fixtures import BenchApi, Family
from bench.stack import Stack


@dataclass(frozen=True)
class Profile:
    """Sizes and durations; ``QUICK`` shrinks them all but measures every figure."""

    name: str
    warmup: float
    duration: float
    concurrencies: tuple[int, ...]
    calibrate_concurrencies: tuple[int, ...]
    workers: tuple[int, ...]
    read_concurrencies: tuple[int, ...]
    lag_rate: float
    lag_seconds: float
    #: Invoices measured, one a month. A p99 wants a few hundred samples: of 60, it was the
    #: largest, one slow invoice deciding the figure (p90 99.8 ms, p99 = max 158.7 ms).
    invoice_months: int
    subscribers: int
    fanout_events: int
    backlog: int
    projection_seconds: float
    scale_small: int
    scale_large: int
    scale_requests: int
    read_expenses: int
    #: The write load rotates over this many groups (of one owner), as many families would.
    write_groups: int
    #: A replay still running after this many seconds is stopped (its rate so far reported).
    replay_cap: float
    #: Each HTTP load point is measured this many times on each server, in turn; the median
    #: window is reported (``bench/http_paths.py: write_and_read``).
    rounds: int


FULL = Profile(
    name="full",
    warmup=2.0,
    duration=10.0,
    concurrencies=(1, 16, 64),
    calibrate_concurrencies=(1, 16, 64),
    workers=(1, 2),
    read_concurrencies=(1, 16, 64),
    lag_rate=200.0,
    lag_seconds=30.0,
    invoice_months=200,
    subscribers=1000,
    fanout_events=20,
    backlog=100_000,
    projection_seconds=30.0,
    scale_small=10_000,
    scale_large=1_000_000,
    scale_requests=300,
    read_expenses=120,
    write_groups=16,
    replay_cap=600.0,
    rounds=3,
)

QUICK = Profile(
    name="quick",
    warmup=1.0,
    duration=3.0,
    concurrencies=(1, 16, 64),
    calibrate_concurrencies=(64,),
    workers=(1, 2),
    read_concurrencies=(64,),
    lag_rate=200.0,
    lag_seconds=3.0,
    invoice_months=6,
    subscribers=1000,
    fanout_events=2,
    backlog=5_000,
    projection_seconds=3.0,
    scale_small=500,
    scale_large=3_000,
    scale_requests=60,
    read_expenses=24,
    write_groups=16,
    replay_cap=120.0,
    rounds=2,
)


@dataclass
class Run:
    profile: Profile
    stack: Stack
    api: BenchApi | None = None
    families: dict[str, Family] = field(default_factory=dict)
    #: Global ids of template ``expense.created`` events per family, for bulk copies.
    templates: dict[str, str] = field(default_factory=dict)
    scripts: Path | None = None
    results: dict[str, Any] = field(default_factory=dict)
    #: ``--py-spy DIR``: where the API's profiles under the write and read load go.
    py_spy: Path | None = None
    #: What failed (a phase, or one measurement of it): shown as failed in the report.
    failures: dict[str, str] = field(default_factory=dict)

    def family(self, name: str) -> Family:
        return self.families[name]

    @property
    def write_groups(self) -> list[str]:
        """The groups the write load spreads over (one owner: one token)."""
        return [
            family.group_id for name, family in self.families.items() if name.startswith("write")
        ]

    @property
    def client(self) -> BenchApi:
        """The API client the set-up made (every phase runs after it)."""
        if self.api is None:
            raise RuntimeError("the set-up did not run: no API client")
        return self.api

    @property
    def script_path(self) -> Path:
        """The captured SQL scripts the raw endpoint replays (``capture`` writes them)."""
        if self.scripts is None:
            raise RuntimeError("the SQL capture did not run: no raw scripts")
        return self.scripts

    def log(self, message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)

    async def sql(self, query: str, *args: Any) -> Any:
        """One value from the run's database."""
        connection = await asyncpg.connect(self.stack.dsn)
        try:
            return await connection.fetchval(query, *args)
        finally:
            await connection.close()

    async def execute(self, script: str) -> None:
        """Statements (several allowed) on the run's database."""
        connection = await asyncpg.connect(self.stack.dsn)
        try:
            await connection.execute(script)
        finally:
            await connection.close()

    async def sql_rows(self, query: str, *args: Any) -> list[asyncpg.Record]:
        connection = await asyncpg.connect(self.stack.dsn)
        try:
            return list(await connection.fetch(query, *args))
        finally:
            await connection.close()

    def database_cpu(self) -> Callable[[], float]:
        """CPU seconds of the PostgreSQL backends serving this run's database (cumulative)."""
        database = self.stack.database
        return lambda: sum(backend_cpu(database).values())


def backend_cpu(database: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend (by pid) serving ``database``."""
    marker = f" {database} "
    seconds: dict[int, float] = {}
    for process in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            command = " ".join(process.info["cmdline"] or [])
            if command.startswith("postgres:") and marker in command + " ":
                times = process.cpu_times()
                seconds[process.pid] = times.user + times.system
    return seconds


async def gather_limited(limit: int, *jobs: Any) -> list[Any]:
    """``asyncio.gather`` with at most ``limit`` jobs running at once."""
    semaphore = asyncio.Semaphore(limit)

    async def one(job: Any) -> Any:
        async with semaphore:
            return await job

    return await asyncio.gather(*(one(job) for job in jobs))
