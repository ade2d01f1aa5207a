"""Types shared by the features: money scalar, periods, the Node interface, mutation results."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import NewType
from uuid import UUID

import strawberry

from aequatio.application.commands import Command
from aequatio.application.results import CommandResult
from aequatio.domain.errors import DomainError, ErrorCode, Forbidden
from aequatio.domain.money import MAX_AMOUNT_MINOR
from aequatio.graphql import ids
from aequatio.graphql.context import Info
from aequatio.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    error_payload,
)

#: Integer minor units; its GraphQL scalar is defined in ``MINOR_UNITS_SCALAR`` (schema config).
MinorUnits = NewType("MinorUnits", int)


def _parse_minor_units(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("MinorUnits is a whole number of minor units")
    if abs(value) > 10**15:
        raise ValueError("MinorUnits is out of range")
    return value


MINOR_UNITS_SCALAR = strawberry.scalar(
    name="MinorUnits",
    description=(
        "An integer amount of a currency's minor units (cents, yen, fils): a JSON number of at "
        f"most {len(str(MAX_AMOUNT_MINOR))} digits, never a float."
    ),
    serialize=int,
    parse_value=_parse_minor_units,
)


@strawberry.interface(description="An object with a global id (`node(id:)` fetches it).")
class Node:
    id: strawberry.ID


@strawberry.type
class CurrencyAmount:
    currency: str
    amount_cents: MinorUnits


@strawberry.input(description="`[start, end)` of whole calendar months (first days of months).")
class PeriodInput:
    start: date
    end: date


@strawberry.type
class Period:
    start: date
    end: date


_NODE_TYPE = {
    "user": "User",
    "group": "Group",
    "expense": "Expense",
    "split": "Split",
    "invoice": "Invoice",
}


@strawberry.type(description="The command was carried out (or had been, for a repeated key).")
class MutationSuccess:
    id: strawberry.ID = strawberry.field(description="Global id of the object acted on.")
    version: int = strawberry.field(description="Its version after the command.")
    event_ids: list[strawberry.ID] = strawberry.field(
        description="Events written; pass them as `consistentWith` to read this write."
    )
    replayed: bool = strawberry.field(
        description="True when the idempotency key matched: this is the first call's result."
    )

    @classmethod
    def of(cls, result: CommandResult) -> MutationSuccess:
        return cls(
            id=strawberry.ID(ids.encode(_NODE_TYPE[result.aggregate_type], result.aggregate_id)),
            version=result.aggregate_version,
            event_ids=[
                strawberry.ID(ids.encode_event(event_type, event_id))
                for event_type, event_id in zip(result.event_types, result.event_ids, strict=True)
            ],
            replayed=result.replayed,
        )


#: What a mutation resolves to; each mutation names it as its own union, e.g.
#: ``AddExpensePayload = Annotated[Outcome, strawberry.union("AddExpensePayload")]``.
Outcome = MutationSuccess | InvalidInputError | NotFoundError | ForbiddenError | ConflictError


async def run_command(
    info: Info, scope: str, build: Callable[[], Command | Awaitable[Command]]
) -> Outcome:
    """Authorise, build the command (inputs may be refused), run it, type the outcome."""
    context = info.context
    principal = context.require_principal()
    try:
        if scope not in principal.scopes:
            raise Forbidden(ErrorCode.FORBIDDEN, f"the token lacks the scope {scope!r}")
        built = build()
        command = built if isinstance(built, Command) else await built
        # The command takes a connection of its own: the request's read connection goes
        # back first (holding one while waiting for another could starve the pool).
        await context.store.set_aside()
        result = await context.bus.handle(command, principal, correlation_id=context.correlation_id)
    except DomainError as error:
        return error_payload(error)
    return MutationSuccess.of(result)


def uuid_of(opaque: strawberry.ID, type_name: str, *, field: str) -> UUID:
    return ids.expect(str(opaque), type_name, field=field)
