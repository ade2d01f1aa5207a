"""Typed domain errors: a stable machine-readable code, a kind, and the offending field.

Clients branch on `code`; `field` is a path into the command's input (``payers.1.amount_cents``)
so a form can show the message next to the right control. Nothing here ever carries SQL,
stack traces or secrets.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """What went wrong, coarse enough for transports to map onto status codes."""

    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    CONFLICT = "CONFLICT"


class ErrorCode(StrEnum):
    """Every code a command can fail with. Published: never rename, only add."""

    # money and dates
    AMOUNT_NOT_POSITIVE = "AMOUNT_NOT_POSITIVE"
    AMOUNT_TOO_LARGE = "AMOUNT_TOO_LARGE"
    UNKNOWN_CURRENCY = "UNKNOWN_CURRENCY"
    DATE_OUT_OF_RANGE = "DATE_OUT_OF_RANGE"
    PERIOD_INVALID = "PERIOD_INVALID"
    RATE_INVALID = "RATE_INVALID"
    # text
    TEXT_EMPTY = "TEXT_EMPTY"
    TEXT_TOO_LONG = "TEXT_TOO_LONG"
    EMAIL_INVALID = "EMAIL_INVALID"
    # expense shape
    PAYER_AMOUNTS_MISMATCH = "PAYER_AMOUNTS_MISMATCH"
    DUPLICATE_PARTICIPANT = "DUPLICATE_PARTICIPANT"
    PARTICIPANTS_EMPTY = "PARTICIPANTS_EMPTY"
    EXACT_AMOUNTS_MISMATCH = "EXACT_AMOUNTS_MISMATCH"
    PERCENT_NOT_10000 = "PERCENT_NOT_10000"
    WEIGHT_INVALID = "WEIGHT_INVALID"
    SPLIT_RULE_INVALID = "SPLIT_RULE_INVALID"
    NOTHING_TO_CHANGE = "NOTHING_TO_CHANGE"
    # people and membership
    UNKNOWN_USER = "UNKNOWN_USER"
    NOT_A_MEMBER = "NOT_A_MEMBER"
    DUPLICATE_MEMBER = "DUPLICATE_MEMBER"
    LAST_OWNER = "LAST_OWNER"
    ROLE_INVALID = "ROLE_INVALID"
    NOT_REGISTERED = "NOT_REGISTERED"
    ALREADY_REGISTERED = "ALREADY_REGISTERED"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    # rights
    FORBIDDEN = "FORBIDDEN"
    # lookups
    GROUP_NOT_FOUND = "GROUP_NOT_FOUND"
    EXPENSE_NOT_FOUND = "EXPENSE_NOT_FOUND"
    SPLIT_NOT_FOUND = "SPLIT_NOT_FOUND"
    INVOICE_NOT_FOUND = "INVOICE_NOT_FOUND"
    # state and concurrency
    VERSION_CONFLICT = "VERSION_CONFLICT"
    EXPENSE_DELETED = "EXPENSE_DELETED"
    SPLIT_NOT_PENDING = "SPLIT_NOT_PENDING"
    SPLIT_PENDING = "SPLIT_PENDING"
    SPLIT_NOT_COMPLETED = "SPLIT_NOT_COMPLETED"
    SPLIT_STALE = "SPLIT_STALE"
    RATE_MISSING = "RATE_MISSING"
    SPLIT_TIMED_OUT = "SPLIT_TIMED_OUT"
    INVOICE_NOT_ISSUED = "INVOICE_NOT_ISSUED"
    PERIOD_CLOSED = "PERIOD_CLOSED"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    # raised by the API around the domain
    UNAUTHENTICATED = "UNAUTHENTICATED"
    INVALID_ID = "INVALID_ID"
    PAGE_SIZE_TOO_LARGE = "PAGE_SIZE_TOO_LARGE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class DomainError(Exception):
    """Base of every error a command may raise on purpose."""

    kind: ErrorKind = ErrorKind.INVALID_INPUT

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.value!r}, {self.message!r}, field={self.field!r})"


class InvalidInput(DomainError):
    """The command is malformed or breaks a rule about its own content."""

    kind = ErrorKind.INVALID_INPUT


class NotFound(DomainError):
    """The command names something that does not exist (or the actor may not know of)."""

    kind = ErrorKind.NOT_FOUND


class Forbidden(DomainError):
    """The actor is not allowed to do this."""

    kind = ErrorKind.FORBIDDEN


class Conflict(DomainError):
    """The command is valid but clashes with the current state (versions, duplicates, status)."""

    kind = ErrorKind.CONFLICT


def field_path(*parts: str | int) -> str:
    """Join a path into the input: ``field_path("payers", 1, "amount_cents")``."""
    return ".".join(str(part) for part in parts)
