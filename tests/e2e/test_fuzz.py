"""A bounded fuzz run against the live schema: queries and mutations generated from the
published SDL, sent by a registered member of a group with real data, and documents with one
schema violation each. None may get a 5xx, a body that is not JSON, an INTERNAL_ERROR (a
resolver that crashed), or an answer that leaks internals.

The run is the same every time (``derandomize``), so CI stays deterministic; set
``AEQUATIO_FUZZ_RANDOM=1`` to explore new examples locally.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries
from pydantic import SecretStr

from aequatio.api.auth import ALL_SCOPES, issue_token
from aequatio.config import Settings
from aequatio.domain.money import MAX_AMOUNT_MINOR
from aequatio.persistence.database import REPOSITORY_ROOT
from tests.support.api import GRAPHQL_RESPONSE
from tests.support.server import Server

SDL = (REPOSITORY_ROOT / "schemas" / "graphql" / "schema.graphql").read_text()
SCHEMA = graphql.build_schema(SDL)

#: Fragments that only show up when internals leak: tracebacks, driver and SQL text.
LEAKS = ("traceback", "sqlalchemy", "asyncpg", "psycopg", 'file "')
LEAKS_CASED = ("SELECT ",)

#: Strings that have broken servers: control characters, digits beyond 64 bits, decimals
#: Decimal reads but nobody means, SQL, e-mail-shaped text, lengths just past a limit.
AWKWARD_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "nul\x00@example.org",
    "tab\t@example.org",
    "\u202e@example.org",
    "9" * 25,
    "-1",
    "\u0661\u0662",
    "NaN",
    "-Infinity",
    "1e400",
    "0.0000000000001",
    "EUR",
    "eur",
    "' OR 1=1; --",
    "x" * 501,
    "%s%n{0}",
]

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not os.environ.get("AEQUATIO_FUZZ_RANDOM"),
    database=None,
)


@dataclass(frozen=True)
class Member:
    """Ann: owner of a group with Ben, an expense and a requested split."""

    token: str
    ids: list[str]  # global ids of real objects, and event ids the read side applied


def graphql_post(http: httpx.Client, token: str, query: str, **variables: Any) -> dict[str, Any]:
    response = http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}", "Accept": GRAPHQL_RESPONSE},
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def succeed(http: httpx.Client, token: str, mutation: str, input: dict[str, Any]) -> dict[str, Any]:
    typename = f"{mutation[0].upper()}{mutation[1:]}Input"
    payload: dict[str, Any] = graphql_post(
        http,
        token,
        f"mutation($input: {typename}!) {{ {mutation}(input: $input) "
        "{ __typename ... on MutationSuccess { id eventIds } } }",
        input=input,
    )[mutation]
    assert payload["__typename"] == "MutationSuccess", payload
    return payload


@pytest.fixture(scope="module")
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def member(server: Server, http: httpx.Client) -> Member:
    settings_ = Settings(jwt_secret=SecretStr(server.secret))

    def register(name: str) -> tuple[str, dict[str, Any]]:
        subject = f"fuzz-{name.lower()}-{uuid.uuid4().hex[:8]}"
        token = issue_token(settings_, subject, ALL_SCOPES, 3600)
        done = succeed(
            http, token, "registerUser", {"name": name, "email": f"{subject}@example.org"}
        )
        return token, done

    ann, ann_user = register("Ann")
    _ben, ben_user = register("Ben")
    group = succeed(
        http, ann, "createGroup", {"name": "Fuzz", "currency": "EUR", "startedOn": "2026-01-01"}
    )
    added = succeed(
        http,
        ann,
        "addMember",
        {"groupId": group["id"], "userId": ben_user["id"], "joinedOn": "2026-01-01"},
    )
    bread = succeed(
        http,
        ann,
        "addExpense",
        {
            "groupId": group["id"],
            "amountCents": 1_234,
            "currency": "EUR",
            "description": "Bread",
            "incurredOn": "2026-01-05",
        },
    )
    january = {"start": "2026-01-01", "end": "2026-02-01"}
    split = succeed(http, ann, "requestSplit", {"groupId": group["id"], "period": january})
    written = [ann_user, ben_user, group, added, bread, split]
    events = [event for done in written for event in done["eventIds"]]
    # Every projection has applied these before the fuzzing starts, so a generated
    # `consistentWith` of them answers at once instead of waiting out its bound.
    graphql_post(
        http,
        ann,
        "query($seen: [ID!]) { me(consistentWith: $seen) { id } "
        "groups(consistentWith: $seen) { id } }",
        seen=events,
    )
    objects = {done["id"] for done in written}
    return Member(ann, sorted(objects) + events)


def global_id(type_name: str) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{uuid.uuid4()}".encode()).decode().rstrip("=")


def custom_scalars(member: Member) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    """Values for the input scalars hypothesis-graphql cannot make up: mostly well-formed
    (real ids, dates around the valid range, amounts around the limits), so most documents
    get past validation and reach the resolvers."""
    some_date = st.dates(date(1990, 1, 1), date(2110, 12, 31)).map(date.isoformat)
    return {
        "ID": st.one_of(
            st.sampled_from(member.ids),
            st.sampled_from(["User", "Group", "Expense", "Split", "Invoice"]).map(global_id),
            st.text(max_size=30),
        ).map(nodes.String),
        "Date": some_date.map(nodes.String),
        "String": st.one_of(st.text(max_size=40), st.sampled_from(AWKWARD_TEXT)).map(nodes.String),
        "MinorUnits": st.one_of(
            st.integers(-MAX_AMOUNT_MINOR, MAX_AMOUNT_MINOR + 1), st.integers(-5, 20_000)
        ).map(nodes.Int),
    }


def assert_sound(response: httpx.Response, document: str, secret: str) -> None:
    shown = f"{document}\n=> {response.status_code} {response.text[:2000]}"
    assert response.status_code < 500, shown
    body = response.json()  # JSON, whatever happened
    codes = {error.get("extensions", {}).get("code") for error in body.get("errors", [])}
    assert "INTERNAL_ERROR" not in codes, shown
    text = response.text
    leaked = [
        fragment
        for fragment in LEAKS
        if fragment in text.lower() and fragment not in document.lower()
    ] + [fragment for fragment in LEAKS_CASED if fragment in text and fragment not in document]
    assert not leaked, f"{leaked} leaked: {shown}"
    assert secret not in text, "the JWT secret leaked"


def send(http: httpx.Client, member: Member, document: str) -> httpx.Response:
    return http.post(
        "/graphql",
        content=json.dumps({"query": document}).encode(),  # ASCII: any text gets through
        headers={
            "Authorization": f"Bearer {member.token}",
            "Accept": GRAPHQL_RESPONSE,
            "Content-Type": "application/json",
        },
    )


def test_generated_queries_get_sound_answers(
    http: httpx.Client, member: Member, server: Server
) -> None:
    @FUZZ
    @given(document=queries(SCHEMA, custom_scalars=custom_scalars(member)))
    def run(document: str) -> None:
        assert_sound(send(http, member, document), document, server.secret)

    run()


def test_generated_mutations_get_sound_answers(
    http: httpx.Client, member: Member, server: Server
) -> None:
    @FUZZ
    @given(document=mutations(SCHEMA, custom_scalars=custom_scalars(member)))
    def run(document: str) -> None:
        assert_sound(send(http, member, document), document, server.secret)

    run()


def test_generated_invalid_documents_are_request_errors(
    http: httpx.Client, member: Member, server: Server
) -> None:
    """One schema violation each (hypothesis-graphql's negative mode): always a 400."""
    scalars = custom_scalars(member)
    invalid = st.one_of(
        queries(SCHEMA, custom_scalars=scalars, mode=Mode.NEGATIVE),
        mutations(SCHEMA, custom_scalars=scalars, mode=Mode.NEGATIVE),
    )

    @FUZZ
    @given(document=invalid)
    def run(document: str) -> None:
        response = send(http, member, document)
        assert_sound(response, document, server.secret)
        assert response.status_code == 400, f"{document}\n=> {response.text[:2000]}"

    run()
