"""A request that fails on a lost database connection answers ``UNAVAILABLE``, retryable — not
``INTERNAL_ERROR`` (the fault suite's terminated backends found this: see
``tests/faults/test_fault_api_backends.py``)."""

from __future__ import annotations

from asyncpg.exceptions import AdminShutdownError, InternalClientError
from graphql import GraphQLError
from sqlalchemy.exc import DBAPIError, InternalError

from aequatio.graphql.errors import UNAVAILABLE, format_error
from aequatio.persistence.errors import is_transient


def wrapped(cause: Exception, kind: type[DBAPIError] = DBAPIError) -> DBAPIError:
    """As SQLAlchemy raises a driver error: the DBAPI adapter's error, caused by asyncpg's."""
    adapted = Exception(str(cause))
    adapted.__cause__ = cause
    return kind("SELECT 1", {}, adapted)


def test_a_driver_left_mid_operation_by_a_terminated_backend_is_transient() -> None:
    left = InternalClientError("cannot switch to state 11; another operation (2) is in progress")
    assert is_transient(wrapped(left, InternalError))
    assert not is_transient(wrapped(InternalClientError("something else"), InternalError))


def test_a_lost_connection_answers_unavailable_and_retryable_without_details() -> None:
    lost = wrapped(AdminShutdownError("terminating connection due to administrator command"))
    lost.connection_invalidated = True
    error = GraphQLError("boom", path=["addExpense"], original_error=lost)
    formatted = format_error(error, "c0ffee")
    assert formatted["extensions"] == {
        "code": UNAVAILABLE,
        "retryable": True,
        "correlationId": "c0ffee",
    }
    assert "administrator" not in str(formatted)


def test_anything_else_unexpected_stays_an_internal_error() -> None:
    error = GraphQLError("boom", path=["addExpense"], original_error=ValueError("a bug"))
    assert format_error(error, "c0ffee")["extensions"]["code"] == "INTERNAL_ERROR"
