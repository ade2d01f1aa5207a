"""What a saga (process manager) is: a policy from events (and timeouts) to state and commands.

A saga is pure: ``on_event(state, envelope, payload, now) -> Decision``. The runner persists the
decided state, runs the decided commands through the command bus, and tells the saga how each
ended (``on_result`` / ``on_refused``) — all in the same transaction as the tracking row, so a
redelivered event changes nothing and a crash mid-step leaves no half-done step behind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar

from aequatio.application.commands import Command
from aequatio.application.results import CommandResult
from aequatio.domain.errors import DomainError
from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.registry import EventRegistry
from aequatio.outbox.topology import Queue, routed_event_types


@dataclass(frozen=True, slots=True)
class SagaState:
    key: str
    status: str
    data: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    deadline: datetime | None = None

    def moved(self, status: str, *, deadline: datetime | None = None, **data: Any) -> SagaState:
        """The next state: a new status, updated data, a new (or no) deadline."""
        return replace(self, status=status, data={**self.data, **data}, deadline=deadline)


@dataclass(frozen=True, slots=True)
class Decision:
    """``state`` to persist (``None``: this event does not concern the saga) and commands."""

    state: SagaState | None
    commands: tuple[Command, ...] = ()


IGNORE = Decision(None)


class Saga(ABC):
    name: ClassVar[str]
    patterns: ClassVar[tuple[str, ...]]
    #: Statuses after which nothing more happens (the saga ended, visibly).
    final: ClassVar[frozenset[str]]

    @property
    def consumer(self) -> str:
        return f"saga.{self.name}"

    def queue(self) -> Queue:
        return Queue(self.consumer, self.patterns)

    def event_types(self, registry: EventRegistry) -> list[str]:
        return routed_event_types(self.patterns, registry)

    @abstractmethod
    def key(self, envelope: Envelope, payload: EventPayload) -> str | None:
        """The correlation key of the saga instance this event belongs to (``None``: none)."""

    @abstractmethod
    def on_event(
        self, state: SagaState | None, envelope: Envelope, payload: EventPayload, now: datetime
    ) -> Decision: ...

    def on_result(
        self, state: SagaState, command: Command, result: CommandResult, now: datetime
    ) -> SagaState:
        """A command succeeded; by default the state stays as decided."""
        return state

    def on_refused(self, state: SagaState, command: Command, error: DomainError) -> SagaState:
        """A command was refused: end visibly by default (never stuck)."""
        return state.moved("failed", error_code=error.code.value, error=error.message)

    def on_timeout(self, state: SagaState, now: datetime) -> Decision:
        """The deadline passed; by default the saga just ends as timed out."""
        return Decision(state.moved("timed_out"))
