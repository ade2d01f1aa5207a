"""Running the API on uvicorn, with Nagle's algorithm off on every connection.

With ``--workers N`` uvicorn binds the listening socket itself, without ``IPPROTO_TCP`` as its
protocol, and asyncio then leaves ``TCP_NODELAY`` off on the connections it accepts: a response
written in two parts waits for the client's delayed ACK, ~40 ms a request (measured: 0.9 ms for
a no-op request with one worker, 44 ms with two). On Linux an accepted socket inherits
``TCP_NODELAY`` from the listening one, so it is set there.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

#: uvicorn's exit status when the server could not start.
STARTUP_FAILURE = 3


class NoDelayConfig(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def run(app: str, **options: Any) -> None:
    """``uvicorn.run`` for an import string, with the socket above when there are workers."""
    config = NoDelayConfig(app, **options)
    server = uvicorn.Server(config)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
