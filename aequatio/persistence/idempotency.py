"""Idempotency keys: the first result of a command, remembered per principal and key."""

from __future__ import annotations

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.application.ports import IdempotencyClaim, IdempotencyStore, StoredOutcome
from aequatio.application.results import CommandResult
from aequatio.persistence.tables import idempotency_keys


class SqlIdempotencyStore(IdempotencyStore):
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def claim(self, subject: str, key: str) -> StoredOutcome | None:
        # A transaction-scoped advisory lock on the key serialises concurrent retries: the
        # second waits for the first to commit, then reads its stored result.
        await self._connection.execute(
            select(func.pg_advisory_xact_lock(func.hashtextextended(f"{subject}\x1f{key}", 0)))
        )
        row = (
            await self._connection.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.subject == subject, idempotency_keys.c.key == key
                )
            )
        ).first()
        if row is None:
            return None
        return StoredOutcome(
            command=row.command,
            fingerprint=row.fingerprint,
            result=CommandResult.from_json(row.result),
        )

    async def remember(self, claim: IdempotencyClaim, result: CommandResult) -> None:
        await self._connection.execute(
            insert(idempotency_keys).values(
                subject=claim.subject,
                key=claim.key,
                command=claim.command,
                fingerprint=claim.fingerprint,
                result=result.to_json(),
                created_at=func.now(),
            )
        )
