"""End to end, on the deployed topology (the API, and ``aequatio worker`` processes for the
dispatcher, the projections and the sagas, over RabbitMQ):

* lag: ``addExpense`` at a steady rate (open loop) -> applied by the ``balances`` projection;
* ``createInvoice`` -> ``invoiceCreated`` received by a WebSocket subscriber;
* fan-out: one event pushed to 1,000 concurrent subscribers of one API process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import time
import traceback
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from bench.context import Run
from bench.dispatch import ready_messages
from bench.fixtures import (
    ACTIVITY,
    AMOUNT,
    INVOICE_CREATED,
    BenchApi,
    Family,
    add_expense_requests,
    global_id_uuid,
)
from bench.loadgen import no_collections, open_loop, percentile
from bench.machine import CpuUse
from bench.profiling import record, stop_recording
from bench.stack import Service
from tests.support.live import live

MB = 1_000_000


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 0.5), 1),
        "p90_ms": round(percentile(values, 0.9), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "max_ms": round(max(values), 1),
        "mean_ms": round(statistics.fmean(values), 1),
    }


@asynccontextmanager
async def deployed(run: Run) -> AsyncIterator[Service]:
    """The API (one process) and one worker process per background role."""
    stack = run.stack
    # The write load's events (the API ran without a dispatcher) are no part of these
    # figures: left in the outbox, the workers would drain them first and every lag would
    # include that backlog. They concern the write groups only, which nothing here reads.
    skipped = await run.sql(
        "WITH done AS (UPDATE events_outbox SET published_at = now() "
        "WHERE published_at IS NULL RETURNING 1) SELECT count(*) FROM done"
    )
    run.results["e2e_skipped_backlog"] = int(skipped)
    workers = [
        await stack.worker("dispatcher"),
        await stack.worker("projections"),
        await stack.worker("sagas"),
    ]
    api = await stack.serve(1, name="api-e2e")
    await run.client.point_at(api.url)
    try:
        yield api
    finally:
        stack.stop(api)
        for worker in workers:
            stack.stop(worker)


#: Commit times, by the database's clock, of the measured mutations and of the ``balances``
#: projection's transactions applying them. A deferred constraint trigger runs at COMMIT, after
#: every statement of the transaction: its ``clock_timestamp()`` is the commit's time to within
#: the trigger's own insert (tens of microseconds). Installed for the lag measurement only.
COMMIT_CLOCK = """
CREATE SCHEMA bench_lag;
CREATE UNLOGGED TABLE bench_lag.commits (event_id uuid NOT NULL, kind text NOT NULL,
    at timestamptz NOT NULL);
CREATE FUNCTION bench_lag.mutation_committed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_lag.commits VALUES (NEW.event_id, 'mutation', clock_timestamp());
    RETURN NULL;
END $$;
CREATE FUNCTION bench_lag.projection_committed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_lag.commits VALUES (NEW.event_id, 'projection', clock_timestamp());
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER bench_lag_mutation AFTER INSERT ON events_store
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.event_type = 'expense.created')
    EXECUTE FUNCTION bench_lag.mutation_committed();
CREATE CONSTRAINT TRIGGER bench_lag_projection AFTER INSERT ON read.processed_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.consumer = 'projection.balances')
    EXECUTE FUNCTION bench_lag.projection_committed();
"""
NO_COMMIT_CLOCK = """
DROP TRIGGER IF EXISTS bench_lag_mutation ON events_store;
DROP TRIGGER IF EXISTS bench_lag_projection ON read.processed_events;
DROP SCHEMA IF EXISTS bench_lag CASCADE;
"""


async def _read_side_idle(run: Run, within: float = 180) -> bool:
    """Until the read side has nothing left to do (the outbox published, no message ready in
    any consumer queue, no tracking row for a second): what one measurement left behind
    (the lag's thousands of events, four projections each) must not delay the next."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        busy = await run.sql(
            "SELECT (SELECT count(*) FROM events_outbox WHERE published_at IS NULL) "
            "+ (SELECT count(*) FROM read.processed_events "
            "   WHERE applied_at > clock_timestamp() - interval '1 s')"
        )
        if not busy and await ready_messages(run) == 0:
            return True
        await asyncio.sleep(0.5)
    run.log(f"  the read side was still busy after {within:.0f}s: measuring anyway")
    return False


