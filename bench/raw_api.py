"""The raw baseline: FastAPI + an asyncpg pool issuing the statements the real requests issue.

No GraphQL, no SQLAlchemy, no domain model: each endpoint reads the same JSON body the
GraphQL endpoint gets and replays the statement script captured from the application in the
same run (``bench/sqlscript.py``), with fresh ids, timestamps, idempotency key and date per
request. This is the cost of the database work itself through the same HTTP stack (uvicorn,
FastAPI), which the issue's targets compare the application with.

* ``POST /raw/add-expense``: the ``addExpense`` script, each captured transaction in one
  transaction (BEGIN ... COMMIT), statements in the captured order;
* ``POST /raw/balances``: the ``balances`` query's SELECTs, on one connection;
* ``POST /raw/trace/{name}``: the same, returning the SQL asyncpg actually sent (checked
  against the capture by the harness);
* ``POST /floor/graphql``: the framework floor, bare Strawberry replaying the same scripts
  (``bench/floor_api.py``);
* ``POST /noop``: nothing, to measure the HTTP stack and the load generator.

Run by the harness: ``uvicorn bench.raw_api:create_app --factory`` with ``BENCH_RAW_DSN`` and
``BENCH_RAW_SCRIPTS`` (a pickle written by the harness).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import FastAPI, Request, Response

from aequatio.api import server
from bench.floor_api import FloorContext, floor_endpoint
from bench.script_runner import Script, load_scripts, request_values, run_script

#: The application's pool per process: ``database_pool_size`` + ``database_max_overflow``.
POOL_SIZE = 20
JSON_TYPE = "application/json"


def _mapping(script: Script, body: dict[str, Any]) -> dict[Any, Any]:
    if script.substitution is None:
        return {}
    values = body["variables"]["input"]
    return request_values(
        script,
        str(values["idempotencyKey"]),
        date.fromisoformat(values["incurredOn"]),
        values["groupId"],
    )


def create_app() -> FastAPI:
    dsn = os.environ["BENCH_RAW_DSN"]
    scripts = load_scripts(Path(os.environ["BENCH_RAW_SCRIPTS"]))
    state: dict[str, asyncpg.Pool] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["pool"] = await asyncpg.create_pool(dsn, min_size=1, max_size=POOL_SIZE)
        try:
            yield
        finally:
            await state["pool"].close()

    app = FastAPI(lifespan=lifespan)

    async def execute(name: str, request: Request, *, trace: bool = False) -> Response:
        script = scripts[name]
        body = json.loads(await request.body())
        mapping = _mapping(script, body)
        sent: list[str] = []

        def record(query: Any) -> None:
            sent.append(str(query.query))

        async with state["pool"].acquire() as connection:
            if trace:
                connection.add_query_logger(record)
            try:
                results = await run_script(connection, script, mapping)
            finally:
                if trace:
                    connection.remove_query_logger(record)
        payload: dict[str, Any] = {"data": {name: results}}
        if trace:
            payload["statements"] = sent
        return Response(json.dumps(payload, default=str), media_type=JSON_TYPE)

    floor = floor_endpoint(FloorContext(pool=lambda: state["pool"], scripts=scripts))
    app.add_route("/floor/graphql", floor, methods=["POST"], include_in_schema=False)

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type=JSON_TYPE)

    @app.post("/noop")
    async def noop(request: Request) -> Response:
        await request.body()
        return Response(b'{"data":{"ok":true}}', media_type=JSON_TYPE)

    @app.post("/raw/add-expense")
    async def add_expense(request: Request) -> Response:
        return await execute("add_expense", request)

    @app.post("/raw/balances")
    async def balances(request: Request) -> Response:
        return await execute("balances", request)

    @app.post("/raw/trace/{name}")
    async def traced(name: str, request: Request) -> Response:
        return await execute(name, request, trace=True)

    return app


def main() -> None:
    """``python -m bench.raw_api --port P [--workers N]``: on the runner ``aequatio serve``
    uses (the same uvicorn settings and listening socket), so only the endpoint differs."""
    parser = argparse.ArgumentParser(prog="python -m bench.raw_api")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    server.run(
        "bench.raw_api:create_app",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        access_log=False,
        loop="asyncio",
    )


if __name__ == "__main__":
    main()
