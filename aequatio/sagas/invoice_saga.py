"""``saga.invoice``: a period asked to be invoiced gets its invoice once its split completes.

Keyed by group and period. A ``split.requested`` (or ``split.invoice_requested``) asking for an
invoice starts waiting for that split, with a deadline; ``split.completed`` issues the invoice
(``IssueInvoice``), which either issues it or — when expenses changed since the split — asks for
a fresh split and the saga waits for that one; ``split.failed`` ends the saga as failed; a
deadline that passes fails the split (``FailSplit``), which releases the request so it can be
asked for again. Every end is a visible state.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from aequatio.application.commands import Command, FailSplit, IssueInvoice
from aequatio.application.results import CommandResult
from aequatio.domain.errors import ErrorCode
from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.splitting import (
    SplitCompleted,
    SplitFailed,
    SplitInvoiceRequested,
    SplitRequested,
)
from aequatio.sagas.base import IGNORE, Decision, Saga, SagaState

SplitEvent = SplitRequested | SplitInvoiceRequested | SplitCompleted | SplitFailed


class InvoiceSaga(Saga):
    name = "invoice"
    patterns = ("splitting.split.*",)
    final = frozenset({"issued", "failed", "timed_out"})

    def __init__(self, timeout: timedelta = timedelta(minutes=10)) -> None:
        self.timeout = timeout

    def key(self, envelope: Envelope, payload: EventPayload) -> str | None:
        if not isinstance(payload, SplitEvent):
            return None
        return f"{payload.group_id}/{payload.period_start}/{payload.period_end}"

    def on_event(
        self, state: SagaState | None, envelope: Envelope, payload: EventPayload, now: datetime
    ) -> Decision:
        split_id = str(envelope.aggregate_id)
        key = self.key(envelope, payload)
        if key is None:
            return IGNORE
        current = state or SagaState(key=key, status="idle")
        waiting_for = current.data.get("split_id") if current.status == "waiting" else None
        match payload:
            case SplitRequested(issue_invoice=True) | SplitInvoiceRequested():
                return Decision(
                    current.moved("waiting", deadline=now + self.timeout, split_id=split_id)
                )
            case SplitCompleted(issue_invoice=True) if waiting_for in (None, split_id):
                return Decision(
                    current.moved("issuing", split_id=split_id),
                    (IssueInvoice(split_id=envelope.aggregate_id),),
                )
            case SplitFailed() if waiting_for == split_id:
                return Decision(current.moved("failed", error_code=payload.reason_code))
        return IGNORE

    def on_result(
        self, state: SagaState, command: Command, result: CommandResult, now: datetime
    ) -> SagaState:
        if not isinstance(command, IssueInvoice):
            return state
        if result.aggregate_type == "invoice":
            return state.moved("issued", invoice_id=str(result.aggregate_id))
        # Expenses changed since the split: a fresh split was asked for; wait for it.
        return state.moved(
            "waiting",
            deadline=now + self.timeout,
            split_id=str(result.aggregate_id),
        )

    def on_timeout(self, state: SagaState, now: datetime) -> Decision:
        if state.status != "waiting":
            return Decision(state.moved(state.status))
        return Decision(
            state.moved("timed_out", error_code=ErrorCode.SPLIT_TIMED_OUT.value),
            (
                FailSplit(
                    split_id=UUID(state.data["split_id"]),
                    reason_code=ErrorCode.SPLIT_TIMED_OUT.value,
                    reason=f"the split did not complete within {self.timeout}",
                ),
            ),
        )