async def _read_side_running(run: Run, family: Family, within: float = 120) -> None:
    """One mutation applied by the ``balances`` projection: the workers just started are
    connected and consuming before anything is measured."""
    answer = await run.client.succeed(
        "addExpense",
        {
            "groupId": family.group_id,
            "amountCents": AMOUNT,
            "currency": "EUR",
            "description": "warm-up",
            "incurredOn": "2026-01-15",
        },
        token=family.owner.token,
    )
    event = uuid.UUID(global_id_uuid(answer["eventIds"][0]))
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        applied = await run.sql(
            "SELECT count(*) FROM read.processed_events "
            "WHERE consumer = 'projection.balances' AND event_id = $1",
            event,
        )
        if applied:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the read side did not apply a first event within {within:.0f}s")


#: The lag is also measured at this fraction of the target rate, in the same run: the
#: pipeline's own latency when the machine has cores to spare.
LOWER_RATE_FRACTION = 0.25


async def lag(run: Run, api: Service) -> dict[str, Any]:
    """Commit -> visible in ``read.monthly_balances`` at the target rate; and at a quarter of
    it (``at_lower_rate``), with how many cores the machine had busy during each load."""
    family = run.family("lag")
    await _read_side_running(run, family)
    measured = await _lag_at(run, api, run.profile.lag_rate, "lag")
    await _read_side_idle(run)
    lower = run.profile.lag_rate * LOWER_RATE_FRACTION
    measured["at_lower_rate"] = await _lag_at(run, api, lower, "lag-lower")
    return measured


async def _lag_at(run: Run, api: Service, rate: float, prefix: str) -> dict[str, Any]:
    """From the mutation's commit to the commit of the ``balances`` projection's transaction
    that applied its event, both taken at commit by the database's clock (``COMMIT_CLOCK``),
    for ``addExpense`` sent at ``rate`` (open loop)."""
    family = run.family("lag")
    profile = run.profile
    make = add_expense_requests(
        "/graphql", [family.group_id], family.owner.token, f"{prefix}-{run.stack.run_id}"
    )
    await run.execute(COMMIT_CLOCK)
    try:
        with CpuUse() as cpu:
            sent = await open_loop(
                "127.0.0.1", api.port or 0, make, rate=rate, duration=profile.lag_seconds
            )
        committed: set[uuid.UUID] = set()
        failures = 0
        for record in sent:
            try:
                payload = json.loads(record.body)["data"]["addExpense"]
                committed.add(uuid.UUID(global_id_uuid(payload["eventIds"][0])))
            except (ValueError, KeyError, TypeError, IndexError):
                failures += 1
        deadline = time.monotonic() + max(60.0, profile.lag_seconds * 4)
        lags: list[float] = []
        applied = 0
        while time.monotonic() < deadline:
            rows = await run.sql_rows(
                "SELECT m.event_id, extract(epoch FROM p.at - m.at) * 1000 AS lag_ms "
                "FROM bench_lag.commits m JOIN bench_lag.commits p "
                "ON p.event_id = m.event_id AND p.kind = 'projection' "
                "WHERE m.kind = 'mutation' AND m.event_id = ANY($1::uuid[])",
                list(committed),
            )
            applied = len({row["event_id"] for row in rows})
            lags = [float(row["lag_ms"]) for row in rows]
            if applied >= len(committed):
                break
            await asyncio.sleep(0.5)
    finally:
        await run.execute(NO_COMMIT_CLOCK)
    latencies = [(r.answered - r.sent) * 1000 for r in sent if r.status == 200]
    late = [(r.sent - r.due) * 1000 for r in sent]
    span = max(r.answered for r in sent) - min(r.sent for r in sent) if sent else 0
    return {
        "target_rate_per_s": rate,
        "achieved_rate_per_s": round(len(sent) / span, 1) if span else None,
        "busy_cores_while_sending": cpu.busy_cores,
        "cores_by_process_while_sending": cpu.by_kind,
        "cores": os.cpu_count(),
        "mutations": len(sent),
        "failed": failures,
        "not_applied_in_time": len(committed) - applied,
        "measured_from": "mutation COMMIT to projection COMMIT (database clock, at commit)",
        "commit_to_projection": _stats(lags),
        "mutation_latency": _stats(latencies),
        "send_delay_p99_ms": round(percentile(late, 0.99), 1) if late else None,
    }


