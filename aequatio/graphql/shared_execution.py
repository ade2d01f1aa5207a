"""One execution of a subscription's selection for every subscriber an event reaches.

A thousand dashboards subscribed to a group would otherwise each execute the same selection
set over the same pushed object, one after another on the event loop (graphql-core takes
0.5-1 ms per execution: a second for one event). A subscription resolver therefore yields
``SharedPayload(value, arrival)``; the executor below unwraps it and executes the selection
once per arrival and *response key* — the operation's text, its name, its variables and the
viewer — handing every subscriber with that key the same result. Including the viewer keeps
the rule simple: a subscriber receives exactly what its own execution would have produced.

A result with errors is not shared: each subscriber then executes for itself and gets its
own errors (with its own path and logging), as without sharing.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from graphql import ExecutionResult, print_ast
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from aequatio.graphql.live import Arrival

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SharedPayload(Generic[T]):
    """What a subscription yields: the pushed object, and the arrival whose subscribers share
    its execution."""

    value: T
    arrival: Arrival


def shared(value: T, arrival: Arrival) -> T:
    """``value`` wrapped for ``SharingExecutor``, typed as ``value`` (the field's annotation
    stays the GraphQL type; the executor unwraps it before any resolver sees it)."""
    return cast(T, SharedPayload(value, arrival))


class SharingExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, executing a ``SharedPayload`` once per arrival and response key."""

    _arrival: Arrival | None = None
    _response_key: Hashable | None = None

    def build_per_event_executor(self, payload: Any) -> Any:
        if not isinstance(payload, SharedPayload):
            return super().build_per_event_executor(payload)
        if self._response_key is None:
            self._response_key = self.response_key()  # once per subscription
        executor = cast(SharingExecutor, super().build_per_event_executor(payload.value))
        executor._arrival = payload.arrival
        return executor

    def response_key(self) -> Hashable:
        """What makes two subscribers' executions of one event identical."""
        operation = self.operation
        source = operation.loc.source.body if operation.loc is not None else print_ast(operation)
        name = operation.name.value if operation.name is not None else None
        variables = json.dumps(self.variable_values.coerced, sort_keys=True, default=str)
        principal = getattr(self.context_value, "principal", None)
        viewer = getattr(principal, "subject", None)
        return ("response", source, name, variables, viewer)

    def execute_operation(self, serially: bool | None = None) -> Any:
        arrival = self._arrival
        if arrival is None or self._response_key is None:
            return super().execute_operation(serially)
        return self._shared_execution(arrival, self._response_key, serially)

    async def _shared_execution(
        self, arrival: Arrival, key: Hashable, serially: bool | None
    ) -> ExecutionResult:
        executed_here = False

        async def execute() -> ExecutionResult:
            nonlocal executed_here
            executed_here = True
            return await self._own_execution(serially)

        result = await arrival.once(key, execute)
        if result.errors and not executed_here:
            return await self._own_execution(serially)
        return result

    async def _own_execution(self, serially: bool | None) -> ExecutionResult:
        result = super().execute_operation(serially)
        if self.is_awaitable(result):
            result = await result
        return cast(ExecutionResult, result)
