"""The log lines of one mutation's flow, as JSON: the command's line and every consumer's
line for its events carry the same ``correlation_id`` and ``trace_id``, and each consumer's
line names the ``event_id``, ``event_type`` and ``consumer``."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aequatio.observability.logging import JsonFormatter
from tests.support.api import Api

WATCHED = ("aequatio.observability.bus", "aequatio.outbox.consumer")


@contextmanager
def json_logs() -> Iterator[list[dict[str, Any]]]:
    """The lines the watched loggers write (DEBUG and up) in the block, parsed at its end."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(name) for name in WATCHED]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


async def test_one_flow_s_lines_share_the_correlation_and_trace_ids(api: Api) -> None:
    with json_logs() as lines:
        await api.person("Ann")
        await asyncio.sleep(0.5)  # every consumer of user.registered is done

    [command] = [
        line for line in lines if line["message"] == "RegisterUser handled: user.registered"
    ]
    assert command["level"] == "INFO"
    assert command["command"] == "RegisterUser"
    assert len(command["trace_id"]) == 32
    applied = [
        line
        for line in lines
        if line["message"] == "applied user.registered"
        and line["correlation_id"] == command["correlation_id"]
    ]
    consumers = {line["consumer"] for line in applied}
    assert consumers >= {"projection.user_directory", "projection.activity"}
    for line in applied:
        assert line["trace_id"] == command["trace_id"]
        assert line["event_type"] == "user.registered"
        assert len(line["event_id"]) == 36
