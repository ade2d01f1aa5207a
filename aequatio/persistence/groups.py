"""Groups and their memberships."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from aequatio.application.ports import GroupRepository, LockMode
from aequatio.domain.group import Group, Membership, Role
from aequatio.persistence.concurrency import require_updated
from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.persistence.tables import group_members, groups

# Built once, so each load only binds its parameters (expense commands load the group).
_GROUP = select(groups).where(groups.c.id == bindparam("group_id"))
_GROUP_LOCKED = {
    None: DriverStatement(_GROUP),
    LockMode.SHARE: DriverStatement(_GROUP.with_for_update(read=True)),
    LockMode.UPDATE: DriverStatement(_GROUP.with_for_update()),
}
_MEMBERS = DriverStatement(
    select(group_members)
    .where(group_members.c.group_id == bindparam("group_id"))
    .order_by(group_members.c.joined_on, group_members.c.user_id)
)


def _membership(row: Any) -> Membership:
    return Membership(
        user_id=row.user_id,
        role=Role(row.role),
        weight=row.weight,
        joined_on=row.joined_on,
        left_on=row.left_on,
    )


class SqlGroupRepository(GroupRepository):
    def __init__(self, connection: AsyncConnection) -> None:
        super().__init__()
        self._connection = connection

    async def get(self, group_id: UUID, *, lock: LockMode | None = None) -> Group | None:
        parameters = {"group_id": group_id}
        sql = DriverSql(self._connection)
        row = await sql.first(_GROUP_LOCKED[lock], parameters)
        if row is None:
            return None
        members = await sql.rows(_MEMBERS, parameters)
        return self._track(
            Group(
                id=row.id,
                version=row.version,
                stored_version=row.version,
                name=row.name,
                currency=row.currency,
                owner_id=row.owner_id,
                created_at=row.created_at,
                memberships=[_membership(member) for member in members],
            )
        )

    async def _save(self, group: Group) -> None:
        values = {
            "name": group.name,
            "currency": group.currency,
            "owner_id": group.owner_id,
            "created_at": group.created_at,
            "version": group.version,
        }
        if group.is_new:
            await self._connection.execute(insert(groups).values(id=group.id, **values))
        else:
            result = await self._connection.execute(
                update(groups)
                .where(groups.c.id == group.id, groups.c.version == group.stored_version)
                .values(**values)
            )
            require_updated(result, group)
        rows = [
            {
                "group_id": group.id,
                "user_id": m.user_id,
                "joined_on": m.joined_on,
                "left_on": m.left_on,
                "role": m.role.value,
                "weight": m.weight,
            }
            for m in group.memberships
        ]
        upsert = pg_insert(group_members).values(rows)
        await self._connection.execute(
            upsert.on_conflict_do_update(
                constraint="pk_group_members",
                set_={
                    "left_on": upsert.excluded.left_on,
                    "role": upsert.excluded.role,
                    "weight": upsert.excluded.weight,
                },
            )
        )
