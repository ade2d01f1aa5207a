"""``createInvoice`` -> ``invoiceCreated`` received by a WebSocket subscriber, p50/p99.

The whole workflow is timed from the client: the mutation (which asks for a split), the split
saga computing it, the invoice saga issuing the invoice, the projection applying it, and the
push to the subscriber. Runs a real ``aequatio serve`` on a fresh local database, either with
everything in-process (the embedded default's transport) or with RabbitMQ and a separate
``aequatio worker --role all`` process.

Run: ``.venv/bin/python bench/invoice_latency.py [--broker] [--months 60]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.api import Api
from tests.support.live import live

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SUBSCRIBE = "subscription($g: ID!) { invoiceCreated(groupId: $g) { id total { amountCents } } }"


async def rabbitmqctl(*args: str) -> None:
    command = ["rabbitmqctl", "-q", *args]
    await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def wait_ready(url: str) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(200):
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become ready")


async def measure(api: Api, months: int) -> list[float]:
    group, (ann, ben) = await api.family("Ann", "Ben", since="2020-01-01")
    latencies: list[float] = []
    async with live(api.base_url, ben.token) as feed:
        await feed.subscribe(SUBSCRIBE, {"g": group})
        await asyncio.sleep(0.3)
        for index in range(months):
            year, month = 2020 + index // 12, 1 + index % 12
            start = f"{year}-{month:02d}-01"
            end = f"{year + month // 12}-{month % 12 + 1:02d}-01"
            await api.succeed(
                "addExpense",
                {
                    "groupId": group,
                    "amountCents": 1_000 + index,
                    "currency": "EUR",
                    "description": "rent",
                    "incurredOn": start,
                },
                token=ann.token,
            )
            began = time.perf_counter()
            await api.succeed(
                "createInvoice",
                {"groupId": group, "period": {"start": start, "end": end}},
                token=ann.token,
            )
            pushed = (await feed.next_data())["invoiceCreated"]
            latencies.append((time.perf_counter() - began) * 1000)
            if pushed["total"][0]["amountCents"] != 1_000 + index:
                raise RuntimeError(f"wrong invoice pushed: {pushed}")
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--broker", action="store_true", help="RabbitMQ and a worker process")
    parser.add_argument("--months", type=int, default=60)
    args = parser.parse_args()

    database = f"aeq_bench_{uuid.uuid4().hex[:8]}"
    vhost = f"aequatio-bench-{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{database}"')
    secret = secrets.token_urlsafe(48)
    env = {
        **os.environ,
        "AEQUATIO_DATABASE_URL": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        "AEQUATIO_JWT_SECRET": secret,
        "AEQUATIO_LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen[bytes]] = []
    if args.broker:
        await rabbitmqctl("add_vhost", vhost)
        await rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        env["AEQUATIO_AMQP_URL"] = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    try:
        serve = [sys.executable, "-m", "aequatio", "serve", "--port", "8791"]
        processes.append(subprocess.Popen(serve, cwd=ROOT, env=env))  # noqa: S603, ASYNC220
        await wait_ready("http://127.0.0.1:8791")
        if args.broker:
            worker = [sys.executable, "-m", "aequatio", "worker", "--role", "all"]
            processes.append(subprocess.Popen(worker, cwd=ROOT, env=env))  # noqa: S603, ASYNC220
        api = Api("http://127.0.0.1:8791", secret)
        await measure(api, 3)  # warm-up
        latencies = await measure(api, args.months)
        await api.close()
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
        if args.broker:
            await rabbitmqctl("delete_vhost", vhost)
    print(
        json.dumps(
            {
                "transport": "rabbitmq + worker process" if args.broker else "in-process",
                "invoices": len(latencies),
                "create_invoice_to_invoice_created_p50_ms": round(statistics.median(latencies), 1),
                "create_invoice_to_invoice_created_p99_ms": round(percentile(latencies, 0.99), 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
