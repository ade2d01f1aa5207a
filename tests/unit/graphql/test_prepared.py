"""Each query text parsed, validated and costed once; nothing cached that depends on more."""

from __future__ import annotations

from typing import Any

import pytest
import strawberry
from graphql import GraphQLError, parse
from strawberry.schema.schema import validate_document

from aequatio.graphql.limits import QueryLimits, query_cost_errors
from aequatio.graphql.prepared import (
    DocumentCache,
    Prepared,
    cost_key,
    limit_extensions,
    page_variables,
)


@strawberry.type
class Item:
    name: str

    @strawberry.field
    def children(self, first: int | None = None) -> list[Item]:
        return [Item(name=f"{self.name}.{index}") for index in range(min(first or 2, 5))]


@strawberry.type
class Query:
    @strawberry.field
    def items(self, first: int | None = None, prefix: str = "") -> list[Item]:
        return [Item(name=f"{prefix}{index}") for index in range(min(first or 2, 5))]


def make_schema(limits: QueryLimits) -> strawberry.Schema:
    return strawberry.Schema(query=Query, extensions=limit_extensions(limits))


NESTED = "query($a: Int, $b: Int) { items(first: $a) { name children(first: $b) { name } } }"


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a document was validated."""
    calls: list[int] = []
    real = validate_document

    def counting(*args: Any) -> list[GraphQLError]:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr("aequatio.graphql.prepared.validate_document", counting)
    return calls


@pytest.fixture
def estimates(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The variables of each cost estimate made."""
    calls: list[dict[str, Any]] = []
    real = query_cost_errors

    def counting(*args: Any, **kwargs: Any) -> list[GraphQLError]:
        calls.append(dict(kwargs["variables"]))
        return real(*args, **kwargs)

    monkeypatch.setattr("aequatio.graphql.prepared.query_cost_errors", counting)
    return calls


async def test_a_query_text_is_validated_once(validations: list[int]) -> None:
    schema = make_schema(QueryLimits())
    for _ in range(3):
        result = await schema.execute("{ items { name } }")
        assert result.errors is None
    assert len(validations) == 1


async def test_an_invalid_document_stays_invalid_from_the_cache(validations: list[int]) -> None:
    schema = make_schema(QueryLimits())
    for _ in range(2):
        result = await schema.execute("{ items { nope } }")
        assert result.errors
        assert "nope" in result.errors[0].message
    assert len(validations) == 1


async def test_a_document_that_does_not_parse_is_not_cached() -> None:
    schema = make_schema(QueryLimits())
    for _ in range(2):
        result = await schema.execute("{ items { name }")
        assert result.errors
        assert "Syntax Error" in result.errors[0].message


async def test_an_accepted_cost_is_remembered_per_page_size(
    estimates: list[dict[str, Any]],
) -> None:
    schema = make_schema(QueryLimits(max_cost=300, max_page_size=100))
    small = {"a": 5, "b": 5}
    assert (await schema.execute(NESTED, variable_values=small)).errors is None
    assert (await schema.execute(NESTED, variable_values=small)).errors is None
    assert estimates == [small]

    large = await schema.execute(NESTED, variable_values={"a": 100, "b": 100})
    assert large.errors
    assert large.errors[0].extensions == {"code": "QUERY_TOO_COSTLY"}
    assert len(estimates) == 2

    # A refusal is not remembered: the same large request is estimated (and refused) again.
    again = await schema.execute(NESTED, variable_values={"a": 100, "b": 100})
    assert again.errors
    assert len(estimates) == 3


async def test_a_variable_that_is_no_page_size_does_not_split_the_cache(
    estimates: list[dict[str, Any]],
) -> None:
    schema = make_schema(QueryLimits())
    query = "query($a: Int, $n: String!) { items(first: $a, prefix: $n) { name } }"
    for name in ("x", "y", "z"):
        result = await schema.execute(query, variable_values={"a": 3, "n": name})
        assert result.errors is None
    assert len(estimates) == 1


async def test_a_too_large_page_is_refused_after_a_small_one_was_accepted() -> None:
    schema = make_schema(QueryLimits(max_page_size=10, default_page_size=5))
    query = "query($a: Int) { items(first: $a) { name } }"
    assert (await schema.execute(query, variable_values={"a": 3})).errors is None
    refused = await schema.execute(query, variable_values={"a": 11})
    assert refused.errors
    assert refused.errors[0].extensions == {"code": "PAGE_SIZE_TOO_LARGE"}


def test_equal_values_of_different_types_are_different_keys() -> None:
    entry = Prepared(parse(NESTED), page_variables(parse(NESTED)))
    keys = {cost_key(entry, {"a": value, "b": 1}) for value in (1, 1.0, True)}
    assert len(keys) == 3
    assert cost_key(entry, {"a": [1], "b": 1}) is None  # unhashable: not cached
    assert cost_key(entry, {"b": 1}) != cost_key(entry, {"a": None, "b": 1})


def test_page_variables_are_found_in_fragments_and_inline_fragments() -> None:
    document = parse(
        """
        query($a: Int, $b: Int, $c: Int, $d: String) {
          items(first: $a) { ...More ... on Item { children(last: $c) { name } } }
        }
        fragment More on Item { children(first: $b) { name(format: $d) } }
        """
    )
    assert page_variables(document) == ("a", "b", "c")


def test_the_cache_is_bounded_least_recently_used_first_out() -> None:
    cache = DocumentCache(maxsize=2)
    first = cache.prepared("{ a }", max_tokens=100)
    cache.prepared("{ b }", max_tokens=100)
    assert cache.prepared("{ a }", max_tokens=100) is first  # a is now the most recent
    cache.prepared("{ c }", max_tokens=100)  # evicts b
    assert len(cache) == 2
    assert cache.prepared("{ a }", max_tokens=100) is first
    assert cache.prepared("{ b }", max_tokens=100) is not None  # parsed again


def test_the_token_limit_applies_on_a_miss() -> None:
    cache = DocumentCache(maxsize=2)
    with pytest.raises(GraphQLError, match="tokens"):
        cache.prepared("{ a b c d e f g h }", max_tokens=5)
    assert len(cache) == 0
