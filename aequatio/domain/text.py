"""Validation of the free text a family types: names, descriptions, categories, e-mails."""

from __future__ import annotations

import re

from aequatio.domain.errors import ErrorCode, InvalidInput

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_EMAIL_LENGTH = 254


def require_text(value: str, *, field: str, max_length: int) -> str:
    """Trimmed, non-empty, at most ``max_length`` characters, no control characters."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidInput(ErrorCode.TEXT_EMPTY, f"{field} must not be empty", field=field)
    if len(text) > max_length:
        raise InvalidInput(
            ErrorCode.TEXT_TOO_LONG, f"{field} is limited to {max_length} characters", field=field
        )
    if not is_plain(text):
        raise InvalidInput(
            ErrorCode.TEXT_EMPTY, f"{field} must not contain control characters", field=field
        )
    return text


def is_plain(text: str) -> bool:
    """No control characters but tab, and no lone surrogates (JSON can carry ``"\\udc80"``):
    PostgreSQL stores neither a NUL nor a surrogate in a text column."""
    return not any(
        (ord(char) < 32 and char != "\t") or 0xD800 <= ord(char) <= 0xDFFF for char in text
    )


def optional_text(value: str | None, *, field: str, max_length: int) -> str | None:
    """Like ``require_text`` but blank means "none"."""
    if value is None or not value.strip():
        return None
    return require_text(value, field=field, max_length=max_length)


def require_email(value: str, *, field: str = "email") -> str:
    """A plausible address, lower-cased so uniqueness ignores case."""
    email = value.strip().lower() if isinstance(value, str) else ""
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email) or not is_plain(email):
        raise InvalidInput(ErrorCode.EMAIL_INVALID, "this is not an e-mail address", field=field)
    return email
