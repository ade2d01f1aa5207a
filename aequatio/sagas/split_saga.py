"""``saga.split``: a requested split is computed from the write model and completed.

On ``split.requested`` it issues ``CompleteSplit``, whose handler computes the split per
currency (with adjustments carried from closed months) and records ``split.completed`` — or
``split.failed`` with a typed reason (a missing rate) — in the same step.
"""

from __future__ import annotations

from datetime import datetime

from aequatio.application.commands import Command, CompleteSplit
from aequatio.application.results import CommandResult
from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.splitting import SplitRequested
from aequatio.sagas.base import IGNORE, Decision, Saga, SagaState


class SplitSaga(Saga):
    name = "split"
    patterns = ("splitting.split.requested",)
    final = frozenset({"completed", "failed"})

    def key(self, envelope: Envelope, payload: EventPayload) -> str | None:
        return str(envelope.aggregate_id) if isinstance(payload, SplitRequested) else None

    def on_event(
        self, state: SagaState | None, envelope: Envelope, payload: EventPayload, now: datetime
    ) -> Decision:
        if not isinstance(payload, SplitRequested):
            return IGNORE
        started = state or SagaState(key=str(envelope.aggregate_id), status="requested")
        return Decision(
            started.moved("completing", split_id=str(envelope.aggregate_id)),
            (CompleteSplit(split_id=envelope.aggregate_id),),
        )

    def on_result(
        self, state: SagaState, command: Command, result: CommandResult, now: datetime
    ) -> SagaState:
        outcome = "failed" if "split.failed" in result.event_types else "completed"
        return state.moved(outcome)
