"""Each distinct GraphQL document parsed, validated and costed once, keyed on its text.

A client sends a few dozen distinct documents, over and over. Strawberry's ``ParserCache`` and
``ValidationCache`` cache the first two steps, but the validation cache keys its LRU on the
parsed ``DocumentNode``, whose hash walks the whole tree on every request (5% of a
``balances`` query's CPU in the profile), and the five extensions that parsed, limited,
validated and costed a document were each built and entered per request. One extension keyed
on the query text does all of it:

* **parse**: with the token limit; a document that fails to parse is not cached;
* **validate**: once per document and rule set (the rules are fixed per schema, the schema
  is too), the result shared by every request with that text;
* **cost**: the estimate depends on the document and on the values of the variables given as
  a ``first``/``last`` argument, and on nothing else; an accepted estimate is remembered per
  combination of those values (a refusal is computed again: it is rare, and its error is the
  request's own).

The cache is bounded: unique query texts cannot grow memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    parse,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from aequatio.graphql.limits import (
    CACHE_SIZE,
    PAGE_ARGUMENTS,
    LimitErrorCodes,
    QueryLimits,
    limit_rules,
    query_cost_errors,
)

#: Accepted cost estimates remembered per document (one per combination of page sizes).
MAX_COSTS_PER_DOCUMENT: Final = 16


def limit_extensions(
    limits: QueryLimits,
) -> list[Callable[[], SchemaExtension]]:
    """The extensions enforcing ``limits`` (put them first in the schema's list), sharing one
    document cache.

    Factories, not instances: strawberry builds one extension per request (shared instances
    are deprecated and would share ``execution_context`` across requests). The validation
    rules are built once here, so that a document's validation can be reused.
    """
    rules = tuple(limit_rules(limits))
    cache = DocumentCache(CACHE_SIZE)
    hide_suggestions = not limits.introspection
    return [
        lambda: LimitErrorCodes(hide_suggestions=hide_suggestions),
        lambda: PreparedDocuments(cache, limits, rules),
    ]


@dataclass(slots=True)
class Prepared:
    """A parsed document and what has been learned about it."""

    document: DocumentNode
    #: The variables whose values are page sizes (and so change the cost).
    page_variables: tuple[str, ...]
    #: Validation errors per rule set (``[]``: valid).
    validated: dict[tuple[type[ASTValidationRule], ...], list[GraphQLError]] = field(
        default_factory=dict
    )
    #: Page-size values whose cost estimate was accepted.
    accepted_costs: set[tuple[Hashable, ...]] = field(default_factory=set)


class DocumentCache:
    """Query text -> :class:`Prepared`, least recently used first out."""

    def __init__(self, maxsize: int) -> None:
        self._maxsize = maxsize
        self._entries: OrderedDict[str, Prepared] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def prepared(self, query: str, max_tokens: int) -> Prepared:
        """The cached entry for ``query``, parsing it on a miss (a ``GraphQLError`` if it does
        not parse, or has more than ``max_tokens`` tokens)."""
        entry = self._entries.get(query)
        if entry is not None:
            self._entries.move_to_end(query)
            return entry
        document = parse(query, max_tokens=max_tokens)
        entry = Prepared(document, page_variables(document))
        self._entries[query] = entry
        if len(self._entries) > self._maxsize:
            self._entries.popitem(last=False)
        return entry


def page_variables(document: DocumentNode) -> tuple[str, ...]:
    """The names of the variables passed as a ``first`` or ``last`` argument anywhere."""
    names: set[str] = set()

    def walk(selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                for argument in selection.arguments or ():
                    if argument.name.value in PAGE_ARGUMENTS and isinstance(
                        argument.value, VariableNode
                    ):
                        names.add(argument.value.name.value)
                walk(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set)
            # A fragment spread's selections are walked with its definition, below.

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            walk(definition.selection_set)
    return tuple(sorted(names))


def cost_key(prepared: Prepared, variables: Mapping[str, Any]) -> tuple[Hashable, ...] | None:
    """The page-size values of a request, as a key (``None``: one of them is unhashable).

    The type is part of each value's key: ``1``, ``1.0`` and ``True`` are equal in Python but
    not as page sizes.
    """
    key: list[Hashable] = []
    for name in prepared.page_variables:
        if name not in variables:
            key.append((name, None, None))
            continue
        value = variables[name]
        if not isinstance(value, Hashable):
            return None
        key.append((name, type(value), value))
    return tuple(key)


class PreparedDocuments(SchemaExtension):
    """Parse, validate and cost each query text once (see the module's docstring)."""

    def __init__(
        self,
        cache: DocumentCache,
        limits: QueryLimits,
        rules: tuple[type[ASTValidationRule], ...],
    ) -> None:
        super().__init__()
        self._cache = cache
        self._limits = limits
        self.rules = rules
        self._prepared: Prepared | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        # Strawberry parses with these options itself if no document is set here.
        context.parse_options["max_tokens"] = self._limits.max_tokens
        if context.graphql_document is None and context.query:
            self._prepared = self._cache.prepared(context.query, self._limits.max_tokens)
            context.graphql_document = self._prepared.document
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, *self.rules)
        prepared = self._prepared
        if prepared is not None and context.pre_execution_errors is None:
            rules = tuple(context.validation_rules)
            errors = prepared.validated.get(rules)
            if errors is None:
                errors = validate_document(context.schema._schema, prepared.document, rules)
                prepared.validated[rules] = errors
            context.pre_execution_errors = list(errors)
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            self._check_cost(document, context.variables or {})
        yield

    def _check_cost(self, document: DocumentNode, variables: Mapping[str, Any]) -> None:
        prepared = self._prepared
        if prepared is not None and prepared.document is not document:
            prepared = None  # another extension replaced the document
        key = cost_key(prepared, variables) if prepared else None
        if prepared is not None and key in prepared.accepted_costs:
            return
        errors = query_cost_errors(
            self.execution_context.schema._schema,
            document,
            max_cost=self._limits.max_cost,
            default_page_size=self._limits.default_page_size,
            max_page_size=self._limits.max_page_size,
            variables=variables,
        )
        if errors:
            # Raised, not returned: strawberry answers it as a pre-execution error on every
            # transport (HTTP, sync, subscriptions).
            raise errors[0]
        if prepared is not None and key is not None:
            if len(prepared.accepted_costs) >= MAX_COSTS_PER_DOCUMENT:
                prepared.accepted_costs.clear()
            prepared.accepted_costs.add(key)
