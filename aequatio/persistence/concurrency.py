"""Optimistic concurrency and constraint violations, turned into typed conflicts."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError

from aequatio.domain.aggregate import Aggregate
from aequatio.domain.errors import Conflict, ErrorCode

#: Unique constraints whose violation is a business conflict, not a bug.
_CONFLICTS: dict[str, tuple[ErrorCode, str, str | None]] = {
    "uq_users_subject": (ErrorCode.ALREADY_REGISTERED, "already registered", None),
    "uq_users_email": (ErrorCode.EMAIL_TAKEN, "this e-mail address is in use", "email"),
    "uq_group_members_active": (ErrorCode.DUPLICATE_MEMBER, "already a member", "user_id"),
    "pk_group_members": (ErrorCode.DUPLICATE_MEMBER, "already a member", "user_id"),
    "uq_events_store_aggregate_id_aggregate_version": (
        ErrorCode.VERSION_CONFLICT,
        "someone else changed this at the same time; reload and retry",
        None,
    ),
    "uq_splits_pending_period": (
        ErrorCode.SPLIT_PENDING,
        "a split of this period is being computed",
        "period",
    ),
    "uq_invoices_active_period": (
        ErrorCode.PERIOD_CLOSED,
        "this period is already invoiced",
        "period",
    ),
}


def require_updated(result: Any, aggregate: Aggregate) -> None:
    """An UPDATE guarded by the stored version touched no row: someone else won."""
    if result.rowcount != 1:
        raise Conflict(
            ErrorCode.VERSION_CONFLICT,
            f"this {aggregate.aggregate_type} changed since it was read; reload and retry",
            field="expected_version",
        )


def constraint_name(error: IntegrityError) -> str | None:
    cause: BaseException | None = error.orig
    while cause is not None:
        name = getattr(cause, "constraint_name", None)
        if name:
            return str(name)
        cause = cause.__cause__
    return None


def conflict_for(error: IntegrityError) -> Conflict | None:
    """The typed conflict a unique violation stands for, or ``None`` if it is a bug."""
    known = _CONFLICTS.get(constraint_name(error) or "")
    if known is None:
        return None
    code, message, field = known
    return Conflict(code, message, field=field)
