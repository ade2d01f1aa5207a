"""A pushed event's row is read once for all its subscribers, and one subscriber leaving does
not take it away from the others."""

from __future__ import annotations

import asyncio

from aequatio.graphql.live import Arrival
from tests.support.envelopes import an_envelope


def an_arrival() -> Arrival:
    return Arrival(an_envelope("invoice.created"), None)


def test_the_work_runs_once_for_every_subscriber() -> None:
    async def scenario() -> tuple[list[str], int]:
        arrival, calls = an_arrival(), 0

        async def read() -> str:
            nonlocal calls
            calls += 1
            await asyncio.sleep(0.01)
            return "row"

        rows = await asyncio.gather(*(arrival.once("invoiceCreated", read) for _ in range(1000)))
        return rows, calls

    rows, calls = asyncio.run(scenario())
    assert rows == ["row"] * 1000
    assert calls == 1


def test_separate_fields_do_their_own_work() -> None:
    async def scenario() -> list[str]:
        arrival = an_arrival()

        async def named(name: str) -> str:
            return name

        return [
            await arrival.once("splitCompleted", lambda: named("split")),
            await arrival.once("groupActivity", lambda: named("activity")),
        ]

    assert asyncio.run(scenario()) == ["split", "activity"]


def test_a_subscriber_leaving_does_not_cancel_the_others_push() -> None:
    async def scenario() -> str:
        arrival, release = an_arrival(), asyncio.Event()

        async def read() -> str:
            await release.wait()
            return "row"

        leaving = asyncio.create_task(arrival.once("invoiceCreated", read))
        staying = asyncio.create_task(arrival.once("invoiceCreated", read))
        await asyncio.sleep(0)
        leaving.cancel()
        await asyncio.sleep(0)
        release.set()
        return await staying

    assert asyncio.run(scenario()) == "row"
