"""The stack under test: a fresh database and RabbitMQ virtual host, and the processes.

Everything created here is removed on the way out, on failure and on SIGINT/SIGTERM too:
processes (each in its own process group, so uvicorn's workers go with their parent), the
database (``DROP ... WITH (FORCE)``) and the virtual host. A marker file per run records what
it created; a later run removes what a killed run (SIGKILL) left behind, and only that.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
MARKERS = BENCH / ".runs"
ADMIN_DSN = os.environ.get(
    "AEQUATIO_BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
AMQP_HOST = os.environ.get("AEQUATIO_BENCH_AMQP_HOST", "127.0.0.1:5672")
PREFIX = "aeq_benchrun_"


class ServiceUnavailable(RuntimeError):
    """PostgreSQL, RabbitMQ or rabbitmqctl is missing: nothing can be measured."""


def rabbitmqctl(*args: str) -> str:
    binary = shutil.which("rabbitmqctl")
    if binary is None:
        raise ServiceUnavailable("rabbitmqctl is not on PATH (needed to create a virtual host)")
    done = subprocess.run(  # noqa: S603 - fixed program
        [binary, "-q", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise ServiceUnavailable(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


async def check_services() -> None:
    """Fail loudly, naming the service, before anything is started."""
    try:
        connection = await asyncpg.connect(ADMIN_DSN, timeout=5)
        await connection.close()
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        raise ServiceUnavailable(f"PostgreSQL at {ADMIN_DSN} is unreachable: {error!r}") from None
    host, _, port = AMQP_HOST.partition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port or 5672)), 5)
        writer.close()
    except (OSError, TimeoutError) as error:
        raise ServiceUnavailable(f"RabbitMQ at {AMQP_HOST} is unreachable: {error!r}") from None
    await asyncio.to_thread(rabbitmqctl, "status")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Service:
    """A process this run started (with its own process group)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tree(self) -> list[psutil.Process]:
        try:
            parent = psutil.Process(self.pid)
            return [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def rss_bytes(self) -> tuple[int, int]:
        """(sum over the tree, largest single process)."""
        sizes = []
        for process in self.tree():
            with contextlib.suppress(psutil.NoSuchProcess):
                sizes.append(process.memory_info().rss)
        return sum(sizes), max(sizes, default=0)

    def require_running(self) -> None:
        """Fail with the log's tail when the process is gone."""
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to the process group, SIGKILL after ``grace`` seconds."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # uvicorn workers normally die with their parent; make sure none lingers.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)


class RssSampler:
    """The largest RSS a service reached while sampling (every ``every`` seconds)."""

    def __init__(self, service: Service, every: float = 0.25) -> None:
        self._service = service
        self._every = every
        self.max_total = 0
        self.max_single = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            total, single = await asyncio.to_thread(self._service.rss_bytes)
            self.max_total = max(self.max_total, total)
            self.max_single = max(self.max_single, single)
            await asyncio.sleep(self._every)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task is not None:
            self._task.cancel()


@dataclass
class Stack:
    """One run's database, virtual host and processes."""

    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    services: list[Service] = field(default_factory=list)
    created_database: bool = False
    created_vhost: bool = False
    #: Further databases of this run (suffixes), dropped with the main one.
    extra_databases: list[str] = field(default_factory=list)

    @property
    def database(self) -> str:
        return f"{PREFIX}{self.run_id}"

    @property
    def vhost(self) -> str:
        return f"aequatio-benchrun-{self.run_id}"

    @property
    def database_url(self) -> str:
        return (
            ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
            + f"/{self.database}"
        )

    @property
    def dsn(self) -> str:
        """The database for asyncpg itself."""
        return ADMIN_DSN.rsplit("/", 1)[0] + f"/{self.database}"

    def urls(self, database: str) -> tuple[str, str]:
        """(SQLAlchemy URL, asyncpg DSN) of one of this run's databases."""
        dsn = ADMIN_DSN.rsplit("/", 1)[0] + f"/{database}"
        return dsn.replace("postgresql://", "postgresql+asyncpg://", 1), dsn

    async def create_database(self, suffix: str) -> str:
        """Another fresh database for this run (``<database>_<suffix>``), dropped with it."""
        name = f"{self.database}_{suffix}"
        self.extra_databases.append(name)
        self._write_marker()
        admin = await asyncpg.connect(ADMIN_DSN, timeout=10)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return name

    def _write_marker(self) -> None:
        marker = {
            "pid": os.getpid(),
            "database": self.database,
            "databases": self.extra_databases,
            "vhost": self.vhost,
        }
        (MARKERS / f"{self.run_id}.json").write_text(json.dumps(marker))

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@{AMQP_HOST}/{self.vhost}"

    @property
    def logs(self) -> Path:
        return MARKERS / self.run_id

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of aequatio's processes."""
        return {
            **os.environ,
            "AEQUATIO_ENVIRONMENT": "production",
            "AEQUATIO_DATABASE_URL": self.database_url,
            "AEQUATIO_AMQP_URL": self.amqp_url,
            "AEQUATIO_JWT_SECRET": self.secret,
            "AEQUATIO_LOG_LEVEL": "WARNING",
            "AEQUATIO_SERVE_ROLES": "",
            # The write load runs with no dispatcher on purpose (nothing but the requests is
            # measured): the outbox's age must not make /readyz refuse the next API process.
            "AEQUATIO_READY_MAX_OUTBOX_AGE_SECONDS": "86400",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    # -- resources ---------------------------------------------------------------------------

    async def create(self) -> None:
        await remove_abandoned()
        self.logs.mkdir(parents=True, exist_ok=True)
        self._write_marker()
        admin = await asyncpg.connect(ADMIN_DSN, timeout=10)
        try:
            await admin.execute(f'CREATE DATABASE "{self.database}"')
            self.created_database = True
        finally:
            await admin.close()
        await asyncio.to_thread(rabbitmqctl, "add_vhost", self.vhost)
        self.created_vhost = True
        await asyncio.to_thread(
            rabbitmqctl, "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*"
        )

    async def destroy(self) -> None:
        """Stop every process, drop the database, delete the virtual host (each attempted)."""
        await asyncio.to_thread(self.stop_all)
        problems: list[str] = []
        for name in list(self.extra_databases):
            try:
                await drop_database(name)
                self.extra_databases.remove(name)
            except (OSError, asyncpg.PostgresError) as error:
                problems.append(f"dropping {name}: {error!r}")
        if self.created_database:
            try:
                await drop_database(self.database)
                self.created_database = False
            except (OSError, asyncpg.PostgresError) as error:
                problems.append(f"dropping {self.database}: {error!r}")
        if self.created_vhost:
            try:
                await asyncio.to_thread(rabbitmqctl, "delete_vhost", self.vhost)
                self.created_vhost = False
            except ServiceUnavailable as error:
                problems.append(str(error))
        if not problems:
            (MARKERS / f"{self.run_id}.json").unlink(missing_ok=True)
        for problem in problems:
            print(f"bench: cleanup failed: {problem}", file=sys.stderr)

    # -- processes ---------------------------------------------------------------------------

    def start(
        self,
        name: str,
        command: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
    ) -> Service:
        log = self.logs / f"{name}.log"
        with log.open("ab") as output:
            process = subprocess.Popen(  # noqa: S603 - our own commands
                list(command),
                cwd=ROOT,
                env=env or self.env(),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = Service(name, process, log, port)
        self.services.append(service)
        return service

    def stop(self, service: Service) -> None:
        service.stop()
        if service in self.services:
            self.services.remove(service)

    def stop_all(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()

    async def serve(self, workers: int = 1, *, name: str = "api", **env: str) -> Service:
        """``aequatio serve`` (no background roles unless ``AEQUATIO_SERVE_ROLES`` is given)."""
        port = free_port()
        command = [sys.executable, "-m", "aequatio", "serve", "--port", str(port)]
        command += ["--workers", str(workers)]
        service = self.start(f"{name}-{port}", command, env=self.env(**env), port=port)
        await wait_ready(service, "/readyz")
        return service

    async def worker(self, *roles: str, name: str | None = None) -> Service:
        await wait_for_broker()
        command = [sys.executable, "-m", "aequatio", "worker", "--metrics-port", "0"]
        for role in roles:
            command += ["--role", role]
        service = self.start(name or f"worker-{'-'.join(roles)}", command)
        await asyncio.sleep(0)
        return service

    async def raw(self, scripts: Path, workers: int = 1) -> Service:
        """The raw FastAPI + asyncpg baseline (``bench/raw_api.py``) on the app's uvicorn runner."""
        port = free_port()
        command = [
            sys.executable, "-m", "bench.raw_api", "--port", str(port), "--workers", str(workers),
        ]  # fmt: skip
        env = {**os.environ, "BENCH_RAW_DSN": self.dsn, "BENCH_RAW_SCRIPTS": str(scripts)}
        service = self.start(f"raw-{port}", command, env=env, port=port)
        await wait_ready(service, "/healthz")
        return service


async def wait_ready(service: Service, path: str, within: float = 90) -> None:
    """Until ``path`` answers 200; fails with the log's tail if the process exits or hangs."""
    deadline = time.monotonic() + within
    last = "no answer"
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(
                    f"{service.name} exited with {service.process.returncode}:\n{service.tail()}"
                )
            try:
                response = await client.get(service.url + path)
            except httpx.HTTPError as error:
                last = repr(error)
            else:
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:500]}"
            await asyncio.sleep(0.2)
    raise RuntimeError(
        f"{service.name} not ready after {within:.0f}s (last answer: {last}):\n{service.tail()}"
    )


async def wait_for_broker(within: float = 60) -> None:
    """Until RabbitMQ accepts connections (other suites on this machine restart it)."""
    host, _, port = AMQP_HOST.partition(":")
    deadline = time.monotonic() + within
    while True:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 5)
            writer.close()
            return
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"RabbitMQ at {AMQP_HOST} is unreachable") from None
            await asyncio.sleep(0.5)


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def remove_abandoned() -> None:
    """Drop what earlier runs of this harness left when killed (their pid is gone)."""
    if not MARKERS.is_dir():
        return
    live = set()
    for marker in MARKERS.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            if psutil.pid_exists(int(json.loads(marker.read_text()).get("pid", 0))):
                live.add(marker.stem)
    # Logs of finished runs: only the latest is kept.
    for folder in sorted(MARKERS.iterdir(), key=lambda p: p.stat().st_mtime)[:-1]:
        if folder.is_dir() and folder.name not in live:
            shutil.rmtree(folder, ignore_errors=True)
    for marker in MARKERS.glob("*.json"):
        try:
            data: dict[str, Any] = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        if psutil.pid_exists(int(data.get("pid", 0))):
            continue
        database, vhost = str(data.get("database", "")), str(data.get("vhost", ""))
        for name in [*data.get("databases", []), database]:
            if str(name).startswith(PREFIX):
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    await drop_database(str(name))
        if vhost.startswith("aequatio-benchrun-"):
            with contextlib.suppress(ServiceUnavailable):
                await asyncio.to_thread(rabbitmqctl, "delete_vhost", vhost)
        marker.unlink(missing_ok=True)
        print(f"bench: removed {database} and {vhost} left by an interrupted run", file=sys.stderr)
