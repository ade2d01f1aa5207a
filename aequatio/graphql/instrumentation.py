"""Each GraphQL operation in a span and in the operation metrics (name, type, outcome, latency).

Clients choose operation names, so the name label is bounded: names that are not plain
identifiers, and any beyond the first :data:`MAX_OPERATION_NAMES`, are counted as ``other``
(a client cannot grow the metrics without limit).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from aequatio.graphql.errors import is_unexpected
from aequatio.observability.metrics import GRAPHQL_OPERATIONS, GRAPHQL_SECONDS
from aequatio.observability.tracing import span

MAX_OPERATION_NAMES = 200
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_known_names: set[str] = set()


def operation_label(name: str | None) -> str:
    """The metric label for an operation name: itself while the set of names stays small."""
    if not name:
        return "anonymous"
    if name in _known_names:
        return name
    if _IDENTIFIER.fullmatch(name) and len(_known_names) < MAX_OPERATION_NAMES:
        _known_names.add(name)
        return name
    return "other"


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        with span("graphql") as current:
            yield
            context = self.execution_context
            try:
                kind = context.operation_type.value
            except Exception:
                kind = "unknown"
            name = operation_label(context.operation_name)
            current.update_name(f"graphql {kind} {name}")
            if kind == "subscription":
                return  # a stream: its duration says nothing
            errors = getattr(context.result, "errors", None) or []
            outcome = (
                "error" if any(is_unexpected(e) for e in errors) else "refused" if errors else "ok"
            )
            current.set_attribute("aequatio.outcome", outcome)
            GRAPHQL_OPERATIONS.labels(name, kind, outcome).inc()
            GRAPHQL_SECONDS.labels(name, kind).observe(time.perf_counter() - started)
