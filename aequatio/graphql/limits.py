"""The limits a hostile client cannot get past.

Every GraphQL document is checked before a single resolver runs:

* the lexer stops after ``max_tokens`` tokens (comments included), so a huge query
  costs no more than a small one to refuse;
* validation refuses documents that are too deep, use too many aliases or directives,
  carry more than one operation, or introspect the schema when introspection is off;
* just before execution a static cost estimate, computed with the request's variables,
  refuses pages larger than ``max_page_size`` and queries whose estimated number of
  resolved fields exceeds ``max_cost``.

Each refusal is a ``GraphQLError`` whose ``extensions.code`` is one of ``LIMIT_CODES``,
so clients (and an error-masking extension) can tell a limit from a bug.

Why the cost check is not a validation rule: validation is cached per document and rule
set, never per variables. A rule that read ``$first`` would be validated once with
``first: 1`` and the cached "valid" answer would then be served for ``first: 100000``. So
the cost is checked per request, after validation, with the request's page sizes
(``aequatio.graphql.prepared``, which runs all of these checks); the rules that go through
the validation cache depend on the document alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any, Final, TypeGuard, cast

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SchemaMetaFieldDef,
    SelectionSetNode,
    TypeMetaFieldDef,
    TypeNameMetaFieldDef,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

QUERY_TOO_DEEP: Final = "QUERY_TOO_DEEP"
TOO_MANY_ALIASES: Final = "TOO_MANY_ALIASES"
TOO_MANY_TOKENS: Final = "TOO_MANY_TOKENS"
TOO_MANY_DIRECTIVES: Final = "TOO_MANY_DIRECTIVES"
MULTIPLE_OPERATIONS: Final = "MULTIPLE_OPERATIONS"
QUERY_TOO_COSTLY: Final = "QUERY_TOO_COSTLY"
PAGE_SIZE_TOO_LARGE: Final = "PAGE_SIZE_TOO_LARGE"
INVALID_PAGE_SIZE: Final = "INVALID_PAGE_SIZE"
INTROSPECTION_DISABLED: Final = "INTROSPECTION_DISABLED"
INTROSPECTION_TOO_DEEP: Final = "INTROSPECTION_TOO_DEEP"

LIMIT_CODES: Final = frozenset(
    {
        QUERY_TOO_DEEP,
        TOO_MANY_ALIASES,
        TOO_MANY_TOKENS,
        TOO_MANY_DIRECTIVES,
        MULTIPLE_OPERATIONS,
        QUERY_TOO_COSTLY,
        PAGE_SIZE_TOO_LARGE,
        INVALID_PAGE_SIZE,
        INTROSPECTION_DISABLED,
        INTROSPECTION_TOO_DEEP,
    }
)
"""The codes of refusals by these limits: errors safe to show a client unmasked."""

CACHE_SIZE: Final = 128
"""Entries in the parser and validation caches. A real client sends a few dozen
distinct documents; bounded, so unique query texts cannot grow memory."""

_COST_CAP: Final = 10**12  # keeps arithmetic on hostile documents small
_CONNECTION_SUFFIX: Final = "Connection"
PAGE_ARGUMENTS: Final = ("first", "last")
_SUGGESTION = re.compile(r"\s*Did you mean\b.*$", re.DOTALL)
_UNCODED_LIMITS: Final = (
    # graphql-core's own limits, which it reports without a code
    (re.compile(r"Document contains more than \d+ tokens"), TOO_MANY_TOKENS),
    (re.compile(r"Document is nested too deeply"), QUERY_TOO_DEEP),
    (re.compile(r"^Maximum introspection depth exceeded"), INTROSPECTION_TOO_DEEP),
)


@dataclass(frozen=True)
class QueryLimits:
    """What one GraphQL request may ask for."""

    max_depth: int = 10
    max_aliases: int = 15
    max_tokens: int = 2000
    max_directives: int = 10
    #: A dashboard page (50 expenses with payers, shares and their users) scores ~7,000, as
    #: small lists count as a full default page; nested connections (100 x 100) score 10^4+.
    max_cost: int = 20_000
    default_page_size: int = 20
    max_page_size: int = 100
    introspection: bool = True

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type in {"int", int} and (not _is_int(value) or value < 1):
                raise ValueError(f"{field.name} must be a positive integer, got {value!r}")
        if self.default_page_size > self.max_page_size:
            raise ValueError("default_page_size cannot exceed max_page_size")


def limit_error(message: str, code: str, nodes: Any = None) -> GraphQLError:
    return GraphQLError(message, nodes, extensions={"code": code})


# ---------------------------------------------------------------------------------------
# Validation rules: each depends on the document alone, so their results may be cached.


class SingleOperationRule(ValidationRule):
    """A request carries exactly one operation; fragments are fine.

    (A document with no operation at all never gets here: strawberry refuses it first.)
    """

    def enter_document(self, node: DocumentNode, *_args: object) -> None:
        operations = [d for d in node.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) > 1:
            self.report_error(
                limit_error(
                    f"A request may contain one operation; this document has {len(operations)}.",
                    MULTIPLE_OPERATIONS,
                    operations,
                )
            )


def MaxDirectivesRule(limit: int) -> type[ValidationRule]:  # noqa: N802 - a rule class
    """Refuse a document with more than ``limit`` directive usages, wherever they are."""

    class MaxDirectives(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.count = 0

        def enter_directive(self, *_args: object) -> None:
            self.count += 1

        def leave_document(self, *_args: object) -> None:
            if self.count > limit:
                self.report_error(
                    limit_error(
                        f"{self.count} directives found; the maximum is {limit}.",
                        TOO_MANY_DIRECTIVES,
                    )
                )

    return MaxDirectives


def MaxExpansionRule(limit: int) -> type[ValidationRule]:  # noqa: N802 - a rule class
    """Refuse a document that, with its fragments inlined, has more than ``limit``
    selections: ``fragment A on Query { ...B ...B }`` chains double it per fragment,
    and some walkers (strawberry's depth and alias limiters) expand every spread."""

    class MaxExpansion(ValidationRule):
        def enter_document(self, node: DocumentNode, *_args: object) -> None:
            size = expanded_selections(node, limit)
            if size > limit:
                self.report_error(
                    limit_error(
                        f"The query expands to more than {limit} selections once its "
                        "fragments are inlined.",
                        QUERY_TOO_COSTLY,
                    )
                )

    return MaxExpansion


def CostRule(  # noqa: N802 - a rule class
    max_cost: int,
    default_page_size: int,
    max_page_size: int,
    variables: Mapping[str, Any] | None = None,
) -> type[ValidationRule]:
    """Refuse a query whose static cost exceeds ``max_cost`` (see ``query_cost_errors``).

    Without ``variables`` a page size given by a variable counts as ``max_page_size``.
    Do not put a rule built with ``variables`` through a validation cache: its key ignores
    the variables (``PreparedDocuments`` checks the cost per request instead).
    """

    class Cost(ValidationRule):
        def leave_document(self, node: DocumentNode, *_args: object) -> None:
            for error in query_cost_errors(
                self.context.schema,
                node,
                max_cost=max_cost,
                default_page_size=default_page_size,
                max_page_size=max_page_size,
                variables=variables,
            ):
                self.report_error(error)

    return Cost


# ---------------------------------------------------------------------------------------
# The cost estimate


def query_cost_errors(
    schema: GraphQLSchema,
    document: DocumentNode,
    *,
    max_cost: int,
    default_page_size: int,
    max_page_size: int,
    variables: Mapping[str, Any] | None = None,
) -> list[GraphQLError]:
    """Page-size and cost refusals for every operation of ``document``.

    Every selected field costs 1, times the product of the page sizes of the fields
    above it. A field's page size is its ``first``/``last`` argument (the larger if
    both), else the argument's schema default if it is an integer, else
    ``default_page_size`` for a list or a Relay connection (a type named
    ``...Connection``), else 1. A list directly under a connection (its ``edges`` or
    ``nodes``) is that connection's page, so it does not multiply again. Fields of the
    introspection types count 1 each: the schema is small and in memory.
    """
    errors: list[GraphQLError] = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        estimator = _CostEstimator(
            schema, document, definition, default_page_size, max_page_size, variables
        )
        try:
            cost: int | None = estimator.operation_cost()
        except RecursionError:  # fragment chains too long to walk: fail closed
            cost = None
        errors.extend(estimator.errors)
        if cost is None or cost > max_cost:
            shown = "too large to estimate" if cost is None or cost >= _COST_CAP else cost
            errors.append(
                limit_error(
                    f"The query cost {shown} exceeds the maximum of {max_cost}.",
                    QUERY_TOO_COSTLY,
                    definition,
                )
            )
    return errors


class _CostEstimator:
    def __init__(  # noqa: PLR0917
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        default_page_size: int,
        max_page_size: int,
        variables: Mapping[str, Any] | None,
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.default_page_size = default_page_size
        self.max_page_size = max_page_size
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.fragment_costs: dict[str, int] = {}
        self.in_progress: set[str] = set()
        self.errors: list[GraphQLError] = []

    def operation_cost(self) -> int:
        root = self.schema.get_root_type(self.operation.operation)
        return self.selection_set_cost(self.operation.selection_set, root)

    def selection_set_cost(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None
    ) -> int:
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field_cost(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                scope = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set_cost(selection.selection_set, scope)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment_cost(selection.name.value)
        return min(total, _COST_CAP)

    def fragment_cost(self, name: str) -> int:
        if name in self.fragment_costs:
            return self.fragment_costs[name]
        fragment = self.fragments.get(name)
        if fragment is None or name in self.in_progress:  # unknown or cyclic: invalid anyway
            return 0
        self.in_progress.add(name)
        cost = self.selection_set_cost(
            fragment.selection_set, self.schema.get_type(fragment.type_condition.name.value)
        )
        self.in_progress.discard(name)
        self.fragment_costs[name] = cost
        return cost

    def field_cost(self, node: FieldNode, parent: GraphQLNamedType | None) -> int:
        definition = _field_definition(parent, node.name.value)
        page = self.page_size(node, definition, parent)
        if node.selection_set is None:
            return 1
        child = get_named_type(definition.type) if definition else None
        return min(1 + page * self.selection_set_cost(node.selection_set, child), _COST_CAP)

    def page_size(
        self, node: FieldNode, definition: GraphQLField | None, parent: GraphQLNamedType | None
    ) -> int:
        if node.name.value.startswith("__") or (parent and parent.name.startswith("__")):
            return 1
        given = [
            size
            for name in PAGE_ARGUMENTS
            if (size := self.argument_page_size(node, name, definition)) is not None
        ]
        if given:
            return max(given)
        if definition is None:
            return 1
        nullable = get_nullable_type(definition.type)
        is_connection = get_named_type(definition.type).name.endswith(_CONNECTION_SUFFIX)
        if is_list_type(nullable) and parent and parent.name.endswith(_CONNECTION_SUFFIX):
            return 1
        if is_list_type(nullable) or is_connection:
            return self.default_page_size
        return 1

    def argument_page_size(
        self, node: FieldNode, name: str, definition: GraphQLField | None
    ) -> int | None:
        argument = next((a for a in node.arguments or () if a.name.value == name), None)
        if argument is None:
            schema_argument = definition.args.get(name) if definition else None
            default = schema_argument.default_value if schema_argument else None
            return self.checked(node, name, default) if _is_int(default) else None
        value = argument.value
        if isinstance(value, NullValueNode):
            return None
        if isinstance(value, IntValueNode):
            return self.checked(node, name, int(value.value))
        if isinstance(value, VariableNode):
            return self.variable_page_size(node, name, value.name.value)
        return self.max_page_size  # not an Int: validation refuses it anyway

    def variable_page_size(self, node: FieldNode, argument: str, variable: str) -> int | None:
        if self.variables is None:  # not known here: assume the worst allowed
            return self.max_page_size
        if variable in self.variables:
            value = self.variables[variable]
            if value is None:
                return None
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not _is_int(value):  # the coercion of variables will refuse it
                return self.max_page_size
            return self.checked(node, argument, value)
        definition = next(
            (
                d
                for d in self.operation.variable_definitions or ()
                if d.variable.name.value == variable
            ),
            None,
        )
        default = definition.default_value if definition else None
        if isinstance(default, IntValueNode):
            return self.checked(node, argument, int(default.value))
        return None

    def checked(self, node: FieldNode, argument: str, size: int) -> int:
        field = node.name.value
        if size > self.max_page_size:
            self.errors.append(
                limit_error(
                    f"'{field}' asks for {argument}: {size}; the maximum page size is "
                    f"{self.max_page_size}.",
                    PAGE_SIZE_TOO_LARGE,
                    node,
                )
            )
        elif size < 0:
            self.errors.append(
                limit_error(
                    f"'{field}' asks for {argument}: {size}; a page size cannot be negative.",
                    INVALID_PAGE_SIZE,
                    node,
                )
            )
        return max(size, 0)


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _field_definition(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if name == "__typename":
        return TypeNameMetaFieldDef
    if name == "__schema":
        return SchemaMetaFieldDef
    if name == "__type":
        return TypeMetaFieldDef
    if isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
        field: GraphQLField | None = parent.fields.get(name)
        return field
    return None


def expanded_selections(document: DocumentNode, cap: int) -> int:
    """How many selections the operations of ``document`` have with every fragment
    spread inlined, counted without recursion and without expanding anything twice;
    any result above ``cap`` is reported as ``cap + 1``."""
    local = {
        d.name.value: _local_selections(d.selection_set)
        for d in document.definitions
        if isinstance(d, FragmentDefinitionNode)
    }
    sizes: dict[str, int] = {}
    for root in local:
        if root in sizes:
            continue
        path: list[tuple[str, Iterator[str]]] = [(root, iter(local[root][1]))]
        on_path = {root}
        while path:
            name, spreads = path[-1]
            for spread in spreads:
                if spread in local and spread not in sizes and spread not in on_path:
                    path.append((spread, iter(local[spread][1])))
                    on_path.add(spread)
                    break
            else:
                path.pop()
                on_path.discard(name)
                count, all_spreads = local[name]
                sizes[name] = min(count + sum(sizes.get(s, 0) for s in all_spreads), cap + 1)
    total = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            count, names = _local_selections(definition.selection_set)
            total += count + sum(sizes.get(name, 0) for name in names)
    return min(total, cap + 1)


def _local_selections(selection_set: SelectionSetNode) -> tuple[int, list[str]]:
    count = 0
    spreads: list[str] = []
    stack = [selection_set]
    while stack:
        for selection in stack.pop().selections:
            count += 1
            if isinstance(selection, FragmentSpreadNode):
                spreads.append(selection.name.value)
            elif isinstance(selection, (FieldNode, InlineFragmentNode)) and (
                selection.selection_set is not None
            ):
                stack.append(selection.selection_set)
    return count, spreads


# ---------------------------------------------------------------------------------------
# Strawberry's limiters, given codes


class _CodingContext:
    """Forwards to a validation context, stamping a code on every error reported."""

    def __init__(self, context: ValidationContext, code: str) -> None:
        self._context = context
        self._code = code

    def report_error(self, error: GraphQLError) -> None:
        error.extensions = {**(error.extensions or {}), "code": self._code}
        self._context.report_error(error)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


def coded_rule(
    rule: type[ASTValidationRule], code: str, *, max_expansion: int | None = None
) -> type[ASTValidationRule]:
    """``rule``, with ``code`` on each error it reports.

    With ``max_expansion`` the rule does not run on a document that expands to more
    selections (``MaxExpansionRule`` refuses that document): strawberry's depth and
    alias walkers expand every fragment spread, exponential on spread chains.
    """

    def init(self: Any, context: ValidationContext) -> None:
        if max_expansion is not None and (
            expanded_selections(context.document, max_expansion) > max_expansion
        ):
            ValidationRule.__init__(self, context)
            return
        rule.__init__(self, cast(ValidationContext, _CodingContext(context, code)))

    return type(f"Coded{rule.__name__}", (rule,), {"__init__": init})


# ---------------------------------------------------------------------------------------
# Extensions


class LimitErrorCodes(SchemaExtension):
    """Outermost: gives graphql-core's own limit errors (tokens, parser nesting,
    introspection depth) a code and, when asked, strips the "Did you mean ...?"
    suggestions that would leak the schema with introspection off."""

    def __init__(self, *, hide_suggestions: bool) -> None:
        super().__init__()
        self.hide_suggestions = hide_suggestions

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        except GraphQLError as error:  # e.g. the token limit, hit while parsing
            self.tidy(error)
            raise
        context = self.execution_context
        errors = [*(context.pre_execution_errors or ()), *_result_errors(context.result)]
        for unique in {id(error): error for error in errors}.values():
            self.tidy(unique)

    def tidy(self, error: GraphQLError) -> None:
        if "code" not in (error.extensions or {}):
            for pattern, code in _UNCODED_LIMITS:
                if pattern.search(error.message):
                    error.extensions = {**(error.extensions or {}), "code": code}
                    break
        if self.hide_suggestions:
            error.message = _SUGGESTION.sub("", error.message)


def _result_errors(result: object) -> Iterable[GraphQLError]:
    errors = getattr(result, "errors", None)
    return errors if isinstance(errors, list) else ()


def limit_rules(limits: QueryLimits) -> list[type[ASTValidationRule]]:
    """The validation rules of ``limits``; built once, so validation can be cached."""
    expansion = limits.max_cost
    rules: list[type[ASTValidationRule]] = [
        SingleOperationRule,
        MaxDirectivesRule(limits.max_directives),
        MaxExpansionRule(expansion),
        *(
            coded_rule(rule, QUERY_TOO_DEEP, max_expansion=expansion)
            for rule in QueryDepthLimiter(max_depth=limits.max_depth).validation_rules
        ),
        *(
            coded_rule(rule, TOO_MANY_ALIASES, max_expansion=expansion)
            for rule in MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules
        ),
    ]
    if not limits.introspection:
        rules.extend(
            coded_rule(rule, INTROSPECTION_DISABLED)
            for rule in DisableIntrospection().validation_rules
        )
    return rules


def is_limit_error(error: GraphQLError) -> bool:
    """For ``MaskErrors(should_mask_error=lambda e: not is_limit_error(e))``: a limit's
    refusal is meant for the client, and masking would also drop its code."""
    return (error.extensions or {}).get("code") in LIMIT_CODES
