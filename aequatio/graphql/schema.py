"""The GraphQL schema: per-feature queries and mutations merged into one."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from aequatio.graphql.common import MINOR_UNITS_SCALAR, MinorUnits
from aequatio.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    TypedErrors,
    is_unexpected,
)
from aequatio.graphql.features.activity import ActivityQuery
from aequatio.graphql.features.expenses import ExpensesMutation, ExpensesQuery
from aequatio.graphql.features.groups import Group, GroupsMutation, GroupsQuery
from aequatio.graphql.features.invoices import InvoicesMutation, InvoicesQuery
from aequatio.graphql.features.nodes import NODE_TYPES, NodeQuery
from aequatio.graphql.features.splits import SplitsMutation, SplitsQuery
from aequatio.graphql.features.subscriptions import LiveSubscription
from aequatio.graphql.features.users import UsersMutation, UsersQuery
from aequatio.graphql.instrumentation import OperationMetrics
from aequatio.graphql.limits import QueryLimits
from aequatio.graphql.prepared import limit_extensions
from aequatio.graphql.shared_execution import SharingExecutor

log = logging.getLogger(__name__)

Query = merge_types(
    "Query",
    (UsersQuery, GroupsQuery, ExpensesQuery, SplitsQuery, InvoicesQuery, ActivityQuery, NodeQuery),
)
Subscription = LiveSubscription

Mutation = merge_types(
    "Mutation",
    (UsersMutation, GroupsMutation, ExpensesMutation, SplitsMutation, InvoicesMutation),
)


class AequatioSchema(strawberry.Schema):
    """Logs unexpected errors with their correlation id; expected refusals are not errors."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context: Any = execution_context.context if execution_context else None
        correlation_id = getattr(context, "correlation_id", None)
        for error in errors:
            if is_unexpected(error):
                log.error(
                    "unexpected error in %s (correlation id %s)",
                    ".".join(str(part) for part in error.path or []) or "the request",
                    correlation_id,
                    exc_info=error.original_error,
                )


def build_schema(limits: QueryLimits | None = None) -> strawberry.Schema:
    return AequatioSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[*NODE_TYPES, Group, InvalidInputError, NotFoundError, ForbiddenError, ConflictError],
        # TypedErrors outermost: it formats the errors last, once the limits coded theirs.
        extensions=[TypedErrors, OperationMetrics, *limit_extensions(limits or QueryLimits())],
        config=StrawberryConfig(scalar_map={MinorUnits: MINOR_UNITS_SCALAR}),
        # A pushed event's response is executed once for all its subscribers.
        execution_context_class=SharingExecutor,
    )
