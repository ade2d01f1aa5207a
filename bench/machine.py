"""The machine and the versions a run measured, for the report's header."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

import asyncpg
import psutil

from bench.stack import ADMIN_DSN, rabbitmqctl

PACKAGES = (
    "fastapi",
    "starlette",
    "strawberry-graphql",
    "graphql-core",
    "uvicorn",
    "uvloop",
    "httptools",
    "websockets",
    "sqlalchemy",
    "asyncpg",
    "aiormq",
    "pydantic",
    "opentelemetry-sdk",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "aequatio"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except OSError:
        return None
    return done.stdout.strip() + (" (aequatio/ modified)" if dirty.stdout.strip() else "")


async def describe() -> dict[str, Any]:
    connection = await asyncpg.connect(ADMIN_DSN)
    try:
        postgres = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": postgres,
        "rabbitmq": rabbitmqctl("version").strip(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "git_commit": _git_commit(),
        "packages": versions,
    }


def process_kind(name: str, command: str) -> str:
    """What a process is, for ``CpuUse``: the API, a worker by its roles, PostgreSQL, RabbitMQ."""
    words = command.split()
    if "aequatio" in words and "serve" in words:
        return "API"
    if "aequatio" in words and "worker" in words:
        roles = [words[i + 1] for i, word in enumerate(words[:-1]) if word == "--role"]
        return f"worker {'+'.join(roles) or 'all'}"
    if name.startswith("postgres"):
        return "PostgreSQL"
    if name in ("beam.smp", "erl_child_setup", "epmd", "inet_gethost"):
        return "RabbitMQ"
    return "other"


def _cpu_by_process() -> dict[int, tuple[str, float]]:
    """Each process's kind and CPU seconds so far (``bench`` for this process)."""
    here = os.getpid()
    seconds: dict[int, tuple[str, float]] = {}
    for process in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        times = process.info["cpu_times"]
        if times is None:
            continue
        name = process.info["name"] or ""
        command = " ".join(process.info["cmdline"] or [])
        kind = "bench" if process.pid == here else process_kind(name, command)
        seconds[process.pid] = (kind, times.user + times.system)
    return seconds


class CpuUse:
    """The machine's CPU over a window, from the kernel's counters: how many cores were busy on
    average (``busy_cores``; not idle, not waiting for I/O), and how many each kind of
    process used (``by_kind``: the API, the workers, PostgreSQL, RabbitMQ, this harness, the
    rest). Shows whether a figure was measured on a saturated machine, and who saturated it."""

    BUSY = ("user", "nice", "system", "irq", "softirq", "steal")
    IDLE = ("idle", "iowait")

    def __enter__(self) -> CpuUse:
        self._before = psutil.cpu_times()
        self._processes = _cpu_by_process()
        self._started = time.monotonic()
        self.busy_cores: float | None = None
        self.by_kind: dict[str, float] = {}
        return self

    def __exit__(self, *_: object) -> None:
        after = psutil.cpu_times()
        processes = _cpu_by_process()
        elapsed = time.monotonic() - self._started

        def spent(fields: tuple[str, ...]) -> float:
            return sum(getattr(after, f, 0.0) - getattr(self._before, f, 0.0) for f in fields)

        busy, idle = spent(self.BUSY), spent(self.IDLE)
        if busy + idle > 0:
            self.busy_cores = round(busy / (busy + idle) * (os.cpu_count() or 1), 2)
        used: dict[str, float] = {}
        for pid, (kind, seconds) in processes.items():
            before = self._processes.get(pid)
            started = before[1] if before is not None and before[0] == kind else 0.0
            used[kind] = used.get(kind, 0.0) + max(0.0, seconds - started)
        if elapsed > 0:
            self.by_kind = {kind: round(value / elapsed, 2) for kind, value in used.items()}
