"""The load generator: a small HTTP/1.1 keep-alive client on asyncio protocols.

Why not httpx or aiohttp: each spends 100-300 us of CPU per request in Python, as much as the
raw endpoints it must drive, on a 2-core machine shared with the servers. This client writes
pre-built request bytes and parses only the status line and ``content-length``, about 20-40 us
a request; ``calibrate`` measures it against a no-op endpoint in every run (see RESULTS.md).

Two drivers: ``closed_loop`` (``concurrency`` connections, each sending its next request when
the previous answered: throughput and latency) and ``open_loop`` (requests started on a fixed
schedule, whatever the answers: a steady rate for lag measurements).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Builds the complete request (bytes on the wire) for the ``index``-th request.
RequestFactory = Callable[[int], bytes]
#: Whether a response (status, body) is a success.
Check = Callable[[int, bytes], bool]
#: Seconds a request may wait for its answer.
REQUEST_TIMEOUT = 120.0


def http_request(
    path: str,
    body: bytes = b"",
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    host: str = "127.0.0.1",
) -> bytes:
    """One HTTP/1.1 keep-alive request, ready to write."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def request_template(
    path: str, body_parts: Sequence[bytes], *, headers: dict[str, str] | None = None
) -> Callable[[Sequence[bytes]], bytes]:
    """A request whose body is ``body_parts`` interleaved with per-request values: headers are
    encoded once, and only the body and its length are joined per request."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    prefix = ("\r\n".join(head) + "\r\nContent-Length: ").encode()
    parts = list(body_parts)

    def build(values: Sequence[bytes]) -> bytes:
        pieces = [parts[0]]
        for value, part in zip(values, parts[1:], strict=True):
            pieces += (value, part)
        body = b"".join(pieces)
        return b"%s%d\r\n\r\n%s" % (prefix, len(body), body)

    return build


class ConnectionClosed(ConnectionError):
    pass


class HttpConnection(asyncio.Protocol):
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self) -> None:
        self._transport: Any = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; both have write/close.
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None or self._waiter.done():
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            self._waiter.set_exception(ConnectionClosed("response without content-length"))
            return
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17 : stop if stop > 0 else None])
        total = end + 4 + length
        if len(self._buffer) < total:
            return
        status = int(head[9:12])
        body = bytes(self._buffer[end + 4 : total])
        del self._buffer[:total]
        self._waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or ConnectionClosed("the server closed the connection")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._lost)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self._lost is not None or self._transport is None:
            raise ConnectionClosed(str(self._lost))
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(raw)
        # A server that never answers fails the request (TimeoutError, an OSError) instead of
        # stalling the whole run.
        return await asyncio.wait_for(self._waiter, REQUEST_TIMEOUT)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def connect(host: str, port: int) -> HttpConnection:
    _, protocol = await asyncio.get_running_loop().create_connection(HttpConnection, host, port)
    return protocol


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of unsorted values; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


@dataclass
class LoadResult:
    """Requests completed in the measured window (after warm-up) and their latencies."""

    concurrency: int
    seconds: float
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    errors: int = 0
    first_error: str | None = None
    #: Successful requests over the whole run, warm-up included (to relate rows written).
    ok_total: int = 0
    #: CPU seconds this process (the generator) used during the measured window.
    generator_cpu_s: float = 0.0
    #: How much each probe (a cumulative counter: CPU seconds of a process...) grew meanwhile.
    probed: dict[str, float] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 2),
            "requests": self.requests,
            "errors": self.errors,
            "first_error": self.first_error,
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": round(percentile(lat, 0.5), 2),
            "p90_ms": round(percentile(lat, 0.9), 2),
            "p99_ms": round(percentile(lat, 0.99), 2),
            "max_ms": round(max(lat), 2) if lat else None,
            "generator_cpu_us_per_request": (
                round(self.generator_cpu_s / self.requests * 1e6, 1) if self.requests else None
            ),
            "generator_cpu_share": round(self.generator_cpu_s / self.seconds, 3),
        }


@contextlib.contextmanager
def no_collections() -> Iterator[None]:
    """The generator's own garbage collector off while it measures, collected after.

    With 1,000 WebSocket clients in this process a full collection stopped it for ~200 ms
    (measured): every answer arriving meanwhile would be timed that much late, and counted as
    the server's latency. Reference counting still frees what it can.
    """
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.collect()


async def closed_loop(
    host: str,
    port: int,
    make: RequestFactory,
    *,
    concurrency: int,
    duration: float,
    warmup: float,
    check: Check | None = None,
    max_errors: int = 50,
    probes: dict[str, Callable[[], float]] | None = None,
) -> LoadResult:
    """``concurrency`` connections sending back to back for ``warmup + duration`` seconds;
    requests answered inside the measured window (after the warm-up) count."""
    connections = [await connect(host, port) for _ in range(concurrency)]
    counter = iter(range(1 << 62))
    loop = asyncio.get_running_loop()
    began = loop.time()
    measure_from = began + warmup
    stop_at = measure_from + duration
    result = LoadResult(concurrency, duration)
    cpu_at_start: list[float] = []
    probes = probes or {}
    probed_at_start: dict[str, float] = {}

    cpu_at_end: list[float] = []
    probed_at_end: dict[str, float] = {}

    def start_measuring() -> None:
        cpu_at_start.append(time.process_time())
        probed_at_start.update({name: probe() for name, probe in probes.items()})

    def stop_measuring() -> None:
        cpu_at_end.append(time.process_time())
        probed_at_end.update({name: probe() for name, probe in probes.items()})

    async def drive(connection: HttpConnection) -> None:
        while loop.time() < stop_at:
            raw = make(next(counter))
            sent = time.perf_counter()
            try:
                status, body = await connection.request(raw)
            except (ConnectionError, OSError) as error:
                result.errors += 1
                result.first_error = result.first_error or repr(error)
                return
            elapsed = (time.perf_counter() - sent) * 1000
            if check is not None and not check(status, body):
                result.errors += 1
                result.first_error = result.first_error or f"{status}: {body[:300]!r}"
                if result.errors >= max_errors:
                    return
                continue
            result.ok_total += 1
            # Finished inside the window, wherever it started: completions per second are the
            # throughput even when a request takes longer than the window (at high
            # concurrency on a slow server), and its latency is the one it really had.
            if measure_from <= loop.time() <= stop_at:
                result.latencies_ms.append(elapsed)

    timers = [loop.call_at(measure_from, start_measuring), loop.call_at(stop_at, stop_measuring)]
    try:
        with no_collections():
            await asyncio.gather(*(drive(connection) for connection in connections))
    finally:
        for timer in timers:
            timer.cancel()
        for connection in connections:
            connection.close()
    if not cpu_at_end:  # every connection gave up before the window closed
        stop_measuring()
    if not cpu_at_start:
        return result
    result.generator_cpu_s = cpu_at_end[0] - cpu_at_start[0]
    result.probed = {name: probed_at_end[name] - probed_at_start[name] for name in probes}
    return result


@dataclass
class Sent:
    """One request of an open-loop run: when it was due, sent, answered, and the answer."""

    index: int
    due: float
    sent: float
    answered: float = math.nan
    #: Wall-clock time of the answer (for comparing with database timestamps).
    answered_wall: float = math.nan
    status: int = 0
    body: bytes = b""


async def open_loop(
    host: str,
    port: int,
    make: RequestFactory,
    *,
    rate: float,
    duration: float,
    connections: int = 32,
) -> list[Sent]:
    """Requests due every ``1/rate`` s for ``duration`` s, each on an idle connection (a
    request waits for one only when all ``connections`` are busy: then it is sent late)."""
    idle: asyncio.Queue[HttpConnection] = asyncio.Queue()
    opened = [await connect(host, port) for _ in range(connections)]
    for connection in opened:
        idle.put_nowait(connection)
    loop = asyncio.get_running_loop()
    sent: list[Sent] = []
    tasks: list[asyncio.Task[None]] = []

    async def one(record: Sent) -> None:
        connection = await idle.get()
        record.sent = loop.time()
        try:
            record.status, record.body = await connection.request(make(record.index))
        except (ConnectionError, OSError) as error:
            record.body = repr(error).encode()
        record.answered = loop.time()
        record.answered_wall = time.time()
        idle.put_nowait(connection)

    start = loop.time() + 0.05
    total = int(rate * duration)
    try:
        with no_collections():
            for index in range(total):
                due = start + index / rate
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                record = Sent(index, due, math.nan)
                sent.append(record)
                tasks.append(asyncio.create_task(one(record)))
            await asyncio.gather(*tasks)
    finally:
        for connection in opened:
            connection.close()
    return sent
