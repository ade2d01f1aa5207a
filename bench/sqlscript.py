"""The SQL a request issues, captured from the real application, and replayed by the raw
baseline endpoints with fresh per-request values.

**Capture.** SQLAlchemy's ``before/after_cursor_execute``, ``begin``, ``commit`` and
``rollback`` engine events (the programmatic form of ``echo=True``) record each statement's
exact text, its bound parameters as handed to asyncpg, whether it returned rows, and the
transaction it ran in, while one request runs through the real ASGI app.

**Per-request values.** The same mutation is captured twice (A and B) with a different
idempotency key and date. A parameter equal in both is a constant. One that differs is a
per-request value: a UUID the request generated (expense, event, correlation ids), a timestamp
(``now``), the idempotency key, the date and its month, or a hex token inside a string (trace
ids, the command fingerprint). ``analyse`` builds the substitution and **verifies it**: mapping
A's values to B's must turn every parameter of A into B's exactly; anything else fails
loudly. The raw endpoint then maps A's values to new ones on each request.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from aequatio.application.ids import new_id

#: A text parameter's per-request pieces: (old text, kind, old value). ``kind``: ``str``
#: (``str(new)``), ``iso`` (``new.isoformat()``) or ``hex`` (a fresh token of that length).
Form = tuple[str, str, Any]


@dataclass(frozen=True)
class Statement:
    sql: str
    #: One tuple of positional parameters, or a list of them for ``executemany``.
    params: tuple[Any, ...] | list[tuple[Any, ...]]
    many: bool
    returns_rows: bool


@dataclass(frozen=True)
class Transaction:
    statements: tuple[Statement, ...]
    #: ``commit`` or ``rollback`` (how the application ended it).
    ends: str


@dataclass
class Capture:
    transactions: list[Transaction] = field(default_factory=list)

    @property
    def statements(self) -> list[Statement]:
        return [statement for tx in self.transactions for statement in tx.statements]

    def texts(self) -> list[str]:
        return [statement.sql for statement in self.statements]


class CaptureMismatch(RuntimeError):
    """Two captures of the same request disagree in a way the substitution cannot explain."""


@contextmanager
def capturing() -> Iterator[Capture]:
    """Record every statement any SQLAlchemy engine in this process issues in the block."""
    # Imported here: the raw endpoint (``bench/raw_api.py``) uses this module without
    # SQLAlchemy, and should not carry it in its memory.
    from sqlalchemy import event  # noqa: PLC0415
    from sqlalchemy.engine import Engine  # noqa: PLC0415

    capture = Capture()
    pending: list[Statement] = []

    def after(*args: Any) -> None:
        # (conn, cursor, statement, parameters, context, executemany), as SQLAlchemy calls it.
        _, cursor, statement, parameters, _, many = args
        params: Any = [tuple(p) for p in parameters] if many else tuple(parameters or ())
        pending.append(Statement(statement, params, many, cursor.description is not None))

    def end(kind: str) -> Callable[[Any], None]:
        def ended(conn: Any) -> None:
            if pending:
                capture.transactions.append(Transaction(tuple(pending), kind))
                pending.clear()

        return ended

    def begin(conn: Any) -> None:
        pending.clear()

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("after_cursor_execute", after),
        ("begin", begin),
        ("commit", end("commit")),
        ("rollback", end("rollback")),
    ]
    for name, listener in listeners:
        event.listen(Engine, name, listener)
    try:
        yield capture
    finally:
        for name, listener in listeners:
            event.remove(Engine, name, listener)
        if pending:
            capture.transactions.append(Transaction(tuple(pending), "none"))


# -- the substitution -----------------------------------------------------------------------

_HEX = re.compile(r"[0-9a-f]{16,}")


@dataclass
class Substitution:
    """Which of capture A's values change per request, and how."""

    fresh_uuids: set[uuid.UUID] = field(default_factory=set)
    timestamps: set[datetime] = field(default_factory=set)
    #: A's idempotency key, its date and the first day of that month.
    key: str | None = None
    day: date | None = None
    month: date | None = None
    #: A's hex tokens (inside strings) that change: replaced by fresh tokens of equal length.
    hex_tokens: set[str] = field(default_factory=set)
    #: A's group (the request names it: the raw endpoint writes to the group asked for).
    group: uuid.UUID | None = None

    def objects(
        self, key: str, day: date, now: datetime, group: uuid.UUID | None = None
    ) -> dict[Any, Any]:
        """A's values -> this request's."""
        mapping: dict[Any, Any] = {u: new_id() for u in self.fresh_uuids}  # as the app makes them
        if self.group is not None:
            mapping[self.group] = group or self.group
        mapping.update(dict.fromkeys(self.timestamps, now))
        if self.key is not None:
            mapping[self.key] = key
        if self.day is not None:
            mapping[self.day] = day
        if self.month is not None:
            mapping[self.month] = day.replace(day=1)
        mapping.update({token: secrets.token_hex(len(token) // 2) for token in self.hex_tokens})
        return mapping

    def forms(self) -> list[Form]:
        """Every textual form an A value can take inside a string parameter."""
        found: list[Form] = [(str(u), "str", u) for u in self.fresh_uuids]
        if self.group is not None:
            found.append((str(self.group), "str", self.group))
        found += [(t.isoformat(), "iso", t) for t in self.timestamps]
        found += [(t.isoformat().replace("+00:00", "Z"), "isoz", t) for t in self.timestamps]
        if self.key is not None:
            found.append((self.key, "str", self.key))
        for value in (self.day, self.month):
            if value is not None:
                found.append((value.isoformat(), "iso", value))
        found += [(token, "str", token) for token in self.hex_tokens]
        return found


def _render(kind: str, value: Any) -> str:
    if kind == "iso":
        return str(value.isoformat())
    if kind == "isoz":
        return str(value.isoformat()).replace("+00:00", "Z")
    return str(value)


#: A compiled parameter: builds the value for a request from its mapping.
Param = Callable[[dict[Any, Any]], Any]


def _text_param(text: str, forms: list[Form]) -> Param | None:
    present = [form for form in forms if form[0] in text]
    if not present:
        return None
    by_text = {old: (kind, value) for old, kind, value in present}
    # Longest first, so a UUID wins over a hex run inside it.
    pattern = re.compile("|".join(re.escape(old) for old in sorted(by_text, key=len, reverse=True)))

    def build(mapping: dict[Any, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            kind, value = by_text[match.group(0)]
            return _render(kind, mapping[value])

        return pattern.sub(replace, text)

    return build


def _compile_value(value: Any, substitution: Substitution, forms: list[Form]) -> Param:
    if isinstance(value, uuid.UUID) and (
        value in substitution.fresh_uuids or value == substitution.group
    ):
        return lambda mapping: mapping[value]
    if isinstance(value, datetime) and value in substitution.timestamps:
        return lambda mapping: mapping[value]
    if (
        isinstance(value, date)
        and not isinstance(value, datetime)
        and value in (substitution.day, substitution.month)
    ):
        return lambda mapping: mapping[value]
    if isinstance(value, str):
        built = _text_param(value, forms)
        if built is not None:
            return built
    return lambda mapping: value


@dataclass(frozen=True)
class CompiledStatement:
    sql: str
    many: bool
    returns_rows: bool
    params: tuple[Param, ...] | tuple[tuple[Param, ...], ...]

    def arguments(self, mapping: dict[Any, Any]) -> Any:
        if self.many:
            return [tuple(p(mapping) for p in row) for row in self.params]  # type: ignore[union-attr]
        return tuple(p(mapping) for p in self.params)  # type: ignore[operator]


def compile_script(capture: Capture, substitution: Substitution) -> list[list[CompiledStatement]]:
    """Per transaction, statements whose parameters are built per request."""
    forms = substitution.forms()
    compiled: list[list[CompiledStatement]] = []
    for transaction in capture.transactions:
        statements = []
        for statement in transaction.statements:
            if statement.many:
                rows: Any = tuple(
                    tuple(_compile_value(v, substitution, forms) for v in row)
                    for row in statement.params
                )
            else:
                rows = tuple(_compile_value(v, substitution, forms) for v in statement.params)
            statements.append(
                CompiledStatement(statement.sql, statement.many, statement.returns_rows, rows)
            )
        compiled.append(statements)
    return compiled


def _flat(capture: Capture) -> list[tuple[str, Any]]:
    """(where, value) of every parameter, in order."""
    out: list[tuple[str, Any]] = []
    for t, transaction in enumerate(capture.transactions):
        for s, statement in enumerate(transaction.statements):
            rows = statement.params if statement.many else [statement.params]
            for r, row in enumerate(rows):
                out += [(f"tx{t}.st{s}.row{r}.p{p}", v) for p, v in enumerate(row)]
    return out


def analyse(  # noqa: PLR0912 - one verification, best read top to bottom
    a: Capture,
    b: Capture,
    *,
    keys: tuple[str, str],
    days: tuple[date, date],
    groups: tuple[uuid.UUID, uuid.UUID],
) -> Substitution:
    """The substitution that turns capture ``a`` into capture ``b``, verified exactly."""
    if a.texts() != b.texts() or [t.ends for t in a.transactions] != [
        t.ends for t in b.transactions
    ]:
        raise CaptureMismatch("the two captures issued different statements")
    substitution = Substitution(
        key=keys[0], day=days[0], month=days[0].replace(day=1), group=groups[0]
    )
    flat_a, flat_b = _flat(a), _flat(b)
    if len(flat_a) != len(flat_b):
        raise CaptureMismatch("the two captures bound different numbers of parameters")
    pairs: dict[Any, Any] = {
        groups[0]: groups[1],
        keys[0]: keys[1],
        days[0]: days[1],
        days[0].replace(day=1): days[1].replace(day=1),
    }
    texts: list[tuple[str, str, str]] = []
    for (where, va), (_, vb) in zip(flat_a, flat_b, strict=True):
        if va == vb:
            continue
        if va == groups[0]:
            if vb != groups[1]:
                raise CaptureMismatch(f"{where}: the group maps to {vb!r}, not the request's")
            continue
        if isinstance(va, uuid.UUID) and isinstance(vb, uuid.UUID):
            substitution.fresh_uuids.add(va)
        elif isinstance(va, datetime) and isinstance(vb, datetime):
            substitution.timestamps.add(va)
        elif isinstance(va, date) and isinstance(vb, date):
            if va not in (substitution.day, substitution.month):
                raise CaptureMismatch(f"{where}: a date that is not the request's: {va}")
            continue
        elif isinstance(va, str) and isinstance(vb, str):
            texts.append((where, va, vb))
            continue
        else:
            raise CaptureMismatch(f"{where}: a per-request value of unknown kind: {va!r}")
        if pairs.setdefault(va, vb) != vb:
            raise CaptureMismatch(f"{where}: {va!r} maps to two values")
    # Hex tokens left in strings once the known values are substituted (trace ids, digests).
    known = substitution.forms()
    for where, va, vb in texts:
        built = _text_param(va, known)
        partial = built(pairs) if built else va
        for token_a, token_b in zip(_HEX.findall(partial), _HEX.findall(vb), strict=False):
            if token_a != token_b:
                if pairs.setdefault(token_a, token_b) != token_b:
                    raise CaptureMismatch(f"{where}: token {token_a} maps to two values")
                substitution.hex_tokens.add(token_a)
    # Verify: A with A->B substituted is B, parameter by parameter.
    mapping = pairs
    for statement_a, statement_b in zip(
        (s for tx in compile_script(a, substitution) for s in tx), b.statements, strict=True
    ):
        got = statement_a.arguments(mapping)
        want = statement_b.params
        if (list(got) if statement_a.many else got) != want:
            raise CaptureMismatch(
                f"the substitution does not reproduce the second capture in:\n{statement_a.sql}"
                f"\n got  {got!r}\n want {want!r}"
            )
    return substitution


def utc_now() -> datetime:
    return datetime.now(UTC)
