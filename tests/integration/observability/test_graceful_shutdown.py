"""SIGTERM to a worker mid-stream: it stops taking messages, finishes those in hand, exits 0,
and its successor applies the rest — every event exactly once, nothing lost."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.bootstrap import Application
from aequatio.outbox.transport import Transport
from aequatio.projections.tables import processed_events
from aequatio.workers import Role
from tests.support.family import family
from tests.support.metrics import Scrape
from tests.support.readside import assert_exactly_once, read_side
from tests.support.server import free_port
from tests.support.worker_process import start_worker
from tests.support.workload import expenses


async def applied(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(
            (
                await connection.execute(select(func.count()).select_from(processed_events))
            ).scalar_one()
        )


async def worker_metrics(port: int) -> Scrape | None:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            response = await http.get(f"http://127.0.0.1:{port}/metrics")
    except httpx.HTTPError:
        return None
    return Scrape.parse(response.text)


async def test_sigterm_finishes_the_work_in_hand_and_loses_no_message(
    application: Application,
    database_url: str,
    amqp_url: str,
    amqp_transport: Transport,
    tmp_path: Path,
) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    env = {
        "AEQUATIO_DATABASE_URL": database_url,
        "AEQUATIO_AMQP_URL": amqp_url,
        "AEQUATIO_WORKER_METRICS_PORT": str(port),
        "AEQUATIO_LOG_FORMAT": "json",
        "AEQUATIO_LOG_LEVEL": "INFO",
        "AEQUATIO_SHUTDOWN_GRACE_SECONDS": "20",
    }
    fam = await family(application.bus, "Ann", "Ben", "Cai")
    async with read_side(application.engine, amqp_transport, roles=[Role.DISPATCHER]):
        await expenses(application, fam, 120, seed=11)  # a backlog waiting in the queues
        first = start_worker(env, "projections", log=log)
        try:
            deadline = time.monotonic() + 60
            while (done := await applied(application.engine)) < 50:
                assert first.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the worker applied nothing"
                await asyncio.sleep(0.05)
            # The worker serves its own metrics while it works.
            scrape = await worker_metrics(port)
            assert scrape is not None
            assert scrape.value("aequatio_consumers", queue="projection.balances") == 1
            first.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(first.wait, 30)
        finally:
            if first.poll() is None:
                first.kill()
        assert code == 0, log.read_text()
        stopped_at = await applied(application.engine)
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        messages = [line["message"] for line in lines]
        assert "stopping: finishing the work in hand" in messages
        assert messages[-1] == "stopped"

        second = start_worker(env | {"AEQUATIO_WORKER_METRICS_PORT": "0"}, "projections")
        try:
            await assert_exactly_once(application.engine)
            finished = await applied(application.engine)
        finally:
            second.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(second.wait, 30) == 0
    assert done <= stopped_at < finished, "the first worker stopped in the middle of the backlog"
