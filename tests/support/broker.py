"""Administering the local RabbitMQ in tests (virtual hosts, stopping the node)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

import pytest

#: How to run rabbitmqctl (CI with a broker container sets ``docker exec <id> rabbitmqctl``).
RABBITMQCTL = shlex.split(
    os.environ.get("AEQUATIO_TEST_RABBITMQCTL", shutil.which("rabbitmqctl") or "rabbitmqctl")
)


def rabbitmqctl(*args: str) -> str:
    """Broker administration for tests (vhosts, connections); an error fails the test."""
    done = subprocess.run(  # noqa: S603 - fixed program, test-controlled arguments
        [*RABBITMQCTL, "-q", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip()}", pytrace=False)
    return done.stdout
