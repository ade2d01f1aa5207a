"""Administering the local RabbitMQ in tests (virtual hosts, stopping the node)."""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

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


AMQP_HOST = os.environ.get("AEQUATIO_TEST_AMQP_HOST", "127.0.0.1:5672")


@contextmanager
def virtual_host(prefix: str = "aequatio-test") -> Iterator[str]:
    """A new virtual host on the local RabbitMQ (its URL), deleted with all it holds after."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{AMQP_HOST}/{vhost}"
    finally:
        rabbitmqctl("delete_vhost", vhost)


@asynccontextmanager
async def broker_stopped() -> AsyncIterator[None]:
    """The RabbitMQ node's application stopped for the block, then started and awaited (the
    event loop runs on meanwhile: what is under test sees the outage as it happens)."""
    await asyncio.to_thread(rabbitmqctl, "stop_app")
    try:
        yield
    finally:
        await asyncio.to_thread(rabbitmqctl, "start_app")
        await asyncio.to_thread(rabbitmqctl, "await_startup")
