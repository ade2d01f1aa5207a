"""Broker-side faults that touch nobody else: a throw-away broker user whose connections the
test closes, and a watcher that counts the consumers on the suite's queues.

The application under test logs in as the user, so ``rabbitmqctl close_all_user_connections``
drops exactly its connections — the node keeps running for everyone else. The user is deleted
afterwards.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiormq
import aiormq.abc
from pamqp import commands as spec

from tests.support.broker import rabbitmqctl


async def ctl(*arguments: str) -> str:
    """``rabbitmqctl`` off the event loop (the application keeps running meanwhile)."""
    return await asyncio.to_thread(rabbitmqctl, *arguments)


@dataclass(frozen=True)
class BrokerUser:
    name: str
    password: str
    vhost_url: str

    @property
    def url(self) -> str:
        """The virtual host's URL, logged in as this user."""
        parts = urlsplit(self.vhost_url)
        netloc = f"{self.name}:{self.password}@{parts.hostname}:{parts.port or 5672}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))

    async def close_connections(self) -> None:
        await ctl("close_all_user_connections", self.name, "fault suite")

    async def connections(self) -> list[str]:
        """The broker's ids of this user's open connections."""
        out = await ctl("list_connections", "user", "pid", "--formatter", "json")
        rows: list[dict[str, Any]] = json.loads(out) if out.strip() else []
        return sorted(str(row["pid"]) for row in rows if row["user"] == self.name)


@asynccontextmanager
async def broker_user(vhost_url: str) -> AsyncIterator[BrokerUser]:
    """A new user with every permission on the virtual host of ``vhost_url``; deleted after."""
    user = BrokerUser(f"aequatio-fault-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex, vhost_url)
    vhost = unquote(urlsplit(vhost_url).path[1:]) or "/"
    await ctl("add_user", user.name, user.password)
    try:
        await ctl("set_permissions", "-p", vhost, user.name, ".*", ".*", ".*")
        yield user
    finally:
        await ctl("delete_user", user.name)


class QueueWatch:
    """A separate connection that reads queues' consumer and message counts."""

    def __init__(self, channel: aiormq.abc.AbstractChannel) -> None:
        self._channel = channel

    async def declared(self, queue: str) -> spec.Queue.DeclareOk:
        declared = await asyncio.wait_for(self._channel.queue_declare(queue, passive=True), 10)
        assert isinstance(declared, spec.Queue.DeclareOk)
        return declared

    async def consumers(self, queues: Iterable[str]) -> dict[str, int]:
        return {queue: int((await self.declared(queue)).consumer_count or 0) for queue in queues}


@asynccontextmanager
async def queue_watch(vhost_url: str) -> AsyncIterator[QueueWatch]:
    async with aiormq.connect(vhost_url) as connection:
        yield QueueWatch(await connection.channel())
