"""Errors as clients see them.

One pattern everywhere: a mutation returns a named union ``<Mutation>Payload`` of its success
type and four typed errors (``InvalidInputError``, ``NotFoundError``, ``ForbiddenError``,
``ConflictError``), each with a stable ``code``, a message and the ``field`` path into the
mutation's arguments (``input.payers.1.amountCents``). Queries, and requests without a valid
token, fail with a GraphQL error whose ``extensions.code`` is the same vocabulary
(``UNAUTHENTICATED``, ``FORBIDDEN``, ``GROUP_NOT_FOUND``...). A lost database or broker
connection becomes ``UNAVAILABLE`` with ``retryable: true`` (retry with the same idempotency
key); anything else unexpected becomes ``INTERNAL_ERROR`` with a correlation id; the details
of both only go to the log.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from aequatio.domain.errors import (
    DomainError,
    ErrorCode,
    ErrorKind,
    Forbidden,
    InvalidInput,
)
from aequatio.persistence.errors import is_transient

ApiCode = ErrorCode
#: ``extensions.code`` of a request that failed on a lost connection (with ``retryable: true``).
UNAVAILABLE = "UNAVAILABLE"

#: The domain's codes as a GraphQL enum (a copy: the domain's own enum stays untouched).
ErrorCodeEnum: Any = strawberry.enum(  # type: ignore[call-overload]
    Enum("ErrorCode", {code.name: code.value for code in ErrorCode}),
    name="ErrorCode",
    description="Stable machine-readable error codes. New codes may be added; none is removed.",
)


def invalid_input(code: ErrorCode, message: str, *, field: str | None = None) -> InvalidInput:
    return InvalidInput(code, message, field=field)


def unauthenticated(message: str = "a valid bearer token is required") -> Forbidden:
    return Forbidden(ErrorCode.UNAUTHENTICATED, message)


_SNAKE = re.compile(r"_([a-z0-9])")


def graphql_field(domain_field: str | None, *, root: str = "input") -> str | None:
    """``payers.1.amount_cents`` -> ``input.payers.1.amountCents`` (the argument's path)."""
    if domain_field is None:
        return None
    parts = [_SNAKE.sub(lambda m: m.group(1).upper(), part) for part in domain_field.split(".")]
    return ".".join([root, *parts]) if root else ".".join(parts)


@strawberry.interface(description="What every typed error carries.")
class Error:
    code: ErrorCodeEnum
    message: str
    field: str | None = strawberry.field(
        description="Path of the offending argument, e.g. `input.payers.1.amountCents`."
    )


@strawberry.type(description="The arguments break a rule; nothing was written.")
class InvalidInputError(Error):
    pass


@strawberry.type(description="Something the arguments name does not exist.")
class NotFoundError(Error):
    pass


@strawberry.type(description="The caller may not do this (role, membership or token scope).")
class ForbiddenError(Error):
    pass


@strawberry.type(
    description="Valid, but clashes with the current state (a version, a duplicate, a status)."
)
class ConflictError(Error):
    pass


ErrorType = InvalidInputError | NotFoundError | ForbiddenError | ConflictError

_BY_KIND: dict[
    ErrorKind, type[InvalidInputError | NotFoundError | ForbiddenError | ConflictError]
] = {
    ErrorKind.INVALID_INPUT: InvalidInputError,
    ErrorKind.NOT_FOUND: NotFoundError,
    ErrorKind.FORBIDDEN: ForbiddenError,
    ErrorKind.CONFLICT: ConflictError,
}


def error_payload(error: DomainError) -> ErrorType:
    """The typed union member for a refused mutation."""
    kind = _BY_KIND[error.kind]
    return kind(
        code=ErrorCodeEnum[error.code.name],
        message=error.message,
        field=graphql_field(error.field),
    )


def extensions_for(error: DomainError, *, root: str = "") -> dict[str, Any]:
    """``extensions`` of a top-level GraphQL error raised from a domain or API refusal."""
    extensions: dict[str, Any] = {"code": error.code.value, "kind": error.kind.value}
    if error.field:
        extensions["field"] = graphql_field(error.field, root=root)
    return extensions


def format_error(error: GraphQLError, correlation_id: str) -> dict[str, Any]:
    """A GraphQL error as JSON: expected ones keep their code, the rest are masked."""
    original = error.original_error
    formatted: dict[str, Any] = {"message": error.message}
    if error.locations:
        formatted["locations"] = [
            {"line": where.line, "column": where.column} for where in error.locations
        ]
    if error.path:
        formatted["path"] = error.path
    if isinstance(original, DomainError):
        formatted["message"] = original.message
        formatted["extensions"] = extensions_for(original)
    elif original is None or not error.path:
        # Parse, validation and variable errors (no resolver ran): safe to show as they are.
        extensions = dict(error.extensions or {})
        extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED")
        formatted["extensions"] = extensions
    elif is_transient(original):
        # The database (or broker) connection was lost mid-request: nothing was committed
        # that a retry with the same idempotency key would write again.
        formatted["message"] = "Temporarily unavailable; retry the request."
        formatted["extensions"] = {
            "code": UNAVAILABLE,
            "retryable": True,
            "correlationId": correlation_id,
        }
    else:
        formatted["message"] = "Internal error; quote the correlation id when reporting it."
        formatted["extensions"] = {
            "code": ErrorCode.INTERNAL_ERROR.value,
            "correlationId": correlation_id,
        }
    return formatted


def is_unexpected(error: GraphQLError) -> bool:
    """An error a resolver raised that is not a typed refusal (a bug or an outage)."""
    original = error.original_error
    return original is not None and bool(error.path) and not isinstance(original, DomainError)


class TypedErrors(MaskErrors):
    """Every error leaves the schema in its client form (over HTTP and WebSocket alike):
    refusals with their code and field, anything unexpected masked with a correlation id.
    Runs after the schema logged the original errors."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda _: True)

    def _process_result(self, result: object) -> None:
        # MaskErrors asks ``isinstance(result, <a runtime-checkable Protocol>)`` first: tens of
        # microseconds for every result, pushed or not, when an attribute lookup says the same.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = getattr(self.execution_context, "context", None)
        formatted = format_error(error, str(getattr(context, "correlation_id", "")))
        return GraphQLError(
            formatted["message"],
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            extensions=formatted.get("extensions"),
        )
