"""The command bus as operated: every command in its own span, every written event counted."""

from __future__ import annotations

import logging
import time
from uuid import UUID

from aequatio.application.bus import MessageBus, UnitOfWorkFactory
from aequatio.application.commands import Command
from aequatio.application.context import Principal
from aequatio.application.ids import new_id
from aequatio.application.results import CommandResult
from aequatio.domain.errors import DomainError
from aequatio.observability.logging import log_context
from aequatio.observability.metrics import EVENTS_WRITTEN
from aequatio.observability.tracing import failed, span, traceparent_of

log = logging.getLogger(__name__)


class InstrumentedBus(MessageBus):
    """The command's span is the parent of its events: consumers continue the trace from it."""

    async def handle(
        self,
        command: Command,
        principal: Principal,
        *,
        correlation_id: UUID | None = None,
        causation_id: UUID | None = None,
        traceparent: str | None = None,
        unit_of_work: UnitOfWorkFactory | None = None,
    ) -> CommandResult:
        name = type(command).__name__
        started = time.perf_counter()
        # Chosen here (not in the bus) so every line logged for the command carries it.
        correlation_id = correlation_id or new_id()
        attributes = {"aequatio.command": name, "enduser.id": principal.subject}
        with (
            span(f"command {name}", parent=traceparent, attributes=attributes) as current,
            log_context(correlation_id=correlation_id, command=name),
        ):
            try:
                result = await super().handle(
                    command,
                    principal,
                    correlation_id=correlation_id,
                    causation_id=causation_id,
                    traceparent=traceparent_of(current) or traceparent,
                    unit_of_work=unit_of_work,
                )
            except DomainError as refused:
                current.set_attribute("aequatio.refused", refused.code.value)
                log.info("%s refused: %s", name, refused.code.value, extra={"field": refused.field})
                raise
            except Exception as error:
                failed(current, error)
                raise
            log.info(
                "%s %s: %s",
                name,
                "replayed" if result.replayed else "handled",
                ", ".join(result.event_types) or "no events",
                extra={
                    "aggregate_id": str(result.aggregate_id),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        if not result.replayed:
            for event_type in result.event_types:
                EVENTS_WRITTEN.labels(event_type).inc()
        return result
