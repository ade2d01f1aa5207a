"""The background processes run on the loop their setting names."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from aequatio.cli import run_loop
from aequatio.config import Settings


@pytest.mark.parametrize(("name", "loop_type"), [("uvloop", uvloop.Loop), ("asyncio", None)])
def test_run_loop_runs_on_the_named_loop(name: str, loop_type: type | None) -> None:
    seen: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        seen.append(asyncio.get_running_loop())

    run_loop(main(), name)

    assert len(seen) == 1
    if loop_type is None:
        assert not isinstance(seen[0], uvloop.Loop)
    else:
        assert isinstance(seen[0], loop_type)


def test_workers_default_to_uvloop_and_the_api_to_asyncio() -> None:
    settings = Settings()
    assert settings.worker_event_loop == "uvloop"
    assert settings.event_loop == "asyncio"
