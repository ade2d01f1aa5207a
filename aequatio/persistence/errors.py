"""Which database errors are worth waiting out (connection loss, deadlocks) and which are bugs."""

from __future__ import annotations

from asyncpg.exceptions import InternalClientError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

#: serialization_failure, deadlock_detected, lock_not_available, admin/crash shutdown,
#: cannot_connect_now, too_many_connections.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"})


def sqlstate(error: BaseException) -> str | None:
    cause: BaseException | None = error.orig if isinstance(error, DBAPIError) else error
    while cause is not None:
        code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if code:
            return str(code)
        cause = cause.__cause__
    return None


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.orig if isinstance(cause, DBAPIError) else cause.__cause__
    return chain


def _protocol_left_mid_operation(error: BaseException) -> bool:
    """asyncpg's "cannot switch to state N; another operation (2) is in progress": a backend
    terminated (``pg_terminate_backend``, a server restart) under a pooled connection leaves
    the driver waiting for an answer that never comes, and the next statement fails so."""
    return any(
        isinstance(cause, InternalClientError) and "cannot switch to state" in str(cause)
        for cause in _causes(error)
    )


def is_transient(error: BaseException) -> bool:
    """True when retrying the same work later can succeed without any change."""
    if isinstance(error, OperationalError | InterfaceError | ConnectionError | TimeoutError):
        return True
    if _protocol_left_mid_operation(error):
        return True
    if isinstance(error, OSError):
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or sqlstate(error) in _RETRYABLE_SQLSTATES
    return False
