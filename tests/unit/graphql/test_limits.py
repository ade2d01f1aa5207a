"""The query limits, on a toy schema: every refusal carries a code, and a refused query
never reaches a resolver."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import httpx
import pytest
import strawberry
from fastapi import FastAPI
from graphql import GraphQLError, get_introspection_query, parse, validate
from graphql.language import Lexer, Token
from strawberry.fastapi import GraphQLRouter

from aequatio.graphql.limits import (
    LIMIT_CODES,
    CostRule,
    QueryLimits,
    is_limit_error,
)
from aequatio.graphql.prepared import PreparedDocuments, limit_extensions

# --- the toy schema ---------------------------------------------------------------------


@dataclass
class Calls:
    count: int = 0


Info = strawberry.Info[Calls, None]


def called(info: Info) -> None:
    if isinstance(info.context, Calls):
        info.context.count += 1


@strawberry.enum
class Order(Enum):
    NEWEST = "newest"
    OLDEST = "oldest"


@strawberry.type
class Comment:
    id: strawberry.ID
    body: str


@strawberry.type
class CommentEdge:
    cursor: str
    node: Comment


@strawberry.type
class CommentConnection:
    edges: list[CommentEdge]
    total_count: int


@strawberry.type
class PageInfo:
    has_next_page: bool


@strawberry.type
class Expense:
    id: strawberry.ID
    amount: int
    note: str
    tags: list[str]

    @strawberry.field
    def previous(self, info: Info) -> Expense | None:
        called(info)
        return expense(int(self.id) + 1)

    @strawberry.field
    def comments(self, info: Info, first: int | None = None) -> CommentConnection:
        called(info)
        size = 3 if first is None else first
        return CommentConnection(
            edges=[
                CommentEdge(cursor=str(i), node=Comment(id=strawberry.ID(str(i)), body="ok"))
                for i in range(size)
            ],
            total_count=size,
        )

    @strawberry.field
    def related(
        self, info: Info, first: int | None = None, last: int | None = None
    ) -> ExpenseConnection:
        called(info)
        return expenses(first or last or 3)


@strawberry.type
class ExpenseEdge:
    cursor: str
    node: Expense


@strawberry.type
class ExpenseConnection:
    edges: list[ExpenseEdge]
    page_info: PageInfo


@strawberry.type
class Member:
    name: str

    @strawberry.field
    def groups(self, info: Info) -> list[Group]:
        called(info)
        return [Group(name="g")]


@strawberry.type
class Group:
    name: str

    @strawberry.field
    def members(self, info: Info) -> list[Member]:
        called(info)
        return [Member(name="m")]


def expense(number: int) -> Expense:
    return Expense(id=strawberry.ID(str(number)), amount=100 * number, note="", tags=["a"])


def expenses(size: int) -> ExpenseConnection:
    return ExpenseConnection(
        edges=[ExpenseEdge(cursor=str(i), node=expense(i)) for i in range(size)],
        page_info=PageInfo(has_next_page=False),
    )


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, info: Info) -> str:
        called(info)
        return "hello"

    @strawberry.field
    def expense(self, info: Info) -> Expense:
        called(info)
        return expense(1)

    @strawberry.field
    def expenses(
        self,
        info: Info,
        first: int | None = None,
        last: int | None = None,
        order: Order = Order.NEWEST,
    ) -> ExpenseConnection:
        called(info)
        return expenses(min(first or last or 3, 5))

    @strawberry.field
    def groups(self, info: Info) -> list[Group]:
        called(info)
        return [Group(name="g")]


def make_schema(limits: QueryLimits) -> strawberry.Schema:
    return strawberry.Schema(query=Query, extensions=limit_extensions(limits))


OPEN = make_schema(QueryLimits())
CLOSED = make_schema(QueryLimits(introspection=False))


@dataclass
class Outcome:
    data: Any
    errors: list[GraphQLError]
    calls: int

    @property
    def codes(self) -> list[str | None]:
        return [(error.extensions or {}).get("code") for error in self.errors]

    @property
    def messages(self) -> list[str]:
        return [error.message for error in self.errors]


async def run(
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    schema: strawberry.Schema = OPEN,
    operation_name: str | None = None,
) -> Outcome:
    calls = Calls()
    result = await schema.execute(
        query, variable_values=variables, context_value=calls, operation_name=operation_name
    )
    return Outcome(result.data, list(result.errors or []), calls.count)


async def refused(query: str, code: str, **kwargs: Any) -> Outcome:
    outcome = await run(query, **kwargs)
    assert code in outcome.codes, outcome.messages
    assert outcome.data is None
    assert outcome.calls == 0, "a refused query reached a resolver"
    return outcome


async def accepted(query: str, **kwargs: Any) -> Outcome:
    outcome = await run(query, **kwargs)
    assert outcome.errors == [], outcome.messages
    assert outcome.calls > 0
    return outcome


def deep(levels: int) -> str:
    """``expense`` and ``levels - 1`` nested ``previous``, then ``id``: ``levels + 1`` deep."""
    inner = "previous { " * (levels - 1) + "id" + " }" * (levels - 1)
    return "{ expense { " + inner + " } }"


THREE_LEVELS = """
query ($a: Int, $b: Int, $c: Int) {
  expenses(first: $a) { edges { node {
    related(first: $b) { edges { node {
      related(first: $c) { edges { node { id amount } } }
    } } }
  } } }
}
"""


# --- depth, aliases, tokens, operations, directives -------------------------------------


async def test_a_query_twenty_levels_deep_is_refused() -> None:
    outcome = await refused(deep(20), "QUERY_TOO_DEEP")
    assert "maximum operation depth of 10" in outcome.messages[0]


async def test_a_query_within_the_depth_limit_runs() -> None:
    outcome = await accepted(deep(10))
    assert outcome.data is not None


async def test_a_hundred_aliases_are_refused_and_fifteen_are_fine() -> None:
    await refused("{ " + " ".join(f"a{i}: hello" for i in range(100)) + " }", "TOO_MANY_ALIASES")
    await accepted("{ " + " ".join(f"a{i}: hello" for i in range(15)) + " }")


async def test_a_two_megabyte_query_is_refused_after_lexing_only_its_first_tokens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    query = "{ " + "hello " * 350_000 + "}"
    assert len(query) > 2_000_000
    lexed = 0
    advance = Lexer.advance

    def counting(lexer: Lexer) -> Token:
        nonlocal lexed
        lexed += 1
        return advance(lexer)

    monkeypatch.setattr(Lexer, "advance", counting)
    outcome = await refused(query, "TOO_MANY_TOKENS")
    assert "more than 2000 tokens" in outcome.messages[0]
    assert 2000 <= lexed < 2100  # not the 350,000 the document holds


async def test_comments_count_as_tokens() -> None:
    await refused("{ hello " + "#\n" * 3000 + "}", "TOO_MANY_TOKENS")


async def test_two_operations_in_one_document_are_refused() -> None:
    document = "query A { hello } query B { hello }"
    await refused(document, "MULTIPLE_OPERATIONS")
    await refused(document, "MULTIPLE_OPERATIONS", operation_name="B")


async def test_one_operation_with_fragments_is_fine() -> None:
    await accepted(
        "query Q { ...Hi expense { ... on Expense { id } } } fragment Hi on Query { hello }"
    )


async def test_too_many_directives_are_refused() -> None:
    many = "{ " + " ".join("hello @include(if: true)" for _ in range(11)) + " }"
    await refused(many, "TOO_MANY_DIRECTIVES")
    await accepted("{ " + " ".join("hello @include(if: true)" for _ in range(10)) + " }")


async def test_directives_count_wherever_they_are() -> None:
    query = (
        "query Q($x: Boolean = true) { ...F @include(if: $x) "
        + " ".join("hello @skip(if: false)" for _ in range(5))
        + " } fragment F on Query { "
        + " ".join("hello @include(if: true)" for _ in range(5))
        + " }"
    )
    await refused(query, "TOO_MANY_DIRECTIVES")


# --- cost and page sizes ------------------------------------------------------------------


async def test_a_hundred_per_page_three_connections_deep_is_too_costly() -> None:
    query = THREE_LEVELS.replace("($a: Int, $b: Int, $c: Int)", "")
    for variable in ("$a", "$b", "$c"):
        query = query.replace(variable, "100")
    outcome = await refused(query, "QUERY_TOO_COSTLY")
    # 1 + 100 * (3 + 100 * (3 + 100 * 4)) = 4_030_301
    assert "4030301" in outcome.messages[0]


async def test_a_reasonable_nested_query_runs() -> None:
    query = """{
      expenses(first: 10) { edges { node {
        id amount tags comments(first: 5) { totalCount edges { node { body } } }
      } } pageInfo { hasNextPage } }
    }"""
    outcome = await accepted(query)
    assert len(outcome.data["expenses"]["edges"]) == 5


async def test_the_cost_uses_the_request_variables_which_the_validation_cache_ignores() -> None:
    # Same document, so the same cached validation: the cost must still see the variables.
    small = await run(THREE_LEVELS, {"a": 2, "b": 2, "c": 2})
    assert small.errors == []
    large = await run(THREE_LEVELS, {"a": 100, "b": 100, "c": 100})
    assert large.codes == ["QUERY_TOO_COSTLY"]
    assert large.calls == 0
    again = await run(THREE_LEVELS, {"a": 2, "b": 2, "c": 2})
    assert again.errors == []


async def test_a_variable_without_a_value_takes_its_default() -> None:
    query = THREE_LEVELS.replace("$a: Int,", "$a: Int = 100,").replace("$b: Int,", "$b: Int = 100,")
    assert (await run(query, {"c": 100})).codes == ["QUERY_TOO_COSTLY"]
    assert (await run(query, {"a": 1, "b": 1, "c": 1})).errors == []


async def test_a_list_without_first_counts_the_default_page_size() -> None:
    # expenses, related and related again: 20 each by default, 33_261 in all
    query = THREE_LEVELS.replace("($a: Int, $b: Int, $c: Int)", "")
    for variable in ("$a", "$b", "$c"):
        query = query.replace(f"(first: {variable})", "")
    outcome = await refused(query, "QUERY_TOO_COSTLY")
    assert "33261" in outcome.messages[0]


async def test_nested_plain_lists_are_costed_too() -> None:
    await refused("{ groups { members { groups { members { name } } } } }", "QUERY_TOO_COSTLY")
    await accepted("{ groups { members { name } } }")


async def test_fragments_are_expanded_in_the_cost() -> None:
    query = """
    query { expenses(first: 100) { ...Edges } }
    fragment Edges on ExpenseConnection { edges { node { ... on Expense { ...Related } } } }
    fragment Related on Expense {
      related(first: 100) { edges { node { related(first: 100) { edges { node { id } } } } } }
    }
    """
    await refused(query, "QUERY_TOO_COSTLY")


async def test_a_fragment_bomb_is_refused_without_expanding_it() -> None:
    fragments = "".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }} " for i in range(60))
    query = "query { ...F0 } " + fragments + "fragment F60 on Query { hello }"
    # Expanded, the document would have 2**60 selections: finishing at all (within the
    # suite's per-test timeout) is the proof that the cost is computed per fragment once.
    await refused(query, "QUERY_TOO_COSTLY")


async def test_a_page_above_the_maximum_is_refused() -> None:
    await refused("{ expenses(first: 1000) { edges { node { id } } } }", "PAGE_SIZE_TOO_LARGE")
    await refused("{ expenses(last: 101) { edges { node { id } } } }", "PAGE_SIZE_TOO_LARGE")
    await refused(
        "query ($n: Int) { expenses(first: $n) { edges { node { id } } } }",
        "PAGE_SIZE_TOO_LARGE",
        variables={"n": 1000},
    )
    await accepted("{ expenses(first: 100) { edges { node { id } } } }")


async def test_a_negative_page_is_refused() -> None:
    await refused("{ expenses(first: -1) { edges { node { id } } } }", "INVALID_PAGE_SIZE")


async def test_without_variables_a_variable_page_counts_as_the_maximum() -> None:
    rule = CostRule(max_cost=5000, default_page_size=20, max_page_size=100)
    errors = validate(OPEN._schema, parse(THREE_LEVELS), [rule])
    assert [(e.extensions or {}).get("code") for e in errors] == ["QUERY_TOO_COSTLY"]
    small = CostRule(5000, 20, 100, variables={"a": 1, "b": 1, "c": 1})
    assert validate(OPEN._schema, parse(THREE_LEVELS), [small]) == []


# --- introspection and suggestions ------------------------------------------------------


async def test_introspection_is_allowed_by_default() -> None:
    outcome = await run(get_introspection_query(descriptions=True))
    assert outcome.errors == []
    assert outcome.data["__schema"]["queryType"]["name"] == "Query"


async def test_deep_introspection_is_refused_even_when_introspection_is_on() -> None:
    query = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }"
    await refused(query, "INTROSPECTION_TOO_DEEP")


async def test_introspection_is_refused_when_off() -> None:
    await refused("{ __schema { queryType { name } } }", "INTROSPECTION_DISABLED", schema=CLOSED)
    await refused('{ __type(name: "Query") { name } }', "INTROSPECTION_DISABLED", schema=CLOSED)
    outcome = await accepted("{ __typename hello }", schema=CLOSED)
    assert outcome.data == {"__typename": "Query", "hello": "hello"}


async def test_suggestions_are_shown_with_introspection_on() -> None:
    outcome = await run("{ helo }")
    assert "Did you mean 'hello'?" in outcome.messages[0]


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ helo }", None),
        ("{ expenses(frist: 1) { edges { cursor } } }", None),
        ("{ expenses(order: NEWST) { edges { cursor } } }", None),
        (
            "query ($o: Order!) { expenses(order: $o) { edges { cursor } } }",
            {"o": "NEWST"},
        ),
    ],
)
async def test_no_suggestions_with_introspection_off(
    query: str, variables: dict[str, Any] | None
) -> None:
    on = await run(query, variables)
    assert any("Did you mean" in message for message in on.messages)
    off = await run(query, variables, schema=CLOSED)
    assert off.errors
    assert off.calls == 0
    assert not any("Did you mean" in message for message in off.messages), off.messages
    assert not any("NEWEST" in message or "first" in message for message in off.messages)


# --- wiring -------------------------------------------------------------------------------


def test_every_code_is_a_limit_code() -> None:
    assert {
        "QUERY_TOO_DEEP",
        "TOO_MANY_ALIASES",
        "TOO_MANY_TOKENS",
        "MULTIPLE_OPERATIONS",
        "TOO_MANY_DIRECTIVES",
        "QUERY_TOO_COSTLY",
        "PAGE_SIZE_TOO_LARGE",
    } <= LIMIT_CODES
    assert is_limit_error(GraphQLError("x", extensions={"code": "QUERY_TOO_DEEP"}))
    assert not is_limit_error(GraphQLError("x"))


def test_the_validation_rules_are_built_once_so_validation_can_be_cached() -> None:
    extensions = limit_extensions(QueryLimits())

    def rules() -> list[object]:  # what one request's extensions add
        built = [factory() for factory in extensions]
        return [r for e in built if isinstance(e, PreparedDocuments) for r in e.rules]

    first, second = rules(), rules()
    assert first
    assert first == second


def test_the_limits_are_checked() -> None:
    with pytest.raises(ValueError, match="default_page_size"):
        QueryLimits(default_page_size=200)
    with pytest.raises(ValueError, match="max_depth"):
        QueryLimits(max_depth=0)


async def test_over_http_a_refusal_is_a_graphql_error_with_its_code() -> None:
    app = FastAPI()
    app.include_router(GraphQLRouter(CLOSED), prefix="/graphql")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        too_deep = await client.post("/graphql", json={"query": deep(20)})
        typo = await client.post("/graphql", json={"query": "{ helo }"})
    assert too_deep.json()["errors"][0]["extensions"] == {"code": "QUERY_TOO_DEEP"}
    assert "Did you mean" not in typo.json()["errors"][0]["message"]
