"""Bad input to every mutation, against a real server.

Values of the wrong GraphQL type are request errors (HTTP 400, no ``data``: nothing ran);
values that break a domain rule come back as the typed error with its exact ``code`` and
``field``. Either way nothing is written, which each test checks afterwards.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.no_trace import (
    FAMILY_OF_TWO,
    expense,
    outsider,
    settled_timeline,
    still_unregistered,
)
from tests.support.api import GRAPHQL_RESPONSE, Api, Person

JANUARY = {"start": "2026-01-01", "end": "2026-02-01"}


@dataclass(frozen=True)
class Household:
    """Ann (owner) and Ben (member) of ``group`` since 2026-01-01; Eve is in no group."""

    group: str
    ann: Person
    ben: Person
    eve: Person


async def household(api: Api) -> Household:
    group, (ann, ben) = await api.family("Ann", "Ben")
    return Household(group, ann, ben, await outsider(api))


def global_id(type_name: str, value: uuid.UUID | None = None) -> str:
    """A well-formed global id of ``type_name`` (of nothing that exists, by default)."""
    raw = f"{type_name}:{value or uuid.uuid4()}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


Input = Callable[[Household], dict[str, Any]]


#: What a refusal must be: ``(__typename, code, field)``.
Expected = tuple[str, str, str | None]


def case(mutation: str, input: Callable[..., dict[str, Any]], expected: Expected, id: str) -> Any:
    return pytest.param(mutation, input, expected, id=id)


def paid(*amounts: tuple[Person, int]) -> list[dict[str, Any]]:
    """``payers``: who paid how much."""
    return [{"userId": person.user_id, "amountCents": cents} for person, cents in amounts]


def weighted(mode: str, *values: tuple[Person, int]) -> dict[str, Any]:
    """A ``split`` with a value per person."""
    return {
        "mode": mode,
        "weights": [{"userId": person.user_id, "value": value} for person, value in values],
    }


INVALID = "InvalidInputError"
NOT_FOUND = "NotFoundError"
FORBIDDEN = "ForbiddenError"
CONFLICT = "ConflictError"

# --- addExpense: each rule of an expense -------------------------------------------------------

ADD_EXPENSE_REFUSALS = [
    case("addExpense", lambda h: expense(h.group, amountCents=0),
         (INVALID, "AMOUNT_NOT_POSITIVE", "input.amountCents"), "zero amount"),
    case("addExpense", lambda h: expense(h.group, amountCents=-1),
         (INVALID, "AMOUNT_NOT_POSITIVE", "input.amountCents"), "negative amount"),
    case("addExpense", lambda h: expense(h.group, amountCents=1_000_000_000_000),
         (INVALID, "AMOUNT_TOO_LARGE", "input.amountCents"), "amount above 999999999999"),
    case("addExpense", lambda h: expense(h.group, currency="EURO"),
         (INVALID, "UNKNOWN_CURRENCY", "input.currency"), "unknown currency"),
    case("addExpense", lambda h: expense(h.group, currency="eur"),
         (INVALID, "UNKNOWN_CURRENCY", "input.currency"), "lower-case currency"),
    case("addExpense", lambda h: expense(h.group, description=""),
         (INVALID, "TEXT_EMPTY", "input.description"), "empty description"),
    case("addExpense", lambda h: expense(h.group, description="   "),
         (INVALID, "TEXT_EMPTY", "input.description"), "blank description"),
    case("addExpense", lambda h: expense(h.group, description="x" * 501),
         (INVALID, "TEXT_TOO_LONG", "input.description"), "501-character description"),
    case("addExpense", lambda h: expense(h.group, category="c" * 65),
         (INVALID, "TEXT_TOO_LONG", "input.category"), "65-character category"),
    case("addExpense", lambda h: expense(h.group, incurredOn="1999-12-31"),
         (INVALID, "DATE_OUT_OF_RANGE", "input.incurredOn"), "date before 2000"),
    case("addExpense", lambda h: expense(h.group, payers=paid((h.ann, 600), (h.ben, 300))),
         (INVALID, "PAYER_AMOUNTS_MISMATCH", "input.payers"), "payers not summing"),
    case("addExpense", lambda h: expense(h.group, payers=paid((h.ann, 1_000), (h.ben, 0))),
         (INVALID, "AMOUNT_NOT_POSITIVE", "input.payers.1.amountCents"), "payer paying zero"),
    case("addExpense",
         lambda h: expense(h.group, payers=paid((h.ann, 500), (h.eve, 500))),
         (INVALID, "NOT_A_MEMBER", "input.payers.1.userId"), "non-member payer"),
    case("addExpense",
         lambda h: expense(h.group, payers=[{"userId": global_id("User"), "amountCents": 1_000}]),
         (INVALID, "NOT_A_MEMBER", "input.payers.0.userId"), "unknown user as payer"),
    case("addExpense",
         lambda h: expense(h.group, payers=paid((h.ann, 500), (h.ann, 500))),
         (INVALID, "DUPLICATE_PARTICIPANT", "input.payers.1.userId"), "payer listed twice"),
    case("addExpense",
         lambda h: expense(h.group, split={"mode": "EQUAL",
                                           "participants": [h.ann.user_id, h.eve.user_id]}),
         (INVALID, "NOT_A_MEMBER", "input.split.participants.1"), "non-member participant"),
    case("addExpense",
         lambda h: expense(h.group, split={"mode": "EQUAL", "participants": [global_id("User")]}),
         (INVALID, "NOT_A_MEMBER", "input.split.participants.0"), "unknown user as participant"),
    case("addExpense", lambda h: expense(h.group, split={"mode": "EQUAL", "participants": []}),
         (INVALID, "PARTICIPANTS_EMPTY", "input.split.participants"), "no participants"),
    case("addExpense",
         lambda h: expense(h.group, split=weighted("EQUAL", (h.ann, 1), (h.ben, 1))),
         (INVALID, "SPLIT_RULE_INVALID", "input.split"), "EQUAL with weights"),
    case("addExpense",
         lambda h: expense(h.group, split=weighted("EXACT", (h.ann, 400), (h.ben, 500))),
         (INVALID, "EXACT_AMOUNTS_MISMATCH", "input.split.weights"), "EXACT not summing"),
    case("addExpense",
         lambda h: expense(h.group, split=weighted("PERCENT", (h.ann, 5_000), (h.ben, 4_999))),
         (INVALID, "PERCENT_NOT_10000", "input.split.weights"), "PERCENT not 10000"),
    case("addExpense",
         lambda h: expense(h.group, split=weighted("SHARES", (h.ann, 0), (h.ben, 0))),
         (INVALID, "WEIGHT_INVALID", "input.split.weights"), "SHARES all zero"),
    case("addExpense",
         lambda h: expense(h.group, split=weighted("SHARES", (h.ann, -1), (h.ben, 2))),
         (INVALID, "WEIGHT_INVALID", "input.split.weights.0.value"), "negative weight"),
    case("addExpense",
         lambda h: expense(h.group, split=weighted("SHARES", (h.eve, 1))),
         (INVALID, "NOT_A_MEMBER", "input.split.weights.0.userId"), "non-member weight"),
    case("addExpense", lambda h: expense(h.group, groupId=h.ann.user_id),
         (INVALID, "INVALID_ID", "input.groupId"), "a User id as groupId"),
    case("addExpense", lambda h: expense(h.group, groupId="garbage!"),
         (INVALID, "INVALID_ID", "input.groupId"), "garbage groupId"),
    case("addExpense",
         lambda h: expense(h.group, payers=[{"userId": h.group, "amountCents": 1_000}]),
         (INVALID, "INVALID_ID", "input.payers.0.userId"), "a Group id as payer"),
    case("addExpense",
         lambda h: expense(h.group, split={"mode": "EQUAL", "participants": ["Vm9pZA"]}),
         (INVALID, "INVALID_ID", "input.split.participants.0"), "garbage participant"),
    case("addExpense", lambda h: expense(global_id("Group")),
         (NOT_FOUND, "GROUP_NOT_FOUND", "input.groupId"), "unknown group"),
    case("addExpense", lambda h: expense(h.group, idempotencyKey="  "),
         (INVALID, "TEXT_EMPTY", "input.idempotencyKey"), "blank idempotency key"),
    case("addExpense", lambda h: expense(h.group, idempotencyKey="k" * 201),
         (INVALID, "TEXT_TOO_LONG", "input.idempotencyKey"), "201-character idempotency key"),
]  # fmt: skip

# --- group management ----------------------------------------------------------------------------

GROUP_REFUSALS = [
    case("createGroup", lambda h: {"name": "", "currency": "EUR"},
         (INVALID, "TEXT_EMPTY", "input.name"), "empty group name"),
    case("createGroup", lambda h: {"name": "n" * 101, "currency": "EUR"},
         (INVALID, "TEXT_TOO_LONG", "input.name"), "101-character group name"),
    case("createGroup", lambda h: {"name": "Trip", "currency": "XYZ"},
         (INVALID, "UNKNOWN_CURRENCY", "input.currency"), "unknown group currency"),
    case("createGroup", lambda h: {"name": "Trip", "currency": "EUR", "startedOn": "2100-01-01"},
         (INVALID, "DATE_OUT_OF_RANGE", "input.startedOn"), "start after 2099"),
    case("addMember", lambda h: {"groupId": h.group, "userId": h.ben.user_id},
         (CONFLICT, "DUPLICATE_MEMBER", "input.userId"), "duplicate member"),
    case("addMember", lambda h: {"groupId": h.group, "userId": global_id("User")},
         (NOT_FOUND, "UNKNOWN_USER", "input.userId"), "unknown user"),
    case("addMember", lambda h: {"groupId": h.group, "userId": h.eve.user_id, "weight": 0},
         (INVALID, "WEIGHT_INVALID", "input.weight"), "weight zero"),
    case("addMember", lambda h: {"groupId": h.group, "userId": h.eve.user_id, "weight": 1001},
         (INVALID, "WEIGHT_INVALID", "input.weight"), "weight above 1000"),
    case("addMember",
         lambda h: {"groupId": h.group, "userId": h.eve.user_id, "joinedOn": "1999-01-01"},
         (INVALID, "DATE_OUT_OF_RANGE", "input.joinedOn"), "joining before 2000"),
    case("addMember", lambda h: {"groupId": h.group, "userId": h.group},
         (INVALID, "INVALID_ID", "input.userId"), "a Group id as userId"),
    case("addMember", lambda h: {"groupId": global_id("Group"), "userId": h.eve.user_id},
         (NOT_FOUND, "GROUP_NOT_FOUND", "input.groupId"), "member of an unknown group"),
    case("removeMember", lambda h: {"groupId": h.group, "userId": h.ann.user_id},
         (CONFLICT, "LAST_OWNER", "input.userId"), "removing the last owner"),
    case("removeMember", lambda h: {"groupId": h.group, "userId": h.eve.user_id},
         (INVALID, "NOT_A_MEMBER", "input.userId"), "removing a non-member"),
    case("removeMember",
         lambda h: {"groupId": h.group, "userId": h.ben.user_id, "leftOn": "2026-01-01"},
         (INVALID, "DATE_OUT_OF_RANGE", "input.leftOn"), "leaving on the joining day"),
]  # fmt: skip

# --- splits and invoices -----------------------------------------------------------------------


def split(h: Household, **overrides: Any) -> dict[str, Any]:
    return {"groupId": h.group, "period": JANUARY, **overrides}


def converted(h: Household, currency: str, rate: str, target: str = "EUR") -> dict[str, Any]:
    return split(
        h, conversion={"currency": target, "rates": [{"currency": currency, "rate": rate}]}
    )


PERIOD_REFUSALS = [
    case("requestSplit", lambda h: split(h, period={"start": "2026-01-15", "end": "2026-02-01"}),
         (INVALID, "PERIOD_INVALID", "input.period"), "period not starting on the 1st"),
    case("requestSplit", lambda h: split(h, period={"start": "2026-02-01", "end": "2026-02-01"}),
         (INVALID, "PERIOD_INVALID", "input.period"), "empty period"),
    case("requestSplit", lambda h: split(h, period={"start": "2026-03-01", "end": "2026-02-01"}),
         (INVALID, "PERIOD_INVALID", "input.period"), "period ending before it starts"),
    case("requestSplit", lambda h: split(h, period={"start": "2026-01-01", "end": "2027-02-01"}),
         (INVALID, "PERIOD_INVALID", "input.period"), "13-month period"),
    case("requestSplit", lambda h: split(h, period={"start": "1999-12-01", "end": "2000-01-01"}),
         (INVALID, "DATE_OUT_OF_RANGE", "input.period.start"), "period before 2000"),
    case("requestSplit", lambda h: converted(h, "USD", "0.9", target="EURO"),
         (INVALID, "UNKNOWN_CURRENCY", "input.conversion.currency"), "unknown target currency"),
    case("requestSplit", lambda h: converted(h, "DOLLAR", "0.9"),
         (INVALID, "UNKNOWN_CURRENCY", "input.conversion.rates.0.currency"), "unknown source"),
    case("requestSplit", lambda h: converted(h, "USD", "abc"),
         (INVALID, "RATE_INVALID", "input.conversion.rates.0.rate"), "rate not a number"),
    case("requestSplit", lambda h: converted(h, "USD", "0"),
         (INVALID, "RATE_INVALID", "input.conversion.rates.0.rate"), "zero rate"),
    case("requestSplit", lambda h: converted(h, "USD", "-0.9"),
         (INVALID, "RATE_INVALID", "input.conversion.rates.0.rate"), "negative rate"),
    case("requestSplit", lambda h: converted(h, "USD", "NaN"),
         (INVALID, "RATE_INVALID", "input.conversion.rates.0.rate"), "NaN rate"),
    case("requestSplit", lambda h: converted(h, "USD", "Infinity"),
         (INVALID, "RATE_INVALID", "input.conversion.rates.0.rate"), "infinite rate"),
    case("requestSplit", lambda h: converted(h, "USD", "1000001"),
         (INVALID, "RATE_INVALID", "input.conversion.rates.0.rate"), "rate above a million"),
    case("requestSplit", lambda h: converted(h, "USD", "0.1234567890123"),
         (INVALID, "RATE_INVALID", "input.conversion.rates.0.rate"), "rate with 13 decimals"),
    case("requestSplit", lambda h: split(h, groupId=global_id("Group")),
         (NOT_FOUND, "GROUP_NOT_FOUND", "input.groupId"), "split of an unknown group"),
    case("createInvoice", lambda h: split(h, period={"start": "2026-01-02", "end": "2026-02-01"}),
         (INVALID, "PERIOD_INVALID", "input.period"), "invoice period not on the 1st"),
    case("createInvoice", lambda h: split(h, groupId=global_id("Group")),
         (NOT_FOUND, "GROUP_NOT_FOUND", "input.groupId"), "invoice of an unknown group"),
    case("voidInvoice", lambda h: {"invoiceId": global_id("Invoice"), "reason": "typo"},
         (NOT_FOUND, "INVOICE_NOT_FOUND", "input.invoiceId"), "voiding an unknown invoice"),
    case("voidInvoice", lambda h: {"invoiceId": h.group},
         (INVALID, "INVALID_ID", "input.invoiceId"), "voiding a Group id"),
    case("markInvoicePaid", lambda h: {"invoiceId": global_id("Invoice")},
         (NOT_FOUND, "INVOICE_NOT_FOUND", "input.invoiceId"), "paying an unknown invoice"),
    case("markInvoicePaid", lambda h: {"invoiceId": "%%%"},
         (INVALID, "INVALID_ID", "input.invoiceId"), "paying a garbage id"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutation", "input", "expected"), ADD_EXPENSE_REFUSALS + GROUP_REFUSALS + PERIOD_REFUSALS
)
async def test_a_broken_rule_is_a_typed_error_and_writes_nothing(
    api: Api, mutation: str, input: Input, expected: Expected
) -> None:
    h = await household(api)

    refused = await api.mutate(mutation, input(h), token=h.ann.token)

    assert (refused["__typename"], refused["code"], refused["field"]) == expected
    assert refused["message"]
    assert await settled_timeline(api, h.group, h.ann) == FAMILY_OF_TWO


# --- amending and deleting an existing expense -------------------------------------------------


def amendment(expense_id: str, **changes: Any) -> dict[str, Any]:
    return {"expenseId": expense_id, "expectedVersion": 1, **changes}


EXPENSE_CHANGE_REFUSALS = [
    pytest.param("amendExpense", lambda e: amendment(e, expectedVersion=2, amountCents=5),
                 (CONFLICT, "VERSION_CONFLICT", "input.expectedVersion"), id="stale version"),
    pytest.param("amendExpense", lambda e: amendment(e, amountCents=0),
                 (INVALID, "AMOUNT_NOT_POSITIVE", "input.amountCents"), id="zero amount"),
    pytest.param("amendExpense", lambda e: amendment(e, currency="ZZZ"),
                 (INVALID, "UNKNOWN_CURRENCY", "input.currency"), id="unknown currency"),
    pytest.param("amendExpense", lambda e: amendment(e, description="d" * 501),
                 (INVALID, "TEXT_TOO_LONG", "input.description"), id="501-character description"),
    pytest.param("amendExpense", lambda e: amendment(e, description="Bread"),
                 (INVALID, "NOTHING_TO_CHANGE", None), id="nothing changes"),
    pytest.param("amendExpense", lambda e: amendment(global_id("Expense"), amountCents=5),
                 (NOT_FOUND, "EXPENSE_NOT_FOUND", "input.expenseId"), id="unknown expense"),
    pytest.param("amendExpense", lambda e: amendment(global_id("Group"), amountCents=5),
                 (INVALID, "INVALID_ID", "input.expenseId"), id="a Group id as expenseId"),
    pytest.param("deleteExpense", lambda e: amendment(e, expectedVersion=0),
                 (CONFLICT, "VERSION_CONFLICT", "input.expectedVersion"), id="delete stale"),
    pytest.param("deleteExpense", lambda e: amendment(global_id("Expense")),
                 (NOT_FOUND, "EXPENSE_NOT_FOUND", "input.expenseId"), id="delete unknown expense"),
    pytest.param("deleteExpense", lambda e: amendment("bm9wZQ"),
                 (INVALID, "INVALID_ID", "input.expenseId"), id="delete garbage id"),
]  # fmt: skip


@pytest.mark.parametrize(("mutation", "input", "expected"), EXPENSE_CHANGE_REFUSALS)
async def test_a_refused_change_leaves_the_expense_alone(
    api: Api, mutation: str, input: Callable[[str], dict[str, Any]], expected: Expected
) -> None:
    group, (ann, ben) = await api.family("Ann", "Ben")
    bread = await api.succeed("addExpense", expense(group, description="Bread"), token=ann.token)

    refused = await api.mutate(mutation, input(bread["id"]), token=ben.token)

    assert (refused["__typename"], refused["code"], refused["field"]) == expected
    assert await settled_timeline(api, group, ann) == [*FAMILY_OF_TWO, ("expense.created", "Ann")]


async def test_a_reused_idempotency_key_with_other_content_is_a_conflict(api: Api) -> None:
    group, (ann, _ben) = await api.family("Ann", "Ben")
    await api.succeed("addExpense", expense(group, idempotencyKey="receipt-7"), token=ann.token)

    refused = await api.mutate(
        "addExpense", expense(group, idempotencyKey="receipt-7", amountCents=2_000), token=ann.token
    )

    assert (refused["__typename"], refused["code"], refused["field"]) == (
        "ConflictError",
        "IDEMPOTENCY_KEY_REUSED",
        "input.idempotencyKey",
    )
    assert await settled_timeline(api, group, ann) == [*FAMILY_OF_TWO, ("expense.created", "Ann")]


# --- text PostgreSQL cannot store ----------------------------------------------------------------

#: Valid JSON escapes, but no text column holds a NUL, and a lone surrogate is no text at all.
UNSTORABLE = {"NUL": "\x00", "lone surrogate": "\udc80"}


async def mutate_as_ascii(api: Api, mutation: str, input: dict[str, Any], token: str) -> Any:
    """``api.mutate``, but the body is ASCII JSON, so lone surrogates travel as escapes."""
    document = (
        f"mutation($input: {mutation[0].upper()}{mutation[1:]}Input!) {{ {mutation}"
        "(input: $input) { __typename ... on Error { code field } } }"
    )
    response = await api.http.post(
        "/graphql",
        content=json.dumps({"query": document, "variables": {"input": input}}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    return response.json()["data"][mutation]


@pytest.mark.parametrize("char", list(UNSTORABLE.values()), ids=list(UNSTORABLE))
@pytest.mark.parametrize(
    ("mutation", "input", "expected"),
    [
        case("createGroup", lambda h, c: {"name": f"Tr{c}ip", "currency": "EUR"},
             (INVALID, "TEXT_EMPTY", "input.name"), "group name"),
        case("addExpense", lambda h, c: expense(h.group, description=f"Bre{c}ad"),
             (INVALID, "TEXT_EMPTY", "input.description"), "description"),
        case("addExpense", lambda h, c: expense(h.group, category=f"Fo{c}od"),
             (INVALID, "TEXT_EMPTY", "input.category"), "category"),
        case("addExpense", lambda h, c: expense(h.group, idempotencyKey=f"receipt{c}"),
             (INVALID, "TEXT_EMPTY", "input.idempotencyKey"), "idempotency key"),
    ],
)  # fmt: skip
async def test_text_the_database_cannot_hold_is_a_typed_error(
    api: Api, mutation: str, input: Callable[[Household, str], dict[str, Any]],
    expected: Expected, char: str,
) -> None:  # fmt: skip
    h = await household(api)

    refused = await mutate_as_ascii(api, mutation, input(h, char), h.ann.token)

    assert (refused["__typename"], refused["code"], refused["field"]) == expected
    assert await settled_timeline(api, h.group, h.ann) == FAMILY_OF_TWO


@pytest.mark.parametrize("char", list(UNSTORABLE.values()), ids=list(UNSTORABLE))
@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ({"name": "No{c}ra", "email": "nora@example.org"}, (INVALID, "TEXT_EMPTY", "input.name")),
        ({"name": "Nora", "email": "no{c}ra@example.org"},
         (INVALID, "EMAIL_INVALID", "input.email")),
    ],
)  # fmt: skip
async def test_a_registration_with_text_the_database_cannot_hold_is_refused(
    api: Api, template: dict[str, str], expected: Expected, char: str
) -> None:
    subject = f"nora-{uuid.uuid4().hex[:8]}"
    input = {key: value.format(c=char) for key, value in template.items()}

    refused = await mutate_as_ascii(api, "registerUser", input, api.token(subject))

    assert (refused["__typename"], refused["code"], refused["field"]) == expected
    assert await still_unregistered(api, subject)


# --- registration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "email", "code", "field"),
    [
        pytest.param("Nora", "not-an-email", "EMAIL_INVALID", "input.email", id="no at sign"),
        pytest.param("Nora", "nora@localhost", "EMAIL_INVALID", "input.email", id="no domain dot"),
        pytest.param("Nora", "", "EMAIL_INVALID", "input.email", id="empty email"),
        pytest.param("Nora", "n" * 250 + "@example.org", "EMAIL_INVALID", "input.email",
                     id="262-character email"),
        pytest.param("", "nora@example.org", "TEXT_EMPTY", "input.name", id="empty name"),
        pytest.param("n" * 101, "nora@example.org", "TEXT_TOO_LONG", "input.name",
                     id="101-character name"),
        pytest.param("No\x00ra", "nora@example.org", "TEXT_EMPTY", "input.name",
                     id="control character in name"),
    ],
)  # fmt: skip
async def test_a_refused_registration_registers_nobody(
    api: Api, name: str, email: str, code: str, field: str
) -> None:
    subject = f"nora-{uuid.uuid4().hex[:8]}"

    refused = await api.mutate(
        "registerUser", {"name": name, "email": email}, token=api.token(subject)
    )

    assert (refused["__typename"], refused["code"], refused["field"]) == (INVALID, code, field)
    assert await still_unregistered(api, subject)


async def test_registering_twice_or_with_a_taken_email_is_a_conflict(api: Api) -> None:
    ann = await outsider(api, "Ann")
    again = await api.mutate(
        "registerUser", {"name": "Ann Again", "email": "again@example.org"}, token=ann.token
    )
    newcomer = f"copycat-{uuid.uuid4().hex[:8]}"
    taken = await api.mutate(
        "registerUser",
        {"name": "Copycat", "email": f"{ann.subject}@example.org"},
        token=api.token(newcomer),
    )

    assert (again["__typename"], again["code"], again["field"]) == (
        CONFLICT,
        "ALREADY_REGISTERED",
        None,
    )
    assert (taken["__typename"], taken["code"], taken["field"]) == (
        CONFLICT,
        "EMAIL_TAKEN",
        "input.email",
    )
    assert await still_unregistered(api, newcomer)
    me = await api.data("{ me { name email } }", token=ann.token)
    assert me["me"] == {"name": "Ann", "email": f"{ann.subject}@example.org"}


# --- queries -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "variables", "code", "field"),
    [
        pytest.param("query($id: ID!) { group(id: $id) { id } }",
                     lambda h: {"id": global_id("Group")}, "NOT_A_MEMBER", None,
                     id="unknown group: not a member (existence is not revealed)"),
        pytest.param("query($id: ID!) { group(id: $id) { id } }",
                     lambda h: {"id": h.ann.user_id}, "INVALID_ID", "id", id="a User id as group"),
        pytest.param("query($id: ID!) { node(id: $id) { id } }",
                     lambda h: {"id": "garbage"}, "INVALID_ID", "id", id="garbage node id"),
        pytest.param("query($g: ID!) { expenses(groupId: $g, after: \"%%\") { pageInfo "
                     "{ hasNextPage } } }", lambda h: {"g": h.group}, "INVALID_ID", "after",
                     id="garbage cursor"),
        pytest.param("query($g: ID!) { balances(groupId: $g, period: {start: \"2026-01-05\", "
                     "end: \"2026-02-01\"}) { netCents } }", lambda h: {"g": h.group},
                     "PERIOD_INVALID", "period", id="balances over a bad period"),
        pytest.param("query($g: ID!) { activity(groupId: $g, first: 0) { pageInfo "
                     "{ hasNextPage } } }", lambda h: {"g": h.group}, "PAGE_SIZE_TOO_LARGE",
                     "first", id="a page of zero"),
        pytest.param("query($g: ID!) { activity(groupId: $g, after: \"99999999999999999999\") "
                     "{ pageInfo { hasNextPage } } }", lambda h: {"g": h.group}, "INVALID_ID",
                     "after", id="a cursor past 64 bits"),
        pytest.param("query($g: ID!) { activity(groupId: $g, after: \"\u0661\u0662\") "
                     "{ pageInfo { hasNextPage } } }", lambda h: {"g": h.group}, "INVALID_ID",
                     "after", id="a cursor of Arabic-Indic digits"),
    ],
)  # fmt: skip
async def test_a_bad_query_argument_is_a_coded_error(
    api: Api, query: str, variables: Input, code: str, field: str | None
) -> None:
    h = await household(api)

    response = await api.post(query, variables(h), token=h.ann.token)

    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert error["extensions"].get("code") == code
    assert error["extensions"].get("field") == field


# --- values of the wrong GraphQL type ------------------------------------------------------------


def typed(mutation: str, input: Input, id: str) -> Any:
    return pytest.param(mutation, input, id=id)


WRONG_TYPES = [
    typed("addExpense", lambda h: expense(h.group, amountCents="1000"), "string amount"),
    typed("addExpense", lambda h: expense(h.group, amountCents=12.5), "fractional amount"),
    typed("addExpense", lambda h: expense(h.group, amountCents=12.0), "float amount"),
    typed("addExpense", lambda h: expense(h.group, amountCents=True), "boolean amount"),
    typed("addExpense", lambda h: expense(h.group, amountCents=10**16), "amount beyond range"),
    typed("addExpense", lambda h: expense(h.group, amountCents=None), "null amount"),
    typed("addExpense", lambda h: expense(h.group, incurredOn="2026-02-30"), "30 February"),
    typed("addExpense", lambda h: expense(h.group, incurredOn="yesterday"), "word date"),
    typed("addExpense", lambda h: expense(h.group, incurredOn=20260110), "integer date"),
    typed("addExpense", lambda h: expense(h.group, currency=978), "numeric currency"),
    typed("addExpense", lambda h: {k: v for k, v in expense(h.group).items()
                                   if k != "description"}, "missing description"),
    typed("addExpense", lambda h: expense(h.group, tip=5), "unknown field"),
    typed("addExpense", lambda h: expense(h.group, split={"mode": "HALF"}), "unknown split mode"),
    typed("addExpense", lambda h: expense(h.group, split={"mode": "EXACT", "weights": [
        {"userId": h.ann.user_id, "value": 1.5}]}), "fractional weight"),
    typed("addExpense", lambda h: expense(h.group, payers=[
        {"userId": h.ann.user_id, "amountCents": "1000"}]), "string payer amount"),
    typed("addExpense", lambda h: expense(h.group, payers=[{"userId": h.ann.user_id}]),
          "payer without amount"),
    typed("amendExpense", lambda h: {"expenseId": h.group, "expectedVersion": "1"},
          "string version"),
    typed("amendExpense", lambda h: {"expenseId": h.group, "expectedVersion": 2**31},
          "version beyond Int"),
    typed("deleteExpense", lambda h: {"expenseId": h.group}, "missing version"),
    typed("addMember", lambda h: {"groupId": h.group, "userId": h.eve.user_id, "role": "KING"},
          "unknown role"),
    typed("addMember", lambda h: {"groupId": h.group, "userId": h.eve.user_id, "weight": 1.5},
          "fractional weight"),
    typed("addMember", lambda h: {"groupId": h.group, "userId": h.eve.user_id,
                                  "joinedOn": "soon"}, "word joining date"),
    typed("removeMember", lambda h: {"groupId": h.group, "userId": [h.ben.user_id]},
          "list as userId"),
    typed("createGroup", lambda h: {"name": "Trip", "currency": "EUR",
                                    "startedOn": "2026-13-01"}, "month 13"),
    typed("createGroup", lambda h: {"name": None, "currency": "EUR"}, "null name"),
    typed("requestSplit", lambda h: split(h, period={"start": "2026-01"}), "period without end"),
    typed("requestSplit", lambda h: split(h, issueInvoice="yes"), "string boolean"),
    typed("requestSplit", lambda h: split(h, conversion={"currency": "EUR", "rates": [
        {"currency": "USD", "rate": 0.9}]}), "numeric rate"),
    typed("createInvoice", lambda h: {"groupId": h.group, "period": "2026-01"}, "string period"),
    typed("voidInvoice", lambda h: {"invoiceId": h.group, "reason": 5}, "numeric reason"),
    typed("markInvoicePaid", lambda h: {"invoiceId": {"id": h.group}}, "object as id"),
    typed("registerUser", lambda h: {"name": 42, "email": "x@example.org"}, "numeric name"),
    typed("registerUser", lambda h: {"name": "Nora"}, "missing email"),
]  # fmt: skip


@pytest.mark.parametrize(("mutation", "input"), WRONG_TYPES)
async def test_a_value_of_the_wrong_type_is_a_request_error(
    api: Api, mutation: str, input: Input
) -> None:
    h = await household(api)
    document = (
        f"mutation($input: {mutation[0].upper()}{mutation[1:]}Input!) "
        f"{{ {mutation}(input: $input) {{ __typename }} }}"
    )

    response = await api.post(document, {"input": input(h)}, token=h.ann.token)

    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    body = response.json()
    assert "data" not in body, "a request error never starts executing"
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}
    assert await settled_timeline(api, h.group, h.ann) == FAMILY_OF_TWO


@pytest.mark.parametrize(
    "literal",
    [
        pytest.param("amountCents: 12.5", id="fractional amount"),
        pytest.param('amountCents: "12"', id="string amount"),
        pytest.param('incurredOn: "2026-02-30"', id="30 February"),
        pytest.param("incurredOn: 20260110", id="integer date"),
        pytest.param("currency: EUR", id="enum value as currency"),
    ],
)
async def test_an_inline_value_of_the_wrong_type_is_a_request_error(api: Api, literal: str) -> None:
    h = await household(api)
    fields = {
        "groupId": f'"{h.group}"',
        "amountCents": "1000",
        "currency": '"EUR"',
        "description": '"Groceries"',
        "incurredOn": '"2026-01-10"',
    }
    name, _, value = literal.partition(": ")
    inline = ", ".join(f"{k}: {value if k == name else v}" for k, v in fields.items())

    response = await api.post(
        f"mutation {{ addExpense(input: {{{inline}}}) {{ __typename }} }}", token=h.ann.token
    )

    assert response.status_code == 400, response.text
    assert "data" not in response.json()
    assert await settled_timeline(api, h.group, h.ann) == FAMILY_OF_TWO
