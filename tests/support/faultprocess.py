"""Child processes of the fault suite: started by the test, killed only by their own PID."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from aequatio.persistence.database import REPOSITORY_ROOT


def spawn(
    argv: list[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in the repository root; its output is appended to ``log``."""
    with log.open("ab") as output:
        return subprocess.Popen(  # noqa: S603 - test-controlled arguments
            argv,
            cwd=REPOSITORY_ROOT,
            env={"AEQUATIO_WORKER_METRICS_PORT": "0", **os.environ, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def exited(process: subprocess.Popen[bytes], within: float) -> int | None:
    """The exit code once the process ended, or None if it still runs after ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while process.poll() is None and loop.time() < deadline:  # noqa: ASYNC110 - polls a child
        await asyncio.sleep(0.05)
    return process.poll()


def reap(process: subprocess.Popen[bytes]) -> None:
    """Make sure the child is gone (SIGKILL by its PID) and collected."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


@contextmanager
def reaped(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """The process for the block; killed if it outlives it (a failing test leaves nothing)."""
    try:
        yield process
    finally:
        reap(process)
