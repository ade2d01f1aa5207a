"""Profiling the API in one process: where a ``balances`` query's or an ``addExpense``'s CPU goes.

The bench's ``--py-spy`` samples the API under its HTTP load, but there every coroutine resumed
by the event loop shows as a stack cut at the loop, so a request's cost is spread over
fragments. Here the real ASGI app (``create_app``, no background role) is driven in this
process, without sockets, by ``--concurrency`` tasks that each await one request after the
other: every sample's stack then runs from the task through the middleware and the GraphQL
execution down to the driver, and the inclusive shares add up.

On a fresh database (and virtual host) seeded with ``aequatio demo``'s family, removed
afterwards. Prints the CPU per request of this process (the database's is not in it) and,
with ``--py-spy FILE``, the hottest frames, self and inclusive, from a second pass that py-spy
samples whole (it pauses the process for each sample, so that pass is not timed).

Run: ``.venv/bin/python bench/profile_api.py read --requests 20000 --py-spy /tmp/read.raw``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aequatio.api.app import create_app
from aequatio.api.auth import ALL_SCOPES, issue_token
from aequatio.api.dashboard import subject_for
from aequatio.bootstrap import bootstrap
from aequatio.config import Settings
from aequatio.demo import load_demo, month_start
from aequatio.graphql.ids import encode
from bench.fixtures import ADD_EXPENSE, BALANCES
from bench.profile_read_side import scratch, start_py_spy, stop_py_spy, top_frames

Body = Callable[[int], bytes]


def bodies(kind: str, group: str, today: date) -> Body:
    """The ``index``-th request's JSON body: the bench's own documents."""
    if kind == "read":
        period = {
            "start": month_start(today, back=11).isoformat(),
            "end": month_start(today, back=-1).isoformat(),
        }
        fixed = json.dumps({"query": BALANCES, "variables": {"g": group, "p": period}}).encode()
        return lambda _index: fixed

    def write(index: int) -> bytes:
        variables = {
            "input": {
                "groupId": group,
                "amountCents": 4250,
                "currency": "EUR",
                "description": "Groceries",
                # This month, up to today: the demo's members joined months ago.
                "incurredOn": today.replace(day=1 + index % today.day).isoformat(),
                "idempotencyKey": f"profile-{os.getpid()}-{index}",
            }
        }
        return json.dumps({"query": ADD_EXPENSE, "variables": variables}).encode()

    return write


HEADERS = [
    (b"host", b"profile"),
    (b"content-type", b"application/json"),
    (b"accept", b"application/graphql-response+json"),
]


async def post(app: Any, token: str, payload: bytes) -> tuple[int, bytes]:
    """One POST /graphql through the ASGI app: its status and body."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": [
            *HEADERS,
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-length", str(len(payload)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], answer


def succeeded(status: int, answer: bytes) -> bool:
    """A 200 with no error and no typed refusal."""
    return status == 200 and b'"errors"' not in answer and b'"code"' not in answer


async def drive(
    app: Any, token: str, body: Body, requests: int, *, concurrency: int, counter: Iterator[int]
) -> None:
    """``requests`` requests, ``concurrency`` at a time, each of which must succeed; their
    indexes come from ``counter``, shared by every pass so that no write is a replay of an
    earlier pass's (its idempotency key is its index)."""

    async def lane(count: int) -> None:
        for _ in range(count):
            status, answer = await post(app, token, body(next(counter)))
            if not succeeded(status, answer):
                raise RuntimeError(f"request failed: {status} {answer[:300]!r}")

    share, extra = divmod(requests, concurrency)
    await asyncio.gather(*(lane(share + (i < extra)) for i in range(concurrency)))


async def project(settings: Settings, token: str, probe: bytes, within: float = 120) -> None:
    """The seeded events applied by the read side: the app with every role in this process
    (no broker) until ``probe`` (a read) succeeds."""
    app = create_app(settings.model_copy(update={"amqp_url": None}))
    async with app.router.lifespan_context(app):
        deadline = time.monotonic() + within
        while not succeeded(*await post(app, token, probe)):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the read side did not catch up within {within:.0f}s")
            await asyncio.sleep(0.2)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=("read", "write"))
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--py-spy", type=Path, default=None)
    parser.add_argument("--top", type=int, default=60)
    args = parser.parse_args()
    async with scratch(broker=True) as (database_url, amqp_url):
        settings = Settings(
            database_url=database_url,
            amqp_url=amqp_url,
            serve_roles="",
            jwt_secret=SecretStr("profile-" + "x" * 40),
            log_level="WARNING",
        )
        seeding = bootstrap(settings, database_url=database_url)
        today = datetime.now(UTC).date()
        try:
            report = await load_demo(seeding.bus, seeding.engine, today)
        finally:
            await seeding.aclose()
        token = issue_token(settings, subject_for(report.people[0]), ALL_SCOPES, 3600)
        group = encode("Group", report.group_id)
        await project(settings, token, bodies("read", group, today)(0))
        body = bodies(args.kind, group, today)
        app = create_app(settings)
        counter = itertools.count()
        async with app.router.lifespan_context(app):
            await drive(
                app, token, body, args.warmup, concurrency=args.concurrency, counter=counter
            )
            started, cpu = time.perf_counter(), time.process_time()
            await drive(
                app, token, body, args.requests, concurrency=args.concurrency, counter=counter
            )
            elapsed, used = time.perf_counter() - started, time.process_time() - cpu
            if args.py_spy:
                # A second pass, sampled: py-spy pauses the process for each (whole) stack,
                # which would count in the figures above.
                spy = start_py_spy(os.getpid(), args.py_spy, rate=250, blocking=True)
                try:
                    await drive(
                        app,
                        token,
                        body,
                        args.requests,
                        concurrency=args.concurrency,
                        counter=counter,
                    )
                finally:
                    stop_py_spy(spy)
    result: dict[str, Any] = {
        "kind": args.kind,
        "requests": args.requests,
        "concurrency": args.concurrency,
        "requests_per_s": round(args.requests / elapsed),
        "cpu_us_per_request": round(used / args.requests * 1e6),
    }
    if args.py_spy:
        result["profile"] = top_frames(args.py_spy, args.top)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
