"""1,000 connect / subscribe / disconnect cycles leave no subscription, task or memory behind.

Bounds: every subscription is gone, the server's asyncio task count is back to its baseline
(within a handful for background work in flight), and its resident memory grew by less than
25 MiB over the cycles (after a warm-up, so caches and pools are already full).
"""

from __future__ import annotations

import asyncio

import httpx
import psutil

from tests.support.api import Api
from tests.support.live import live
from tests.support.recording import polled
from tests.support.server import Server

CYCLES = 1_000
WARM_UP = 50
MEMORY_BOUND = 25 * 1024 * 1024
TASK_SLACK = 5

SUBSCRIBE = "subscription($g: ID!) { groupActivity(groupId: $g) { eventType } }"


async def health(server: Server) -> dict[str, int]:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{server.url}/healthz")).json()  # type: ignore[no-any-return]


async def cycle(api: Api, token: str, group: str) -> None:
    async with live(api.base_url, token) as feed:
        await feed.subscribe(SUBSCRIBE, {"g": group})
        await asyncio.sleep(0)  # let the server register it before the socket closes


async def settled(server: Server) -> dict[str, int] | None:
    state = await health(server)
    return state if state["subscriptions"] == 0 else None


async def test_connect_subscribe_disconnect_cycles_leak_nothing(api: Api, server: Server) -> None:
    group, (ann,) = await api.family("Ann")
    process = psutil.Process(server.pid)
    for _ in range(WARM_UP):
        await cycle(api, ann.token, group)
    baseline = await polled(lambda: settled(server))
    memory_before = process.memory_info().rss

    for _ in range(CYCLES):
        await cycle(api, ann.token, group)

    after = await polled(lambda: settled(server))
    await asyncio.sleep(1)  # sockets closing in the background finish
    after = await health(server)
    grown = process.memory_info().rss - memory_before
    assert after["subscriptions"] == 0
    assert after["tasks"] <= baseline["tasks"] + TASK_SLACK
    assert grown < MEMORY_BOUND, f"grew {grown / 2**20:.1f} MiB"
