"""Real servers for tests: ``aequatio serve`` as a child process, or the app on uvicorn in the
test's own event loop (when the test must see the process's spans and metrics)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from aequatio.api.app import create_app
from aequatio.config import Settings
from aequatio.persistence.database import REPOSITORY_ROOT


@dataclass(frozen=True)
class Server:
    url: str
    secret: str
    database_url: str
    pid: int


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_ready(url: str, process: subprocess.Popen[bytes], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"aequatio serve exited with {process.returncode}", pytrace=False)
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail("aequatio serve did not become ready", pytrace=False)


@contextmanager
def serve_process(
    env: Mapping[str, str], log: Path, *, port: int | None = None, args: Sequence[str] = ()
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``aequatio serve [args]`` with ``env`` until ready; SIGTERM (then SIGKILL) when the
    block ends."""
    port = port or free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            [sys.executable, "-m", "aequatio", "serve", "--port", str(port), *args],
            cwd=REPOSITORY_ROOT,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The API of ``settings`` on uvicorn in this event loop; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_config=None,
        ws_max_size=settings.max_body_bytes,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 60
    while not server.started:
        if task.done():
            task.result()
            pytest.fail("the server stopped before it started", pytrace=False)
        if time.monotonic() > deadline:
            pytest.fail("the server did not start", pytrace=False)
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 60)
