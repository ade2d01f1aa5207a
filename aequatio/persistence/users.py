"""Users table adapter."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.application.ports import UserRepository
from aequatio.domain.user import User
from aequatio.persistence.concurrency import require_updated
from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.persistence.tables import users

#: Built once: every command looks its caller up (construction was half of its cost).
_BY_SUBJECT = DriverStatement(select(users).where(users.c.subject == bindparam("subject")))


def _user(row: Any) -> User:
    return User(
        id=row.id,
        version=row.version,
        stored_version=row.version,
        subject=row.subject,
        name=row.name,
        email=row.email,
        registered_at=row.registered_at,
    )


class SqlUserRepository(UserRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__()
        self._connection = connection

    async def get(self, user_id: UUID) -> User | None:
        row = (await self._connection.execute(select(users).where(users.c.id == user_id))).first()
        return self._track(_user(row)) if row else None

    async def get_by_subject(self, subject: str) -> User | None:
        row = await DriverSql(self._connection).first(_BY_SUBJECT, {"subject": subject})
        return self._track(_user(row)) if row else None

    async def email_in_use(self, email: str) -> bool:
        query = select(users.c.id).where(users.c.email == email)
        return (await self._connection.execute(query)).first() is not None

    async def existing(self, user_ids: Iterable[UUID]) -> set[UUID]:
        wanted = list(user_ids)
        query = select(users.c.id).where(users.c.id.in_(wanted))
        return set((await self._connection.execute(query)).scalars())

    async def _save(self, user: User) -> None:
        values = {
            "subject": user.subject,
            "name": user.name,
            "email": user.email,
            "registered_at": user.registered_at,
            "version": user.version,
        }
        if user.is_new:
            await self._connection.execute(insert(users).values(id=user.id, **values))
            return
        result = await self._connection.execute(
            update(users)
            .where(users.c.id == user.id, users.c.version == user.stored_version)
            .values(**values)
        )
        require_updated(result, user)
