"""The framework floor: bare Strawberry answering the bench's two documents with the raw SQL.

``POST /floor/graphql`` (served by the raw baseline's process, ``bench/raw_api.py``) executes
the very ``addExpense`` and ``balances`` documents the load generator sends to aequatio, on a
plain Strawberry schema of the same shape, with Strawberry's own ``ParserCache`` and
``ValidationCache``, from a plain Starlette route. Its resolvers replay the statement scripts
the raw endpoints replay (the SQL captured from aequatio in the same run), on the same asyncpg
pool, and answer what aequatio answered (the harness checks that the answers are equal).

Nothing of aequatio is in it: no token check, no query limits, no metrics or spans, no
SQLAlchemy, no dataloader, no command bus or domain model. So the floor measures what a
GraphQL request costs on this stack before any application code runs, the issue's "plain
Strawberry with the parser and validation caches", with the same SQL as both the app and
the raw endpoint: the part of the gap between aequatio and the raw endpoint that no
application code can close.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

import asyncpg
import strawberry
from starlette.requests import Request
from starlette.responses import Response
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from aequatio.graphql.common import MINOR_UNITS_SCALAR, MinorUnits
from aequatio.graphql.ids import decode_event, decode_node, encode, encode_event
from bench.script_runner import request_values, run_script

JSON_TYPE = "application/json"


@dataclass(frozen=True)
class FloorContext:
    pool: Callable[[], asyncpg.Pool]
    scripts: dict[str, Any]  # name -> raw_api.Script


@strawberry.input
class PeriodInput:
    start: date
    end: date


@strawberry.type
class User:
    name: str


@strawberry.type
class Balance:
    currency: str
    paid_cents: MinorUnits
    owed_cents: MinorUnits
    net_cents: MinorUnits
    user: User


@strawberry.input
class AddExpenseInput:
    group_id: strawberry.ID
    amount_cents: MinorUnits
    currency: str
    description: str
    incurred_on: date
    category: str | None = None
    idempotency_key: str | None = None


@strawberry.interface
class Error:
    code: str
    message: str
    field: str | None


@strawberry.type
class InvalidInputError(Error):
    pass


@strawberry.type
class MutationSuccess:
    id: strawberry.ID
    version: int
    event_ids: list[strawberry.ID]
    replayed: bool


AddExpensePayload = Annotated[
    MutationSuccess | InvalidInputError, strawberry.union("AddExpensePayload")
]


async def _replay(info: Info, name: str, mapping: dict[Any, Any]) -> list[list[dict[str, Any]]]:
    context: FloorContext = info.context
    script = context.scripts[name]
    async with context.pool().acquire() as connection:
        return await run_script(connection, script, mapping)


@strawberry.type
class Query:
    @strawberry.field
    async def balances(
        self, info: Info, group_id: strawberry.ID, period: PeriodInput
    ) -> list[Balance]:
        # The captured SELECTs, as the raw endpoint runs them: the caller and membership, the
        # balances, the members' names.
        results = await _replay(info, "balances", {})
        names = {row["user_id"]: row["name"] for rows in results for row in rows if "name" in row}
        return [
            Balance(
                currency=row["currency"],
                paid_cents=MinorUnits(int(row["paid_cents"])),
                owed_cents=MinorUnits(int(row["owed_cents"])),
                net_cents=MinorUnits(int(row["net_cents"])),
                user=User(name=names[row["user_id"]]),
            )
            for rows in results
            for row in rows
            if "net_cents" in row
        ]


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def add_expense(self, info: Info, input: AddExpenseInput) -> AddExpensePayload:
        script = info.context.scripts["add_expense"]
        mapping = request_values(
            script, str(input.idempotency_key), input.incurred_on, str(input.group_id)
        )
        await _replay(info, "add_expense", mapping)
        # The ids of what this request wrote: the captured answer's, through the substitution.
        answer = script.answer["addExpense"]
        kind, expense = decode_node(answer["id"]) or ("", uuid.UUID(int=0))
        event_ids = [decode_event(event, field="eventIds") for event in answer["eventIds"]]
        return MutationSuccess(
            id=strawberry.ID(encode(kind, mapping.get(expense, expense))),
            version=answer["version"],
            event_ids=[
                strawberry.ID(encode_event(event_type, mapping.get(event_id, event_id)))
                for event_type, event_id in event_ids
            ],
            replayed=False,
        )


SCHEMA = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    types=[InvalidInputError],
    extensions=[ParserCache, ValidationCache],  # factories: one instance per request
    config=StrawberryConfig(scalar_map={MinorUnits: MINOR_UNITS_SCALAR}),
)


def floor_endpoint(context: FloorContext) -> Callable[[Request], Any]:
    """The route: the body's document executed as it is, errors formatted as Strawberry does."""

    async def endpoint(request: Request) -> Response:
        body = json.loads(await request.body())
        result = await SCHEMA.execute(
            body["query"],
            variable_values=body.get("variables"),
            operation_name=body.get("operationName"),
            context_value=context,
        )
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        return Response(json.dumps(payload, separators=(",", ":")), media_type=JSON_TYPE)

    return endpoint
