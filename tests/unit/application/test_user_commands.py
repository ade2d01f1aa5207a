"""RegisterUser: the person behind a token subject becomes a user, once."""

from __future__ import annotations

from uuid import uuid4

from aequatio.application.commands import CreateGroup, RegisterUser
from aequatio.application.context import Principal
from aequatio.domain.errors import Conflict, ErrorCode, Forbidden, InvalidInput
from tests.unit.fakes import SYSTEM, Harness

ALICE = Principal(subject="idp|alice")


async def test_registering_records_the_user_and_one_event() -> None:
    h = Harness()
    correlation_id = uuid4()

    result = await h.bus.handle(
        RegisterUser(name="  Alice  ", email=" Alice@Example.ORG "),
        ALICE,
        correlation_id=correlation_id,
    )

    assert (result.aggregate_type, result.aggregate_version) == ("user", 1)
    assert not result.replayed
    (event,) = h.events(result)
    assert (event.event_type, event.aggregate_id, event.aggregate_version) == (
        "user.registered",
        result.aggregate_id,
        1,
    )
    assert event.payload == {
        "user_id": str(result.aggregate_id),
        "subject": "idp|alice",
        "name": "Alice",
        "email": "alice@example.org",
    }
    assert event.actor == "idp|alice"
    assert event.correlation_id == correlation_id
    assert event.occurred_at == h.clock.now
    assert h.db.users[result.aggregate_id].email == "alice@example.org"


async def test_an_identity_registers_only_once() -> None:
    h = Harness()
    await h.run(RegisterUser(name="Alice", email="alice@example.org"), ALICE)

    error = await h.rejects(
        RegisterUser(name="Alice", email="other@example.org"), ALICE, ErrorCode.ALREADY_REGISTERED
    )

    assert isinstance(error, Conflict)


async def test_an_email_address_belongs_to_one_user_whatever_its_case() -> None:
    h = Harness()
    await h.run(RegisterUser(name="Alice", email="alice@example.org"), ALICE)

    error = await h.rejects(
        RegisterUser(name="Mallory", email="ALICE@example.org"),
        Principal(subject="idp|mallory"),
        ErrorCode.EMAIL_TAKEN,
        field="email",
    )

    assert isinstance(error, Conflict)


async def test_a_malformed_email_is_refused() -> None:
    h = Harness()

    for email in ("", "alice", "alice@example", "al ice@example.org", "a@b@example.org"):
        error = await h.rejects(
            RegisterUser(name="Alice", email=email), ALICE, ErrorCode.EMAIL_INVALID, field="email"
        )
        assert isinstance(error, InvalidInput)


async def test_a_name_is_required_and_bounded() -> None:
    h = Harness()

    await h.rejects(
        RegisterUser(name="   ", email="alice@example.org"),
        ALICE,
        ErrorCode.TEXT_EMPTY,
        field="name",
    )
    await h.rejects(
        RegisterUser(name="A" * 101, email="alice@example.org"),
        ALICE,
        ErrorCode.TEXT_TOO_LONG,
        field="name",
    )
    result = await h.run(RegisterUser(name="A" * 100, email="alice@example.org"), ALICE)
    assert h.db.users[result.aggregate_id].name == "A" * 100


async def test_a_system_process_is_not_a_user() -> None:
    h = Harness()

    error = await h.rejects(
        RegisterUser(name="Saga", email="saga@example.org"), SYSTEM, ErrorCode.FORBIDDEN
    )

    assert isinstance(error, Forbidden)


async def test_an_unregistered_principal_may_not_act() -> None:
    h = Harness()

    error = await h.rejects(
        CreateGroup(name="Family", currency="EUR"), ALICE, ErrorCode.NOT_REGISTERED
    )

    assert isinstance(error, Forbidden)


async def test_events_carry_the_callers_trace_and_causation() -> None:
    h = Harness()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    causation_id = uuid4()

    result = await h.bus.handle(
        RegisterUser(name="Alice", email="alice@example.org"),
        ALICE,
        causation_id=causation_id,
        traceparent=traceparent,
    )

    (event,) = h.events(result)
    assert (event.trace_id, event.traceparent, event.causation_id) == (
        trace_id,
        traceparent,
        causation_id,
    )
    assert event.schema_id == "urn:aequatio:event:user.registered:v1"
