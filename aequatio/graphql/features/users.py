"""People: the ``User`` type, ``me``, and ``registerUser``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import strawberry
from sqlalchemy import Row

from aequatio.application.commands import RegisterUser
from aequatio.graphql import ids
from aequatio.graphql.common import Node, Outcome, run_command
from aequatio.graphql.context import Info

SCOPE = "users:write"


@strawberry.type(description="A person using aequatio.")
class User(Node):
    name: str
    registered_at: datetime
    email: str | None = strawberry.field(description="Only visible to the user themselves.")
    user_id: strawberry.Private[UUID]

    @classmethod
    def of(cls, row: Row[Any], *, viewer: UUID | None = None) -> User:
        return cls(
            id=strawberry.ID(ids.encode("User", row.user_id)),
            name=row.name,
            registered_at=row.registered_at,
            email=row.email if row.user_id == viewer else None,
            user_id=row.user_id,
        )


async def load_user(info: Info, user_id: UUID) -> User | None:
    row = await info.context.loaders.users.load(user_id)
    if row is None:
        return None
    viewer = await info.context.actor()
    return User.of(row, viewer=viewer.user_id if viewer is not None else None)


@strawberry.type
class UsersQuery:
    @strawberry.field(description="The caller, once registered (null before `registerUser`).")
    async def me(
        self, info: Info, consistent_with: list[strawberry.ID] | None = None
    ) -> User | None:
        await info.context.consistent_with(consistent_with, ["user_directory"])
        row = await info.context.actor()
        return User.of(row, viewer=row.user_id) if row is not None else None


@strawberry.input
class RegisterUserInput:
    name: str
    email: str
    idempotency_key: str | None = None


RegisterUserPayload = Annotated[Outcome, strawberry.union("RegisterUserPayload")]


@strawberry.type
class UsersMutation:
    @strawberry.mutation(description="Register the token's subject as a user.")
    async def register_user(self, info: Info, input: RegisterUserInput) -> RegisterUserPayload:
        def build() -> RegisterUser:
            return RegisterUser(
                name=input.name, email=input.email, idempotency_key=input.idempotency_key
            )

        return await run_command(info, SCOPE, build)
