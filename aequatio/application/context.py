"""Who issues a command and the metadata its events will carry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from aequatio.application.ids import new_id


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a token subject with scopes, or a system process."""

    subject: str
    scopes: frozenset[str] = frozenset()
    system: bool = False
    #: When the credentials expire (a live connection is closed then).
    expires_at: datetime | None = None

    @classmethod
    def system_process(cls, name: str) -> Principal:
        return cls(subject=f"system:{name}", system=True)


@dataclass(frozen=True, slots=True)
class CommandContext:
    """Everything about one command's execution that is not the command itself."""

    principal: Principal
    now: datetime
    correlation_id: UUID = field(default_factory=new_id)
    causation_id: UUID | None = None
    traceparent: str | None = None

    @property
    def trace_id(self) -> str | None:
        """The W3C trace id (``00-<trace_id>-<span_id>-<flags>``) if a trace is active."""
        if not self.traceparent:
            return None
        parts = self.traceparent.split("-")
        return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None
