"""The saga policies as pure transitions: event (or timeout) + state -> state + commands."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID, uuid4

from aequatio.application.commands import CompleteSplit, FailSplit, IssueInvoice
from aequatio.application.results import CommandResult
from aequatio.domain.errors import Conflict, ErrorCode
from aequatio.events.base import EventPayload
from aequatio.events.envelope import Envelope
from aequatio.events.splitting import (
    SplitCompleted,
    SplitFailed,
    SplitInvoiceRequested,
    SplitRequested,
)
from aequatio.sagas.base import SagaState
from aequatio.sagas.invoice_saga import InvoiceSaga
from aequatio.sagas.split_saga import SplitSaga
from tests.support.envelopes import an_envelope

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
GROUP, ANN = uuid4(), uuid4()
PERIOD = {"group_id": GROUP, "period_start": date(2026, 1, 1), "period_end": date(2026, 2, 1)}
KEY = f"{GROUP}/2026-01-01/2026-02-01"


def envelope(payload: EventPayload, split_id: UUID, version: int = 1) -> Envelope:
    return an_envelope(
        payload.event_type,
        payload.model_dump(mode="json"),
        schema_id=payload.schema_id(),
        aggregate_id=split_id,
        aggregate_version=version,
        occurred_at=NOW,
    )


def requested(split_id: UUID, *, invoice: bool = True) -> tuple[Envelope, SplitRequested]:
    payload = SplitRequested(**PERIOD, requested_by=ANN, split_id=split_id, issue_invoice=invoice)
    return envelope(payload, split_id), payload


def completed(split_id: UUID, *, invoice: bool = True) -> tuple[Envelope, SplitCompleted]:
    payload = SplitCompleted(
        **PERIOD, per_user_amounts=[], split_id=split_id, issue_invoice=invoice
    )
    return envelope(payload, split_id, 2), payload


def result(aggregate_type: str, aggregate_id: UUID, *event_types: str) -> CommandResult:
    return CommandResult(
        aggregate_type, aggregate_id, 2, tuple(uuid4() for _ in event_types), event_types
    )


# -- split saga -------------------------------------------------------------------------------


def test_a_requested_split_is_completed_by_the_split_saga() -> None:
    saga, split = SplitSaga(), uuid4()
    decision = saga.on_event(None, *requested(split, invoice=False), NOW)
    assert decision.commands == (CompleteSplit(split_id=split),)
    assert decision.state is not None
    assert decision.state.status == "completing"


def test_the_split_saga_ends_completed_or_failed_as_the_split_did() -> None:
    saga, split = SplitSaga(), uuid4()
    state = SagaState(str(split), "completing")
    command = CompleteSplit(split_id=split)
    done = saga.on_result(state, command, result("split", split, "split.completed"), NOW)
    failed = saga.on_result(state, command, result("split", split, "split.failed"), NOW)
    assert (done.status, failed.status) == ("completed", "failed")


# -- invoice saga -----------------------------------------------------------------------------


def test_a_split_asked_to_be_invoiced_is_waited_for_with_a_deadline() -> None:
    saga, split = InvoiceSaga(timeout=timedelta(minutes=5)), uuid4()
    decision = saga.on_event(None, *requested(split), NOW)
    assert decision.commands == ()
    assert decision.state is not None
    assert (decision.state.key, decision.state.status, decision.state.deadline) == (
        KEY,
        "waiting",
        NOW + timedelta(minutes=5),
    )


def test_a_split_not_asked_to_be_invoiced_is_none_of_its_business() -> None:
    assert InvoiceSaga().on_event(None, *requested(uuid4(), invoice=False), NOW).state is None


def test_an_invoice_asked_for_a_pending_split_is_waited_for_too() -> None:
    split = uuid4()
    payload = SplitInvoiceRequested(**PERIOD, split_id=split, requested_by=ANN)
    decision = InvoiceSaga().on_event(None, envelope(payload, split, 2), payload, NOW)
    assert decision.state is not None
    assert (decision.state.status, decision.state.data["split_id"]) == ("waiting", str(split))


def test_the_awaited_split_completing_issues_the_invoice() -> None:
    saga, split = InvoiceSaga(), uuid4()
    waiting = SagaState(KEY, "waiting", {"split_id": str(split)}, 1, NOW)
    decision = saga.on_event(waiting, *completed(split), NOW)
    assert decision.commands == (IssueInvoice(split_id=split),)
    assert decision.state is not None
    assert (decision.state.status, decision.state.deadline) == ("issuing", None)


def test_another_split_of_the_period_completing_is_ignored_while_waiting() -> None:
    waiting = SagaState(KEY, "waiting", {"split_id": str(uuid4())}, 1, NOW)
    assert InvoiceSaga().on_event(waiting, *completed(uuid4()), NOW).state is None


def test_an_issued_invoice_ends_the_saga_and_a_fresh_split_is_waited_for() -> None:
    saga, split, invoice, fresh = InvoiceSaga(), uuid4(), uuid4(), uuid4()
    issuing = SagaState(KEY, "issuing", {"split_id": str(split)}, 2)
    command = IssueInvoice(split_id=split)
    issued = saga.on_result(issuing, command, result("invoice", invoice, "invoice.created"), NOW)
    rerun = saga.on_result(issuing, command, result("split", fresh, "split.requested"), NOW)
    assert (issued.status, issued.data["invoice_id"]) == ("issued", str(invoice))
    assert (rerun.status, rerun.data["split_id"], rerun.deadline) == (
        "waiting",
        str(fresh),
        NOW + saga.timeout,
    )


def test_the_awaited_split_failing_ends_the_saga_as_failed() -> None:
    split = uuid4()
    payload = SplitFailed(**PERIOD, split_id=split, reason_code="RATE_MISSING", reason="no rate")
    waiting = SagaState(KEY, "waiting", {"split_id": str(split)}, 1, NOW)
    decision = InvoiceSaga().on_event(waiting, envelope(payload, split, 2), payload, NOW)
    assert decision.state is not None
    assert (decision.state.status, decision.state.data["error_code"]) == ("failed", "RATE_MISSING")


def test_a_timeout_fails_the_split_so_the_request_is_released() -> None:
    split = uuid4()
    waiting = SagaState(KEY, "waiting", {"split_id": str(split)}, 1, NOW)
    decision = InvoiceSaga().on_timeout(waiting, NOW + timedelta(hours=1))
    assert decision.state is not None
    assert decision.state.status == "timed_out"
    (command,) = decision.commands
    assert isinstance(command, FailSplit)
    assert (command.split_id, command.reason_code) == (split, "SPLIT_TIMED_OUT")


def test_a_refused_command_ends_the_saga_visibly() -> None:
    state = SagaState(KEY, "issuing", {"split_id": str(uuid4())})
    refused = InvoiceSaga().on_refused(
        state, IssueInvoice(split_id=uuid4()), Conflict(ErrorCode.PERIOD_CLOSED, "closed")
    )
    assert (refused.status, refused.data["error_code"]) == ("failed", "PERIOD_CLOSED")
