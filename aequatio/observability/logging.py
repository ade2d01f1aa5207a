"""Structured logs: one JSON object a line in production, one readable line in development.

Context travels in a :mod:`contextvars` variable, so what a request or a consumed event binds
(``correlation_id``, ``event_id``, ``event_type``, ...) reaches every log line written while it
is handled, asyncio tasks created inside included::

    with log_context(correlation_id=envelope.correlation_id, event_id=envelope.event_id):
        log.info("applied %s", projection.name)

The formatters add the current OpenTelemetry span's ``trace_id``/``span_id``, the ``extra``
fields of the call and the exception, and never raise: a value JSON cannot carry is logged as
its ``str``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Literal, TextIO

from opentelemetry import trace

LogFormat = Literal["json", "console"]
LogContextToken = contextvars.Token[Mapping[str, str]]

#: The keys every JSON line owns; bound fields may not use them, and an ``extra`` field that
#: does is written as ``extra_<key>``.
RESERVED_KEYS = frozenset(
    {
        "timestamp",
        "level",
        "logger",
        "message",
        "trace_id",
        "span_id",
        "exc_type",
        "exc_message",
        "stack",
        "stack_info",
    }
)

#: uvicorn's level for its most verbose output (``--log-level trace``).
TRACE = 5
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
#: Libraries that chatter at INFO; held at WARNING unless the level is DEBUG (or TRACE).
NOISY_LOGGERS = ("aiormq", "pgserver")

_EMPTY: Mapping[str, str] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "aequatio_log_context", default=_EMPTY
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
# ``color_message`` is uvicorn's ANSI-coloured copy of its message, not information.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


# --- context ---------------------------------------------------------------------------------


def bind(**fields: object) -> LogContextToken:
    """Add ``fields`` to the log context of the current task (and of the tasks it creates).

    Values are kept as strings (a UUID as its canonical form); ``None`` removes the field.
    Returns the token that :func:`unbind` takes to restore the previous context.
    """
    clashing = sorted(RESERVED_KEYS.intersection(fields))
    if clashing:
        raise ValueError(f"reserved log field name(s): {', '.join(clashing)}")
    merged = dict(_context.get())
    for key, value in fields.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return _context.set(MappingProxyType(merged))


def unbind(token: LogContextToken) -> None:
    """Restore the context as it was before the :func:`bind` that returned ``token``."""
    _context.reset(token)


@contextmanager
def log_context(**fields: object) -> Iterator[Mapping[str, str]]:
    """Bind ``fields`` for the block; leaving it restores the outer context."""
    token = bind(**fields)
    try:
        yield _context.get()
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, str]:
    """The fields bound in the current context (read-only)."""
    return _context.get()


# --- formatters ------------------------------------------------------------------------------


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # a broken __str__ must not lose the log line
        return f"<unprintable {type(value).__name__}>"


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # arguments that do not fit the format string
        return f"{_safe_str(record.msg)} (arguments: {_safe_str(record.args)})"


def _type_name(kind: type[BaseException]) -> str:
    module = getattr(kind, "__module__", "builtins")
    name = getattr(kind, "__qualname__", kind.__name__)
    return name if module == "builtins" else f"{module}.{name}"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _RECORD_ATTRIBUTES and not key.startswith("_")
    }


def _trace_fields() -> dict[str, str]:
    try:
        span_context = trace.get_current_span().get_span_context()
        if not span_context.is_valid:
            return {}
        return {
            "trace_id": trace.format_trace_id(span_context.trace_id),
            "span_id": trace.format_span_id(span_context.span_id),
        }
    except Exception:
        return {}


def _dumps(payload: Mapping[str, Any]) -> str:
    try:
        return json.dumps(payload, default=_safe_str, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        # Non-string keys, circular references, NaN: each offending value becomes its str.
        safe = {key: _json_safe(value) for key, value in payload.items()}
        return json.dumps(safe, default=_safe_str, ensure_ascii=False, allow_nan=False)


def _json_safe(value: object) -> object:
    try:
        json.dumps(value, default=_safe_str, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return _safe_str(value)
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object a line: timestamp (UTC, ms), level, logger, message, then the bound
    context, the OpenTelemetry trace and span, the ``extra`` fields and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            return _dumps(self.payload(record))
        except Exception as error:  # the last resort: still one parseable line
            return _dumps(
                {
                    "timestamp": self.timestamp(record),
                    "level": record.levelname,
                    "logger": record.name,
                    "message": _safe_str(record.msg),
                    "format_error": _safe_str(error),
                }
            )

    @staticmethod
    def timestamp(record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def payload(self, record: logging.LogRecord) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "timestamp": self.timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        payload.update(_context.get())
        payload.update(_trace_fields())
        for key, value in _extras(record).items():
            payload[f"extra_{key}" if key in RESERVED_KEYS else key] = value
        if record.exc_info and record.exc_info[0] is not None:
            kind, error, _ = record.exc_info
            payload["exc_type"] = _type_name(kind)
            payload["exc_message"] = _safe_str(error)
            payload["stack"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        return payload


def _console_value(value: object) -> str:
    text = _safe_str(value)
    if not text or any(char.isspace() or char in '"=' for char in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS.mmm LEVEL logger message key=value ...`` (local time) for development; an
    exception follows on the next lines as the usual traceback."""

    def format(self, record: logging.LogRecord) -> str:
        moment = f"{self.formatTime(record, '%H:%M:%S')}.{int(record.msecs):03d}"
        fields = {**_context.get(), **_extras(record)}
        line = " ".join(
            [
                moment,
                record.levelname,
                record.name,
                _message(record),
                *(f"{key}={_console_value(value)}" for key, value in fields.items()),
            ]
        )
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


