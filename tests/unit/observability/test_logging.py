"""Structured logs: JSON lines with the bound context, the trace, extras and exceptions; the
console line; the root handler that configure_logging installs and uvicorn's loggers use."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from aequatio.observability.logging import (
    ConsoleFormatter,
    JsonFormatter,
    RootHandler,
    bind,
    configure_logging,
    current_context,
    log_context,
    unbind,
    uvicorn_log_config,
)

REPOSITORY = Path(__file__).resolve().parents[3]
TOUCHED = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "aiormq", "pgserver")


class Captured:
    """A logger whose lines land in a StringIO through the formatter under test."""

    def __init__(self, formatter: logging.Formatter) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(formatter)
        self.logger = logging.getLogger(f"aequatio.test.{uuid.uuid4().hex[:8]}")
        self.logger.addHandler(self.handler)
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines()]

    def last(self) -> dict[str, Any]:
        return self.lines()[-1]


@pytest.fixture
def json_log() -> Iterator[Captured]:
    captured = Captured(JsonFormatter())
    yield captured
    captured.logger.removeHandler(captured.handler)


@pytest.fixture
def console_log() -> Iterator[Captured]:
    captured = Captured(ConsoleFormatter())
    yield captured
    captured.logger.removeHandler(captured.handler)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide loggers: put them back afterwards."""
    saved = {
        name: (list(logger.handlers), logger.level, logger.propagate)
        for name in TOUCHED
        for logger in [logging.getLogger(name)]
    }
    yield
    for name, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if handler not in handlers:
                logger.removeHandler(handler)
        for handler in handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


# --- JSON lines ------------------------------------------------------------------------------


def test_every_line_is_json_with_the_required_fields(json_log: Captured) -> None:
    json_log.logger.debug("one")
    json_log.logger.info("%s + %d", "two", 3)
    json_log.logger.warning("100% sure")

    lines = json_log.lines()

    assert [line["message"] for line in lines] == ["one", "two + 3", "100% sure"]
    assert [line["level"] for line in lines] == ["DEBUG", "INFO", "WARNING"]
    for line in lines:
        assert line["logger"] == json_log.logger.name
        # ISO 8601, UTC, milliseconds: 2025-01-31T12:34:56.789Z
        assert len(line["timestamp"]) == 24
        assert line["timestamp"][10] == "T"
        assert line["timestamp"][19] == "."
        assert line["timestamp"].endswith("Z")


def test_bound_fields_appear_as_strings_and_none_is_not_emitted(json_log: Captured) -> None:
    correlation = uuid.uuid4()

    with log_context(correlation_id=correlation, event_id=None, attempt=2):
        json_log.logger.info("inside")
    json_log.logger.info("outside")

    inside, outside = json_log.lines()
    assert inside["correlation_id"] == str(correlation)
    assert inside["attempt"] == "2"
    assert "event_id" not in inside
    assert "correlation_id" not in outside
    assert "attempt" not in outside


def test_nested_blocks_add_fields_and_leaving_restores_the_outer_ones(
    json_log: Captured,
) -> None:
    with log_context(correlation_id="c-1", event_type="ExpenseRecorded"):
        with log_context(event_id="e-1", event_type="InvoiceIssued"):
            json_log.logger.info("inner")
        json_log.logger.info("outer")
    json_log.logger.info("none")

    inner, outer, none = json_log.lines()
    assert (inner["correlation_id"], inner["event_id"], inner["event_type"]) == (
        "c-1",
        "e-1",
        "InvoiceIssued",
    )
    assert (outer["correlation_id"], outer["event_type"]) == ("c-1", "ExpenseRecorded")
    assert "event_id" not in outer
    assert {"correlation_id", "event_id", "event_type"}.isdisjoint(none)


def test_binding_none_hides_an_outer_field_for_the_block(json_log: Captured) -> None:
    with log_context(correlation_id="c-1"):
        with log_context(correlation_id=None):
            json_log.logger.info("without")
        json_log.logger.info("with")

    without, with_ = json_log.lines()
    assert "correlation_id" not in without
    assert with_["correlation_id"] == "c-1"


def test_bind_returns_a_token_that_unbind_restores() -> None:
    token = bind(event_id="e-9")
    try:
        assert current_context()["event_id"] == "e-9"
    finally:
        unbind(token)
    assert "event_id" not in current_context()


def test_reserved_names_cannot_be_bound() -> None:
    with pytest.raises(ValueError, match="message"):
        bind(message="hijack")


