"""The limits a hostile client cannot get past, against a real server: every oversized,
malformed or unservable request is refused before a single resolver runs.

Each refused document carries something that would show if it ran: a mutation (checked
afterwards on the group's timeline) or ``loud``, a field whose resolver fails with
INVALID_ID.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from aequatio.graphql.limits import QueryLimits
from tests.e2e.no_trace import FAMILY_OF_TWO, expense, settled_timeline
from tests.support.api import GRAPHQL_RESPONSE, Api, Person

LOUD = 'loud: group(id: "not-an-id") { id }'
ADD = "addExpense(input: $input) { __typename }"
MUTATION = f"mutation($input: AddExpenseInput!) {{ {ADD} }}"


def deep(levels: int) -> str:
    """A selection ``levels`` fields deep. The schema has no cycle (nothing under a ``User``
    leads back up), so no valid document is that deep: the limit is a second line, and the
    document is also invalid."""
    return "nested { " * (levels - 1) + "id" + " }" * (levels - 1)


def introspection(levels: int) -> str:
    """Introspection ``levels`` ``fields { type { ...`` deep (graphql-core allows 3)."""
    return "__schema { types { " + "fields { type { " * levels + "name" + " } }" * levels + " } }"


def costly(group: str) -> str:
    """Pages of 100 expenses, each with its group's members (a list: 20 assumed): about
    8,300 fields a page, asked for often enough to pass the configured maximum cost."""
    page = (
        f'expenses(groupId: "{group}", first: 100) '
        "{ edges { node { group { members { weight user { id name } } } } } }"
    )
    pages = QueryLimits().max_cost // 8_000 + 1
    return " ".join(f"p{n}: {page}" for n in range(pages))


@dataclass(frozen=True)
class Refused:
    document: Callable[[str], str]  # (group id) -> document; variables: {"input": an expense}
    code: str
    also: frozenset[str] = frozenset()  # other codes the document earns


REFUSED_DOCUMENTS = {
    "depth 20": Refused(
        lambda _g: f"{{ {LOUD} {deep(20)} }}",
        "QUERY_TOO_DEEP",
        also=frozenset({"GRAPHQL_VALIDATION_FAILED"}),  # Query has no field "nested"
    ),
    "introspection 4 deep": Refused(
        lambda _g: f"{{ {LOUD} {introspection(4)} }}", "INTROSPECTION_TOO_DEEP"
    ),
    "100 aliases": Refused(
        lambda _g: (
            "mutation($input: AddExpenseInput!) { "
            + " ".join(f"a{n}: {ADD}" for n in range(100))
            + " }"
        ),
        "TOO_MANY_ALIASES",
    ),
    "2001 tokens": Refused(
        lambda _g: f"mutation($input: AddExpenseInput!) {{ {ADD} {'__typename ' * 2000} }}",
        "TOO_MANY_TOKENS",
    ),
    "11 directives": Refused(
        lambda _g: (
            f"mutation($input: AddExpenseInput!) {{ {ADD} "
            + "__typename @include(if: true) " * 11
            + "}"
        ),
        "TOO_MANY_DIRECTIVES",
    ),
    "a costly nested connection": Refused(
        lambda g: f"{{ {LOUD} {costly(g)} }}", "QUERY_TOO_COSTLY"
    ),
    "first: 1000": Refused(
        lambda g: (
            f'{{ {LOUD} activity(groupId: "{g}", first: 1000) {{ pageInfo {{ hasNextPage }} }} }}'
        ),
        "PAGE_SIZE_TOO_LARGE",
    ),
    "two operations": Refused(
        lambda _g: f"{MUTATION.replace('mutation', 'mutation Write')} query Read {{ me {{ id }} }}",
        "MULTIPLE_OPERATIONS",
    ),
}


@pytest.mark.parametrize("refused", list(REFUSED_DOCUMENTS.values()), ids=list(REFUSED_DOCUMENTS))
async def test_a_document_over_a_limit_is_refused_before_any_resolver(
    api: Api, refused: Refused
) -> None:
    group, (ann, _ben) = await api.family("Ann", "Ben")

    response = await api.post(refused.document(group), {"input": expense(group)}, token=ann.token)

    assert response.status_code == 400, response.text
    body = response.json()
    assert "data" not in body
    assert {e["extensions"]["code"] for e in body["errors"]} == {refused.code, *refused.also}
    assert await settled_timeline(api, group, ann) == FAMILY_OF_TWO


async def test_a_mutation_document_at_the_limits_runs(api: Api) -> None:
    """The control for the refusals above: 15 aliases and 10 directives are allowed."""
    group, (ann, _ben) = await api.family("Ann", "Ben")
    document = (
        "mutation($input: AddExpenseInput!) { "
        + " ".join(f"a{n}: {ADD}" for n in range(15))
        + " __typename @include(if: true)" * 10
        + " }"
    )

    response = await api.post(document, {"input": expense(group)}, token=ann.token)

    payloads = [value for value in response.json()["data"].values() if isinstance(value, dict)]
    assert [p["__typename"] for p in payloads] == ["MutationSuccess"] * 15
    assert await settled_timeline(api, group, ann) == [
        *FAMILY_OF_TWO,
        *[("expense.created", "Ann")] * 15,
    ]


async def test_a_page_size_given_by_a_variable_is_checked_too(api: Api) -> None:
    group, (ann, _ben) = await api.family("Ann", "Ben")
    query = (
        f"query($g: ID!, $first: Int!) {{ {LOUD} "
        "expenses(groupId: $g, first: $first) { pageInfo { hasNextPage } } }"
    )

    small = await api.post(query, {"g": group, "first": 100}, token=ann.token)
    large = await api.post(query, {"g": group, "first": 1000}, token=ann.token)

    assert [e["extensions"]["code"] for e in small.json()["errors"]] == ["INVALID_ID"]
    assert large.status_code == 400
    assert "data" not in large.json()
    assert [e["extensions"]["code"] for e in large.json()["errors"]] == ["PAGE_SIZE_TOO_LARGE"]


# --- HTTP ------------------------------------------------------------------------------------


def mutation_body(group: str, **extra: Any) -> bytes:
    return json.dumps({"query": MUTATION, "variables": {"input": expense(group)}, **extra}).encode()


def bearer(person: Person, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {person.token}", "Accept": GRAPHQL_RESPONSE, **headers}


async def raw_post(base_url: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
    """``POST /graphql`` over a bare connection, sending ``body`` (possibly not all that the
    headers announce) and reading the answer until the server closes the connection."""
    address = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"POST /graphql HTTP/1.1\r\nHost: {address.netloc}\r\n{head}\r\n".encode())
    writer.write(body)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_a_2_mb_body_is_413_unread(api: Api) -> None:
    """Announced by Content-Length, as curl does for a large body: ``Expect: 100-continue``
    waits for a go-ahead the server never gives, and the 413 comes from the headers alone."""
    ann = await api.person("Ann")
    headers = bearer(ann, **{"Content-Type": "application/json", "Content-Length": "2000000"})

    status, body = await raw_post(api.base_url, {**headers, "Expect": "100-continue"}, b"")

    assert status == 413
    assert json.loads(body)["errors"][0]["extensions"] == {"code": "REQUEST_TOO_LARGE"}


async def test_a_streamed_body_is_413_once_it_grows_past_the_limit(api: Api) -> None:
    """Chunked, with no length announced: refused as soon as it passes 256 KiB (the client
    stops there; a client still sending would see its connection reset after the 413)."""
    ann = await api.person("Ann")
    headers = bearer(ann, **{"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
    just_past_the_limit = chunk(b"x" * 131_072) * 2 + chunk(b"x")

    status, body = await raw_post(api.base_url, headers, just_past_the_limit)

    assert status == 413
    assert json.loads(body)["errors"][0]["extensions"] == {"code": "REQUEST_TOO_LARGE"}


async def test_a_mutation_over_get_is_405_allowing_post(api: Api) -> None:
    group, (ann, _ben) = await api.family("Ann", "Ben")

    response = await api.http.get(
        "/graphql",
        params={"query": MUTATION, "variables": json.dumps({"input": expense(group)})},
        headers=bearer(ann),
    )

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"] == {"code": "METHOD_NOT_ALLOWED"}
    assert await settled_timeline(api, group, ann) == FAMILY_OF_TWO


@dataclass(frozen=True)
class Unusable:
    content: Callable[[str], bytes]  # (group id) -> body
    headers: dict[str, str]
    status: int
    code: str


UNUSABLE_REQUESTS = {
    "a body that is not JSON": Unusable(
        lambda g: mutation_body(g)[:-1], {"Content-Type": "application/json"}, 400, "BAD_REQUEST"
    ),
    "a JSON array": Unusable(
        lambda g: b"[" + mutation_body(g) + b"]",
        {"Content-Type": "application/json"},
        400,
        "BAD_REQUEST",
    ),
    "variables that are not an object": Unusable(
        lambda _g: json.dumps({"query": MUTATION, "variables": "[]"}).encode(),
        {"Content-Type": "application/json"},
        400,
        "BAD_REQUEST",
    ),
    "an integer of 5000 digits": Unusable(
        lambda g: mutation_body(g).replace(
            b'"amountCents": 1000', b'"amountCents": ' + b"9" * 5000
        ),
        {"Content-Type": "application/json"},
        400,
        "BAD_REQUEST",
    ),
    "arrays nested 100000 deep": Unusable(
        lambda g: mutation_body(g)[:-1] + b', "deep": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        {"Content-Type": "application/json"},
        400,
        "BAD_REQUEST",
    ),
    "text/plain": Unusable(
        mutation_body, {"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"
    ),
    "a form": Unusable(
        mutation_body,
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "Accept: application/xml": Unusable(
        mutation_body,
        {"Content-Type": "application/json", "Accept": "application/xml"},
        406,
        "NOT_ACCEPTABLE",
    ),
    "Accept: text/html on POST": Unusable(
        mutation_body,
        {"Content-Type": "application/json", "Accept": "text/html"},
        406,
        "NOT_ACCEPTABLE",
    ),
}


@pytest.mark.parametrize("unusable", list(UNUSABLE_REQUESTS.values()), ids=list(UNUSABLE_REQUESTS))
async def test_an_unusable_http_request_is_refused_with_its_status(
    api: Api, unusable: Unusable
) -> None:
    group, (ann, _ben) = await api.family("Ann", "Ben")

    response = await api.http.post(
        "/graphql", content=unusable.content(group), headers=bearer(ann, **unusable.headers)
    )

    assert response.status_code == unusable.status, response.text
    assert response.json()["errors"][0]["extensions"] == {"code": unusable.code}
    assert await settled_timeline(api, group, ann) == FAMILY_OF_TWO


@pytest.mark.parametrize(
    ("accept", "status", "media"),
    [
        (GRAPHQL_RESPONSE, 400, GRAPHQL_RESPONSE),
        ("application/json", 200, "application/json"),
        ("application/graphql-response+json, application/json;q=0.9", 400, GRAPHQL_RESPONSE),
        ("application/json, application/graphql-response+json", 200, "application/json"),
        ("application/json;q=1, application/graphql-response+json;q=0.5", 200, "application/json"),
        ("*/*", 400, GRAPHQL_RESPONSE),
    ],
)
async def test_a_validation_error_is_400_only_for_graphql_response_json(
    api: Api, accept: str, status: int, media: str
) -> None:
    """GraphQL over HTTP: ``application/json`` clients always get 200 once the request parsed."""
    ann = await api.person("Ann")

    response = await api.post("{ nope }", token=ann.token, headers={"Accept": accept})

    assert response.status_code == status
    assert response.headers["content-type"].startswith(media)
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


async def test_a_query_over_get_is_answered(api: Api) -> None:
    ann = await api.person("Ann")

    response = await api.http.get(
        "/graphql", params={"query": "{ groups { id } }"}, headers=bearer(ann)
    )

    assert response.status_code == 200
    assert response.json() == {"data": {"groups": []}}


async def test_graphiql_is_served_to_a_browser_in_development(api: Api) -> None:
    response = await api.http.get("/graphql", headers={"Accept": "text/html,*/*;q=0.8"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_the_body_limit_leaves_room_for_an_ordinary_request(api: Api) -> None:
    """Below the limit (256 KiB) a padded request still runs."""
    group, (ann, _ben) = await api.family("Ann", "Ben")
    body = mutation_body(group, padding="x" * 200_000)

    response = await api.http.post(
        "/graphql", content=body, headers=bearer(ann, **{"Content-Type": "application/json"})
    )

    assert response.status_code == 200
    assert response.json()["data"]["addExpense"]["__typename"] == "MutationSuccess"
