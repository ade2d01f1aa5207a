"""The audit timeline of a group: ``activity``."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from sqlalchemy import Row
from strawberry.scalars import JSON

from aequatio.domain.errors import ErrorCode, InvalidInput
from aequatio.graphql import ids
from aequatio.graphql.common import Node, uuid_of
from aequatio.graphql.context import Info
from aequatio.graphql.features.expenses import PageInfo, page_size
from aequatio.graphql.features.users import User, load_user
from aequatio.graphql.limits import QueryLimits

LIMITS = QueryLimits()
MAX_POSITION = 2**63 - 1  # event positions are BIGINT


@strawberry.type(description="Who changed what, when; amendments carry their before/after.")
class ActivityEntry(Node):
    occurred_at: datetime
    event_type: str
    aggregate_type: str
    summary: str
    details: JSON
    actor_id: strawberry.Private[UUID | None]
    group_id: strawberry.Private[UUID | None]
    position: strawberry.Private[int]

    @strawberry.field
    async def actor(self, info: Info) -> User | None:
        return await load_user(info, self.actor_id) if self.actor_id else None

    @classmethod
    def of(cls, row: Row[Any]) -> ActivityEntry:
        return cls(
            id=strawberry.ID(ids.encode("ActivityEntry", row.event_id)),
            occurred_at=row.occurred_at,
            event_type=row.event_type,
            aggregate_type=row.aggregate_type,
            summary=row.summary,
            details=row.details,
            actor_id=row.actor_user_id,
            group_id=row.group_id,
            position=row.position,
        )


@strawberry.type
class ActivityEdge:
    cursor: str
    node: ActivityEntry


@strawberry.type
class ActivityConnection:
    edges: list[ActivityEdge]
    page_info: PageInfo


def _before(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    # ASCII digits (str.isdigit also takes "١٢"), within the column's BIGINT.
    digits = cursor.isascii() and cursor.isdigit() and len(cursor) <= len(str(MAX_POSITION))
    if not digits or int(cursor) > MAX_POSITION:
        raise InvalidInput(ErrorCode.INVALID_ID, "not a cursor of this list", field="after")
    return int(cursor)


@strawberry.type
class ActivityQuery:
    @strawberry.field(description="The group's timeline, newest first.")
    async def activity(
        self,
        info: Info,
        group_id: strawberry.ID,
        first: int = LIMITS.default_page_size,
        after: str | None = None,
        consistent_with: list[strawberry.ID] | None = None,
    ) -> ActivityConnection:
        await info.context.consistent_with(consistent_with, ["activity"])
        group = uuid_of(group_id, "Group", field="groupId")
        limit = page_size(first)
        await info.context.require_member(group)
        rows = await info.context.store.activity_page(group, before=_before(after), limit=limit + 1)
        page = rows[:limit]
        return ActivityConnection(
            edges=[
                ActivityEdge(cursor=str(row.position), node=ActivityEntry.of(row)) for row in page
            ],
            page_info=PageInfo(
                has_next_page=len(rows) > limit,
                end_cursor=str(page[-1].position) if page else None,
            ),
        )