async def test_tasks_inherit_the_context_and_their_changes_do_not_leak(
    json_log: Captured,
) -> None:
    async def handle() -> None:
        json_log.logger.info("task start")
        bind(event_id="e-task")
        with log_context(correlation_id="c-task"):
            json_log.logger.info("task inner")
        json_log.logger.info("task end")

    with log_context(correlation_id="c-outer"):
        await asyncio.create_task(handle())
        json_log.logger.info("after task")

    start, inner, end, after = json_log.lines()
    assert start["correlation_id"] == "c-outer"
    assert "event_id" not in start
    assert (inner["correlation_id"], inner["event_id"]) == ("c-task", "e-task")
    assert (end["correlation_id"], end["event_id"]) == ("c-outer", "e-task")
    assert after["correlation_id"] == "c-outer"
    assert "event_id" not in after


def test_the_active_span_gives_trace_id_and_span_id(json_log: Captured) -> None:
    tracer = TracerProvider().get_tracer(__name__)

    with tracer.start_as_current_span("handle") as span:
        json_log.logger.info("traced")
        context = span.get_span_context()
    json_log.logger.info("untraced")

    traced, untraced = json_log.lines()
    assert traced["trace_id"] == f"{context.trace_id:032x}"
    assert traced["span_id"] == f"{context.span_id:016x}"
    assert len(traced["trace_id"]) == 32
    assert len(traced["span_id"]) == 16
    assert "trace_id" not in untraced
    assert "span_id" not in untraced


def test_exceptions_give_type_message_and_stack(json_log: Captured) -> None:
    try:
        raise KeyError("missing-account")
    except KeyError:
        json_log.logger.exception("lookup failed")

    line = json_log.last()
    assert line["message"] == "lookup failed"
    assert line["level"] == "ERROR"
    assert line["exc_type"] == "KeyError"
    assert line["exc_message"] == "'missing-account'"
    assert line["stack"].startswith("Traceback (most recent call last)")
    assert "missing-account" in line["stack"]


def test_extra_fields_appear(json_log: Captured) -> None:
    json_log.logger.info("sent", extra={"queue": "projections", "attempt": 3, "ok": True})

    line = json_log.last()
    assert (line["queue"], line["attempt"], line["ok"]) == ("projections", 3, True)
    for standard in ("args", "msg", "levelno", "pathname", "lineno", "exc_info", "created"):
        assert standard not in line


def test_an_extra_field_cannot_replace_a_required_one(json_log: Captured) -> None:
    json_log.logger.info("real", extra={"level": "fake", "timestamp": "never"})

    line = json_log.last()
    assert (line["level"], line["message"]) == ("INFO", "real")
    assert (line["extra_level"], line["extra_timestamp"]) == ("fake", "never")


class Opaque:
    def __str__(self) -> str:
        return "<opaque>"


class Broken:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def test_unserialisable_extras_do_not_break_the_line(json_log: Captured) -> None:
    circular: list[object] = []
    circular.append(circular)

    json_log.logger.info(
        "odd values",
        extra={
            "opaque": Opaque(),
            "broken": Broken(),
            "when": uuid.UUID(int=1),
            "tuple_keys": {(1, 2): "x"},
            "circular": circular,
            "nan": float("nan"),
            "raw": b"\xff",
        },
    )

    line = json_log.last()
    assert line["message"] == "odd values"
    assert line["opaque"] == "<opaque>"
    assert line["broken"] == "<unprintable Broken>"
    assert line["when"] == str(uuid.UUID(int=1))
    assert line["tuple_keys"] == "{(1, 2): 'x'}"
    assert line["circular"] == "[[...]]"
    assert line["nan"] == "nan"
    assert line["raw"] == "b'\\xff'"


def test_mismatched_arguments_still_give_a_line() -> None:
    # Formatted directly: pytest's own capture handler would raise on this record.
    record = logging.LogRecord(
        "aequatio.test", logging.INFO, __file__, 1, "%s and %s", ("x",), None
    )

    line = json.loads(JsonFormatter().format(record))

    assert line["message"].startswith("%s and %s")
    assert "'x'" in line["message"]


# --- console ---------------------------------------------------------------------------------


