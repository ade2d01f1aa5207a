"""A worker's own ``/metrics`` endpoint (the API serves its metrics on its own port)."""

from __future__ import annotations

import logging

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


def serve_metrics(host: str, port: int) -> bool:
    """Expose this process's metrics on ``host:port`` in a background thread.

    A port already taken is logged, not fatal: a worker that cannot be scraped still delivers
    every event, while one that refuses to start delivers none.
    """
    if port == 0:
        return False
    try:
        start_http_server(port, addr=host)
    except OSError as error:
        log.error("cannot expose metrics on %s:%d: %s", host, port, error)
        return False
    log.info("metrics on http://%s:%d/metrics", host, port)
    return True
