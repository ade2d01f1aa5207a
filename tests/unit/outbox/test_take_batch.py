"""Batches are taken from what already arrived: never waiting for company, never past the
limit, ending at the end of the inbox."""

from __future__ import annotations

import asyncio

from hypothesis import given
from hypothesis import strategies as st

from aequatio.outbox.transport import take_batch


def test_a_quiet_inbox_gives_a_batch_of_one_at_once() -> None:
    async def scenario() -> list[int]:
        inbox: asyncio.Queue[int | None] = asyncio.Queue()
        inbox.put_nowait(1)
        return await asyncio.wait_for(take_batch(inbox, 32), timeout=1)

    assert asyncio.run(scenario()) == [1]


@given(
    waiting=st.lists(st.integers(), min_size=1, max_size=50),
    limit=st.integers(min_value=1, max_value=20),
)
def test_batches_keep_order_respect_the_limit_and_stop_at_the_end(
    waiting: list[int], limit: int
) -> None:
    async def scenario() -> list[list[int]]:
        inbox: asyncio.Queue[int | None] = asyncio.Queue()
        for item in waiting:
            inbox.put_nowait(item)
        inbox.put_nowait(None)
        batches = []
        while batch := await take_batch(inbox, limit):
            batches.append(batch)
        return batches

    batches = asyncio.run(scenario())
    assert [item for batch in batches for item in batch] == waiting
    assert all(1 <= len(batch) <= limit for batch in batches)
    assert all(len(batch) == limit for batch in batches[:-1])