async def invoice_latency(
    api: BenchApi, family: Family, months: int, *, first: int = 0
) -> list[float]:
    """``createInvoice`` -> ``invoiceCreated`` at a subscriber: the mutation (which asks for a
    split), the split saga, the invoice saga, the projection, and the push, per month (months
    from 2030 on, ``first`` months in)."""
    owner, member = family.people[0], family.people[1]
    latencies: list[float] = []
    async with live(api.base_url, member.token) as feed:
        await feed.subscribe(INVOICE_CREATED, {"g": family.group_id})
        await asyncio.sleep(0.3)
        for index in range(first, first + months):
            year, month = 2030 + index // 12, 1 + index % 12
            start = f"{year}-{month:02d}-01"
            end = f"{year + month // 12}-{month % 12 + 1:02d}-01"
            await api.succeed(
                "addExpense",
                {
                    "groupId": family.group_id,
                    "amountCents": 1_000 + index,
                    "currency": "EUR",
                    "description": "rent",
                    "incurredOn": start,
                },
                token=owner.token,
            )
            began = time.perf_counter()
            await api.succeed(
                "createInvoice",
                {"groupId": family.group_id, "period": {"start": start, "end": end}},
                token=owner.token,
            )
            pushed = (await feed.next_data(within=60))["invoiceCreated"]
            latencies.append((time.perf_counter() - began) * 1000)
            if pushed["total"][0]["amountCents"] != 1_000 + index:
                raise RuntimeError(f"wrong invoice pushed: {pushed}")
    return latencies


async def invoices(run: Run) -> dict[str, Any]:
    family = run.family("invoice")
    await invoice_latency(run.client, family, 2)  # warm-up
    measured = await invoice_latency(run.client, family, run.profile.invoice_months, first=2)
    return {"invoices": len(measured), "create_invoice_to_invoice_created": _stats(measured)}


# -- fan-out ----------------------------------------------------------------------------------


