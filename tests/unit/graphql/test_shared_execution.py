"""A pushed event's response is executed once per response key for all its subscribers: the
same selection, variables and viewer share one execution; anything else executes on its own,
and a result with errors is never handed to another subscriber."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import strawberry

from aequatio.graphql.live import Arrival
from aequatio.graphql.shared_execution import SharingExecutor, shared
from tests.support.envelopes import an_envelope

RESOLVED: Counter[str] = Counter()


@dataclass
class Viewer:
    subject: str


@dataclass
class Ctx:
    principal: Viewer
    feed: asyncio.Queue[Arrival]


@strawberry.type
class Item:
    label: str

    @strawberry.field
    async def shouted(self, suffix: str = "!") -> str:
        RESOLVED[self.label + suffix] += 1
        await asyncio.sleep(0)
        if self.label == "broken":
            raise ValueError("cannot shout this one")
        return self.label.upper() + suffix


@strawberry.type
class Query:
    ping: str = "pong"


@strawberry.type
class Subscription:
    @strawberry.subscription
    async def items(self, info: strawberry.Info[Ctx, None]) -> AsyncGenerator[Item, None]:
        arrival = await info.context.feed.get()
        label = str(arrival.envelope.payload["label"])
        yield shared(await arrival.once("item", lambda: _item(label)), arrival)


async def _item(label: str) -> Item:
    return Item(label=label)


SCHEMA = strawberry.Schema(
    query=Query, subscription=Subscription, execution_context_class=SharingExecutor
)

SHOUTED = "subscription { items { label shouted } }"
WITH_SUFFIX = "subscription S($s: String!) { items { label shouted(suffix: $s) } }"


async def _first(query: str, viewer: str, feed: asyncio.Queue[Arrival], **variables: Any) -> Any:
    stream: Any = await SCHEMA.subscribe(
        query, variable_values=variables or None, context_value=Ctx(Viewer(viewer), feed)
    )
    async for result in stream:
        await stream.aclose()
        return result
    raise AssertionError("no result")


def _arrival(label: str) -> Arrival:
    envelope = an_envelope("invoice.created")
    return Arrival(envelope.model_copy(update={"payload": {"label": label}}), None)


async def _fan_out(label: str, subscribers: list[tuple[str, str, dict[str, Any]]]) -> list[Any]:
    arrival = _arrival(label)
    feeds: list[asyncio.Queue[Arrival]] = []
    for _ in subscribers:
        feed: asyncio.Queue[Arrival] = asyncio.Queue()
        feed.put_nowait(arrival)
        feeds.append(feed)
    return await asyncio.gather(
        *(
            _first(query, viewer, feed, **variables)
            for (query, viewer, variables), feed in zip(subscribers, feeds, strict=True)
        )
    )


def test_one_execution_serves_every_subscriber_with_the_same_key() -> None:
    RESOLVED.clear()
    results = asyncio.run(_fan_out("tea", [(SHOUTED, "ann", {})] * 200))
    assert {str(result.data) for result in results} == {
        str({"items": {"label": "tea", "shouted": "TEA!"}})
    }
    assert all(result.errors is None for result in results)
    assert RESOLVED["tea!"] == 1


def test_other_variables_or_viewers_execute_on_their_own() -> None:
    RESOLVED.clear()
    subscribers = [
        (WITH_SUFFIX, "ann", {"s": "?"}),
        (WITH_SUFFIX, "ann", {"s": "?"}),
        (WITH_SUFFIX, "ann", {"s": "."}),
        (SHOUTED, "ann", {}),
        (SHOUTED, "ben", {}),
    ]
    results = asyncio.run(_fan_out("jam", subscribers))
    assert [result.data["items"]["shouted"] for result in results] == [
        "JAM?",
        "JAM?",
        "JAM.",
        "JAM!",
        "JAM!",
    ]
    assert dict(RESOLVED) == {"jam?": 1, "jam.": 1, "jam!": 2}


def test_a_result_with_errors_is_not_shared() -> None:
    RESOLVED.clear()
    results = asyncio.run(_fan_out("broken", [(SHOUTED, "ann", {})] * 3))
    assert all(result.errors for result in results)
    assert RESOLVED["broken!"] == 3
