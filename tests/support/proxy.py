"""A small asyncio TCP proxy that can make established connections half-open.

``blackhole()`` silently drops every byte of the connections open at that moment, in both
directions, while their sockets stay open: to each end the peer is still connected but never
says anything again — a peer that vanished without a FIN or RST (a crashed host, a NAT or a
firewall that forgot the flow). Only heartbeats can tell. Connections made afterwards are
forwarded normally, so a client that notices can reconnect through the same proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

CHUNK = 65536


class _Pipe:
    """One client connection and its upstream connection."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream = upstream
        self.blackholed = False
        #: Set when the client closed its socket: it gave up on this connection.
        self.client_left = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []


@dataclass(frozen=True)
class Blackhole:
    """The connections silenced at ``started`` (loop time)."""

    pipes: tuple[_Pipe, ...]
    started: float

    async def clients_gave_up(self, within: float) -> float:
        """Seconds from the blackhole until every silenced client closed its socket."""
        async with asyncio.timeout(within):
            for pipe in self.pipes:
                await pipe.client_left.wait()
        return asyncio.get_running_loop().time() - self.started


class BlackholeProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._server: asyncio.Server | None = None
        self._pipes: set[_Pipe] = set()
        self.port = 0

    @classmethod
    def towards(cls, url: str) -> BlackholeProxy:
        """A proxy in front of the server of ``url`` (``scheme://user:pass@host:port/...``)."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5672)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for pipe in list(self._pipes):
            await self._drop(pipe)
        if self._server is not None:
            await self._server.wait_closed()

    def url(self, url: str, **query: int | str) -> str:
        """``url`` pointed at this proxy, with ``query`` parameters (e.g. ``heartbeat=2``)."""
        parts = urlsplit(url)
        credentials, _, _ = parts.netloc.rpartition("@")
        here = f"127.0.0.1:{self.port}"
        extra = "&".join(f"{key}={value}" for key, value in query.items())
        joined = "&".join(part for part in (parts.query, extra) if part)
        netloc = f"{credentials}@{here}" if credentials else here
        return urlunsplit((parts.scheme, netloc, parts.path, joined, parts.fragment))

    @property
    def open_connections(self) -> int:
        """Connections that carry traffic (the silenced ones do not count)."""
        return sum(1 for pipe in self._pipes if not pipe.blackholed)

    def blackhole(self) -> Blackhole:
        """Silence every connection open now, for good."""
        live = tuple(pipe for pipe in self._pipes if not pipe.blackholed)
        for pipe in live:
            pipe.blackholed = True
        return Blackhole(live, asyncio.get_running_loop().time())

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.close()
            return
        pipe = _Pipe(writer, upstream_writer)
        self._pipes.add(pipe)
        pipe.tasks = [
            asyncio.create_task(self._pump(pipe, reader, upstream_writer, from_client=True)),
            asyncio.create_task(self._pump(pipe, upstream_reader, writer, from_client=False)),
        ]
        for task in pipe.tasks:
            task.add_done_callback(lambda _: self._maybe_done(pipe))

    async def _pump(
        self,
        pipe: _Pipe,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        *,
        from_client: bool,
    ) -> None:
        try:
            while data := await source.read(CHUNK):
                if pipe.blackholed:
                    continue  # swallowed: the other end never hears of it
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            if from_client:
                pipe.client_left.set()
            if not pipe.blackholed:
                # A close is passed on, except through a blackhole (that is the half-open part).
                sink.close()

    def _maybe_done(self, pipe: _Pipe) -> None:
        """Forget the pipe once both of its ends closed their sockets."""
        if all(task.done() for task in pipe.tasks) and pipe in self._pipes:
            self._pipes.discard(pipe)
            pipe.client.close()
            pipe.upstream.close()

    async def _drop(self, pipe: _Pipe) -> None:
        for task in pipe.tasks:
            task.cancel()
        for task in pipe.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pipe.client.close()
        pipe.upstream.close()
        self._pipes.discard(pipe)
