"""``aequatio worker`` as a child process, as operators run it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from aequatio.persistence.database import REPOSITORY_ROOT


def start_worker(
    env: Mapping[str, str], *roles: str, log: Path | None = None
) -> subprocess.Popen[bytes]:
    """A worker running ``roles`` with ``env`` over this environment; its output goes to ``log``."""
    arguments = [argument for role in roles for argument in ("--role", role)]
    output = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        return subprocess.Popen(  # noqa: S603 - fixed program, test-controlled arguments
            [sys.executable, "-m", "aequatio", "worker", *arguments],
            cwd=REPOSITORY_ROOT,
            env={"AEQUATIO_WORKER_METRICS_PORT": "0", **os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    finally:
        if log is not None and not isinstance(output, int):
            output.close()
