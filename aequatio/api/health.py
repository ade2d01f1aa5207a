"""Liveness and readiness: ``/healthz`` says the process runs, ``/readyz`` that it can serve.

``/readyz`` answers 503 with the failing check named when the database or the broker is
unreachable, the schema is not at the migrations' head, or the outbox dispatcher has fallen
further behind than ``AEQUATIO_READY_MAX_OUTBOX_AGE_SECONDS`` (events written but not
delivered: subscribers and projections would wait).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.outbox.dispatcher import OutboxDispatcher
from aequatio.outbox.transport import Transport

router = APIRouter(tags=["operations"])

OK = "ok"


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, object]:
    """Alive; with the live subscriptions and asyncio tasks in this process (leak watch)."""
    live = getattr(request.app.state, "live", None)
    return {
        "status": OK,
        "subscriptions": live.subscriber_count if live is not None else 0,
        "tasks": len(asyncio.all_tasks()),
    }


@dataclass(frozen=True)
class Migrations:
    """The revisions this code knows, and the newest of them."""

    head: str
    known: frozenset[str]

    @classmethod
    def of(cls, scripts: ScriptDirectory) -> Migrations:
        head = scripts.get_current_head()
        if head is None:
            raise RuntimeError("no migrations found")
        return cls(head, frozenset(script.revision for script in scripts.walk_revisions()))

    def check(self, current: str | None) -> str:
        """``ok`` at the head, and ahead of it: a revision this code does not know is a newer
        one (migrations run before a roll-out; the old processes keep serving meanwhile)."""
        if current == self.head or (current is not None and current not in self.known):
            return OK
        return f"at {current or 'no revision'}, head is {self.head}"


async def _database_checks(engine: AsyncEngine, migrations: Migrations) -> dict[str, str]:
    try:
        async with engine.connect() as connection:
            current = (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
    except Exception as error:
        return {"database": f"unreachable ({type(error).__name__})", "migrations": "unknown"}
    return {"database": OK, "migrations": migrations.check(current)}


def _broker_check(transport: Transport) -> str:
    return OK if transport.connected else "unreachable"


async def _outbox_check(dispatcher: OutboxDispatcher, bound: float) -> str:
    try:
        _, oldest = await dispatcher.pending()
    except Exception as error:
        return f"unknown ({type(error).__name__})"
    if oldest is not None and oldest > bound:
        return f"oldest unpublished event is {oldest:.0f}s old (bound {bound:.0f}s)"
    return OK


async def readiness(state: Any) -> dict[str, str]:
    """Every check by name: ``ok`` or what is wrong."""
    checks = await _database_checks(state.application.engine, state.migrations)
    checks["broker"] = _broker_check(state.workers.transport)
    if checks["database"] == OK:
        checks["outbox"] = await _outbox_check(
            state.workers.dispatcher, state.application.settings.ready_max_outbox_age_seconds
        )
    else:
        checks["outbox"] = "unknown"
    return checks


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    checks = await readiness(request.app.state)
    failed = sorted(name for name, value in checks.items() if value != OK)
    return JSONResponse(
        {"status": "unready" if failed else "ready", "failed": failed, "checks": checks},
        status_code=503 if failed else 200,
    )
