"""Liveness and readiness: ``/healthz`` says the process runs, ``/readyz`` that it can serve."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, object]:
    """Alive; with the live subscriptions and asyncio tasks in this process (leak watch)."""
    live = getattr(request.app.state, "live", None)
    return {
        "status": "ok",
        "subscriptions": live.subscriber_count if live is not None else 0,
        "tasks": len(asyncio.all_tasks()),
    }


async def _database_checks(engine: AsyncEngine, head: str) -> dict[str, str]:
    try:
        async with engine.connect() as connection:
            current = (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
    except Exception as error:
        return {"database": f"unreachable ({type(error).__name__})", "migrations": "unknown"}
    migrations = "ok" if current == head else f"at {current}, head is {head}"
    return {"database": "ok", "migrations": migrations}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    state: Any = request.app.state
    checks = await _database_checks(state.application.engine, state.migration_head)
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unready", "checks": checks},
        status_code=200 if ready else 503,
    )