def test_console_line_is_one_readable_line(console_log: Captured) -> None:
    with log_context(correlation_id="c-1", event_type="ExpenseRecorded"):
        console_log.logger.info("applied %s", "balances", extra={"note": "two words"})

    text = console_log.text()
    assert text.count("\n") == 1
    clock, level, logger, rest = text.rstrip("\n").split(" ", 3)
    assert len(clock) == len("12:34:56.789")
    assert (clock[2], clock[5], clock[8]) == (":", ":", ".")
    assert (level, logger) == ("INFO", console_log.logger.name)
    assert rest == 'applied balances correlation_id=c-1 event_type=ExpenseRecorded note="two words"'


def test_console_appends_the_traceback(console_log: Captured) -> None:
    try:
        raise ValueError("bad amount")
    except ValueError:
        console_log.logger.exception("rejected")

    first, *traceback = console_log.text().rstrip("\n").splitlines()
    assert first.endswith("ERROR " + console_log.logger.name + " rejected")
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: bad amount"


# --- configuration ---------------------------------------------------------------------------


def root_handlers() -> list[logging.Handler]:
    return [handler for handler in logging.getLogger().handlers if isinstance(handler, RootHandler)]


@pytest.mark.usefixtures("restore_logging")
def test_configure_logging_twice_leaves_one_handler() -> None:
    configure_logging("info", "console")
    configure_logging("INFO", "json")

    handlers = root_handlers()
    assert len(handlers) == 1
    assert isinstance(handlers[0].formatter, JsonFormatter)
    assert logging.getLogger().level == logging.INFO


@pytest.mark.usefixtures("restore_logging")
def test_noisy_libraries_are_quiet_unless_debug() -> None:
    configure_logging("INFO", "json")
    assert logging.getLogger("aiormq").level == logging.WARNING
    assert logging.getLogger("pgserver").level == logging.WARNING

    configure_logging("DEBUG", "json")
    assert logging.getLogger("aiormq").getEffectiveLevel() == logging.DEBUG
    assert logging.getLogger("pgserver").getEffectiveLevel() == logging.DEBUG


def test_an_unknown_level_or_format_is_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        configure_logging("LOUD", "json")
    with pytest.raises(ValueError, match="format"):
        uvicorn_log_config("INFO", "xml")  # type: ignore[arg-type]


@pytest.mark.usefixtures("restore_logging")
def test_uvicorn_loggers_propagate_to_the_json_root_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logging.getLogger("uvicorn.access").addHandler(logging.StreamHandler(sys.stdout))
    configure_logging("INFO", "json")

    access = logging.getLogger("uvicorn.access")
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "GET", "/healthz", "1.1", 200)

    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        assert logging.getLogger(name).handlers == []
        assert logging.getLogger(name).propagate
    captured = capsys.readouterr()
    assert captured.out == ""
    line = json.loads(captured.err.strip())
    assert line["logger"] == "uvicorn.access"
    assert line["message"] == '127.0.0.1:50000 - "GET /healthz HTTP/1.1" 200'


def test_uvicorn_log_config_routes_uvicorn_through_the_root_handler() -> None:
    config = uvicorn_log_config("WARNING", "console")

    assert config["root"] == {"level": "WARNING", "handlers": ["aequatio"]}
    assert config["formatters"]["aequatio"]["()"].endswith(".ConsoleFormatter")
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        assert config["loggers"][name] == {"handlers": [], "propagate": True}


def test_uvicorn_access_log_is_json_under_uvicorns_own_configuration() -> None:
    """In a fresh interpreter, as ``aequatio serve`` does: configure_logging, then uvicorn
    applies uvicorn_log_config() (as in each of its worker processes) and logs a request."""
    script = textwrap.dedent(
        """
        import logging
        import uvicorn
        from aequatio.observability.logging import configure_logging, uvicorn_log_config

        configure_logging("INFO", "json")
        config = uvicorn.Config("x:app", log_config=uvicorn_log_config(), log_level="info")
        config.configure_logging()
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 42,
            extra={"color_message": "Started server process [\\x1b[36m%d\\x1b[0m]"})
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "POST", "/graphql", "1.1", 200
        )
        logging.getLogger("aequatio.api").info("from the app")
        """
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter, a fixed script
        [sys.executable, "-c", script],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    started, access, app = (json.loads(line) for line in result.stderr.splitlines())
    assert started["logger"] == "uvicorn.error"
    assert started["message"] == "Started server process [42]"
    assert "color_message" not in started
    assert access["logger"] == "uvicorn.access"
    assert access["message"] == '127.0.0.1:50000 - "POST /graphql HTTP/1.1" 200'
    assert app["logger"] == "aequatio.api"
    assert result.stdout == ""
