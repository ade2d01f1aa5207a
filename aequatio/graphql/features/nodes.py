"""``node(id:)``: any object by its global id, with the same membership rules as its list."""

from __future__ import annotations

import strawberry

from aequatio.domain.errors import ErrorCode, Forbidden, InvalidInput
from aequatio.graphql import ids
from aequatio.graphql.common import Node
from aequatio.graphql.context import Info
from aequatio.graphql.features.activity import ActivityEntry
from aequatio.graphql.features.expenses import Expense
from aequatio.graphql.features.groups import readable_group
from aequatio.graphql.features.invoices import Invoice
from aequatio.graphql.features.splits import Split
from aequatio.graphql.features.users import User

NODE_TYPES = [User, Expense, Split, Invoice, ActivityEntry]
#: The projection each node type is read from (what ``consistentWith`` waits for).
PROJECTION_OF = {
    "User": "user_directory",
    "Group": "group_summary",
    "Expense": "expenses",
    "Split": "splits",
    "Invoice": "invoices",
    "ActivityEntry": "activity",
}


async def _user(info: Info, user_id: object) -> User | None:
    context = info.context
    me = await context.actor_id()
    row = await context.loaders.users.load(user_id)  # type: ignore[arg-type]
    if row is None:
        return None
    if row.user_id != me and not await context.store.share_a_group(me, row.user_id):
        raise Forbidden(ErrorCode.FORBIDDEN, "you share no group with this user")
    return User.of(row, viewer=me)


@strawberry.type
class NodeQuery:
    @strawberry.field(description="The object with this global id (null if it does not exist).")
    async def node(
        self, info: Info, id: strawberry.ID, consistent_with: list[strawberry.ID] | None = None
    ) -> Node | None:
        decoded = ids.decode_node(str(id))
        if decoded is None:
            raise InvalidInput(ErrorCode.INVALID_ID, "not a global id", field="id")
        kind, uuid = decoded
        await info.context.consistent_with(consistent_with, [PROJECTION_OF[kind]])
        context = info.context
        loaders = context.loaders
        if kind == "User":
            return await _user(info, uuid)
        if kind == "Group":
            return await readable_group(info, uuid)
        if kind == "Expense":
            row = await loaders.expenses.load(uuid)
            node: Node | None = Expense.of(row) if row is not None else None
        elif kind == "Split":
            row = await loaders.splits.load(uuid)
            node = Split.of(row) if row is not None else None
        elif kind == "Invoice":
            row = await loaders.invoices.load(uuid)
            node = Invoice.of(row) if row is not None else None
        else:
            row = await loaders.activity.load(uuid)
            node = ActivityEntry.of(row) if row is not None else None
        if row is None:
            return None
        if row.group_id is None:  # a registration: only its own user sees it
            if row.actor_user_id != await context.actor_id():
                raise Forbidden(ErrorCode.FORBIDDEN, "this entry is not yours")
        else:
            await context.require_member(row.group_id)
        return node