# --- configuration ---------------------------------------------------------------------------


class RootHandler(logging.StreamHandler[TextIO]):
    """The stderr handler :func:`configure_logging` puts on the root logger (and replaces when
    called again)."""


_FORMATTERS: dict[LogFormat, type[logging.Formatter]] = {
    "json": JsonFormatter,
    "console": ConsoleFormatter,
}
_configured: dict[str, str] = {"level": "INFO", "format": "json"}


def _level_name(level: str) -> str:
    name = level.strip().upper()
    if name == "TRACE":
        logging.addLevelName(TRACE, "TRACE")
    if name not in logging.getLevelNamesMapping():
        raise ValueError(f"unknown log level: {level!r}")
    return name


def _noisy_level(level_name: str) -> str:
    verbose = logging.getLevelNamesMapping()[level_name] <= logging.DEBUG
    return "NOTSET" if verbose else "WARNING"


def _format(fmt: str) -> LogFormat:
    if fmt == "json":
        return "json"
    if fmt == "console":
        return "console"
    raise ValueError(f"unknown log format: {fmt!r} (json or console)")


def configure_logging(level: str, fmt: LogFormat) -> None:
    """Log everything through one stderr handler on the root logger with the ``fmt`` formatter.

    uvicorn's loggers lose their own handlers and propagate to the root; aiormq and pgserver
    are held at WARNING unless ``level`` is DEBUG. Calling it again replaces the handler.
    """
    level_name = _level_name(level)
    formatter = _FORMATTERS[_format(fmt)]()
    root = logging.getLogger()
    for installed in [handler for handler in root.handlers if isinstance(handler, RootHandler)]:
        root.removeHandler(installed)
        installed.close()
    handler = RootHandler(sys.stderr)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level_name)
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for own in list(logger.handlers):
            logger.removeHandler(own)
        logger.propagate = True
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(_noisy_level(level_name))
    _configured.update(level=level_name, format=fmt)


def uvicorn_log_config(level: str | None = None, fmt: LogFormat | None = None) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for ``uvicorn.run(log_config=...)``: uvicorn's loggers
    (access log included) propagate to the root handler.

    The root handler is part of it because uvicorn applies the config in each of its worker
    processes (``--workers``), where ``configure_logging`` never ran; level and format default
    to those of the last :func:`configure_logging` call.
    """
    level_name = _level_name(level or _configured["level"])
    formatter = _FORMATTERS[_format(fmt or _configured["format"])]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"aequatio": {"()": f"{__name__}.{formatter.__qualname__}"}},
        "handlers": {
            "aequatio": {
                "class": f"{__name__}.{RootHandler.__qualname__}",
                "formatter": "aequatio",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            **{name: {"handlers": [], "propagate": True} for name in UVICORN_LOGGERS},
            **{name: {"level": _noisy_level(level_name)} for name in NOISY_LOGGERS},
        },
        "root": {"level": level_name, "handlers": ["aequatio"]},
    }
