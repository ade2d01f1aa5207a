"""Which database errors are worth waiting out (connection loss, deadlocks) and which are bugs."""

from __future__ import annotations

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


def is_transient(error: BaseException) -> bool:
    """True when retrying the same work later can succeed without any change."""
    if isinstance(error, OperationalError | InterfaceError | ConnectionError | TimeoutError):
        return True
    if isinstance(error, OSError):
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or sqlstate(error) in _RETRYABLE_SQLSTATES
    return False
