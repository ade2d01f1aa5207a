"""Idempotency keys: the first result of a command, remembered per principal and key."""

from __future__ import annotations

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.application.ports import IdempotencyClaim, IdempotencyStore, StoredOutcome
from aequatio.application.results import CommandResult
from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.persistence.tables import idempotency_keys

# Built once, with bind parameters (every command with a key runs all three). The lock and the
# read stay two statements: the read must take its snapshot after the lock was granted, to see
# what the transaction that held it committed.
_LOCK = DriverStatement(
    select(func.pg_advisory_xact_lock(func.hashtextextended(bindparam("lock_key"), 0)))
)
_STORED = DriverStatement(
    select(idempotency_keys).where(
        idempotency_keys.c.subject == bindparam("subject"),
        idempotency_keys.c.key == bindparam("key"),
    )
)
_REMEMBER = DriverStatement(insert(idempotency_keys).values(created_at=func.now()))


class SqlIdempotencyStore(IdempotencyStore):
    def __init__(self, connection: AsyncConnection) -> None:
        self._sql = DriverSql(connection)

    async def claim(self, subject: str, key: str) -> StoredOutcome | None:
        # A transaction-scoped advisory lock on the key serialises concurrent retries: the
        # second waits for the first to commit, then reads its stored result.
        await self._sql.rows(_LOCK, {"lock_key": f"{subject}\x1f{key}"})
        row = await self._sql.first(_STORED, {"subject": subject, "key": key})
        if row is None:
            return None
        return StoredOutcome(
            command=row.command,
            fingerprint=row.fingerprint,
            result=CommandResult.from_json(row.result),
        )

    async def remember(self, claim: IdempotencyClaim, result: CommandResult) -> None:
        await self._sql.execute(
            _REMEMBER,
            {
                "subject": claim.subject,
                "key": claim.key,
                "command": claim.command,
                "fingerprint": claim.fingerprint,
                "result": result.to_json(),
            },
        )