class Subscriber:
    """One WebSocket, one ``groupActivity`` subscription; records when each push arrives."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.arrivals: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def listen(self) -> None:
        async for message in self.socket:
            if '"next"' in str(message):
                self.arrivals.append(time.perf_counter())
            elif '"ping"' in str(message):
                await self.socket.send('{"type":"pong"}')


async def _subscribe(url: str, token: str, group: str) -> Subscriber:
    socket = await websockets.connect(
        url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        open_timeout=60,
        ping_interval=None,
        max_size=2**20,
    )
    await socket.send(json.dumps({"type": "connection_init", "payload": {"token": token}}))
    ack = json.loads(await asyncio.wait_for(socket.recv(), 60))
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"subscriber not acknowledged: {ack}")
    await socket.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": ACTIVITY, "variables": {"g": group}},
            }
        )
    )
    subscriber = Subscriber(socket)
    subscriber.task = asyncio.create_task(subscriber.listen())
    return subscriber


async def _live_subscriptions(api: Service) -> float:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(api.url + "/metrics")).text
    for line in text.splitlines():
        if line.startswith("aequatio_live_subscriptions "):
            return float(line.split()[1])
    return -1.0


async def fanout(run: Run, api: Service) -> dict[str, Any]:
    """``subscribers`` sockets on one API process; ``fanout_events`` events, one at a time:
    from the mutation's answer (commit) to each subscriber's receipt."""
    family = run.family("subs")
    count = run.profile.subscribers
    url = api.url.replace("http://", "ws://") + "/graphql"
    idle_rss = api.rss_bytes()[0]
    subscribers: list[Subscriber] = []
    recording = None
    began = time.perf_counter()
    try:
        for offset in range(0, count, 100):
            batch = [
                _subscribe(url, family.people[1].token, family.group_id)
                for _ in range(min(100, count - offset))
            ]
            subscribers += await asyncio.gather(*batch)
        deadline = time.monotonic() + 60
        live = await _live_subscriptions(api)
        while live < count and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            live = await _live_subscriptions(api)
        if live < count:
            raise RuntimeError(f"the API counts {live:.0f} live subscriptions, not {count}")
        connected_in = time.perf_counter() - began
        connected_rss = api.rss_bytes()[0]
        delays: list[float] = []
        spreads: list[float] = []
        complete: list[float] = []
        missing = 0
        recording = record(run, api, "app_fanout")
        with no_collections():  # the clients' own pauses are no server latency
            for index in range(run.profile.fanout_events):
                for subscriber in subscribers:
                    subscriber.arrivals.clear()
                answer = await run.client.succeed(
                    "addExpense",
                    {
                        "groupId": family.group_id,
                        "amountCents": 100 + index,
                        "currency": "EUR",
                        "description": f"fan-out {index}",
                        "incurredOn": "2026-01-15",
                    },
                    token=family.owner.token,
                )
                committed = time.perf_counter()
                del answer
                wait_until = time.monotonic() + 30
                while time.monotonic() < wait_until:
                    if all(s.arrivals for s in subscribers):
                        break
                    await asyncio.sleep(0.005)
                arrivals = [s.arrivals[0] for s in subscribers if s.arrivals]
                missing += len(subscribers) - len(arrivals)
                if arrivals:
                    delays += [(at - committed) * 1000 for at in arrivals]
                    spreads.append((max(arrivals) - min(arrivals)) * 1000)
                    complete.append((max(arrivals) - committed) * 1000)
                await asyncio.sleep(0.2)
        stop_recording(run, recording)
        loaded_rss = api.rss_bytes()[0]
    finally:
        stop_recording(run, recording)
        for subscriber in subscribers:
            if subscriber.task is not None:
                subscriber.task.cancel()
        await asyncio.gather(
            *(_close(subscriber.socket) for subscriber in subscribers), return_exceptions=True
        )
    return {
        "subscribers": count,
        "live_subscriptions_on_the_server": live,
        "events": run.profile.fanout_events,
        "connect_seconds": round(connected_in, 2),
        "missing_pushes": missing,
        "commit_to_received": _stats(delays),
        "first_to_last_received": _stats(spreads),
        "commit_to_all_received": _stats(complete),
        "api_rss_idle_mb": round(idle_rss / MB, 1),
        "api_rss_connected_mb": round(connected_rss / MB, 1),
        "api_rss_after_events_mb": round(loaded_rss / MB, 1),
    }


async def _close(socket: ClientConnection) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(socket.close(), 5)


async def end_to_end(run: Run) -> None:
    """Each measurement on its own: one failing is reported, the others still run."""
    async with deployed(run) as api:
        measurements = (
            ("lag", "lag at a steady rate", "commit_to_projection", lag),
            ("invoice", "createInvoice -> invoiceCreated", "create_invoice_to_invoice_created",
             lambda run, _api: invoices(run)),
            ("fanout", f"fan-out to {run.profile.subscribers} subscribers", "commit_to_received",
             fanout),
        )  # fmt: skip
        for key, title, headline, measure in measurements:
            run.log(f"e2e: {title}")
            try:
                idle = await _read_side_idle(run)
                run.results[key] = await measure(run, api)
                run.results[key]["read_side_idle_before"] = idle
            except (Exception, TimeoutError) as error:
                run.failures[f"e2e.{key}"] = f"{type(error).__name__}: {error}"
                traceback.print_exc()
                continue
            run.log(f"  {run.results[key][headline]}")
