"""Hot-path statements sent straight to asyncpg, inside the unit of work's transaction.

SQLAlchemy Core still builds them (the tables stay the one description of the schema): each
is compiled once for PostgreSQL, with numbered ``$n`` parameters and SQLAlchemy's own bind and
result processing (JSON in and out), and then executed on the driver connection. That skips
the greenlet hop, execution context and result object SQLAlchemy spends on every statement:
about 160 µs of CPU each, measured on this machine, and a command such as ``addExpense`` runs
eleven.

* **Same transaction.** SQLAlchemy's asyncpg adapter begins its transaction lazily, at the
  first statement it runs itself; ``DriverSql`` begins it first, through the adapter, so what
  is sent here commits or rolls back with the unit of work (and inside a saga's savepoint).
* **Same observers.** SQLAlchemy's ``before_cursor_execute`` and ``after_cursor_execute``
  events fire for these statements too, when anything listens (statement recorders, the
  bench's SQL capture); when nothing does, checking costs one attribute lookup.
* **Same errors.** A failure is raised as SQLAlchemy would raise it (``IntegrityError``,
  ``OperationalError``, ... with the asyncpg error as ``orig``), so conflicts and transient
  failures are classified in one place; a connection lost on the way is invalidated, as
  SQLAlchemy does, so it never goes back to the pool.
* **Same schema.** A connection given a ``schema_translate_map`` (a replay writing to its
  rebuild schema) gets the statement compiled with that translation rendered in.
"""

from __future__ import annotations

import collections
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json, to_json
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import BindParameter


def json_text(value: Any) -> str:
    """JSON text for a JSON(B) parameter, by pydantic-core: several times ``json.dumps``'s speed
    (a JSON column's text is the one cost of a bound payload), and PostgreSQL parses either."""
    return to_json(value).decode()


_DIALECT: Any = PGDialect_asyncpg(  # type: ignore[no-untyped-call]
    dbapi=PGDialect_asyncpg.import_dbapi(),  # type: ignore[no-untyped-call]
    json_serializer=json_text,
    json_deserializer=from_json,
)

Processor = Callable[[Any], Any]
#: ``schema_translate_map`` as a hashable key: ``((from, to), ...)``, or ``None``.
Translation = tuple[tuple[str | None, str | None], ...] | None


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where the value of one ``$n`` comes from: the caller's parameter named ``key`` (or
    ``name``), else the bound value the statement carries; then the type's bind processor."""

    key: str
    name: str
    parameter: BindParameter[Any]
    bind: Processor | None

    def value(self, parameters: Mapping[str, Any]) -> Any:
        if self.key in parameters:
            value = parameters[self.key]
        elif self.name in parameters:
            value = parameters[self.name]
        elif self.parameter.callable:
            value = self.parameter.effective_value
        else:
            value = self.parameter.value
        return value if self.bind is None else self.bind(value)


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    slots: tuple[_Slot, ...]
    row: Any
    results: tuple[Processor | None, ...]

    def arguments(self, parameters: Mapping[str, Any]) -> list[Any]:
        """The positional arguments, as ``construct_params`` then the bind processors would
        make them, in one pass (the plan is made at compile time)."""
        return [slot.value(parameters) for slot in self.slots]


class DriverStatement:
    """A Core statement compiled once (per set of inserted columns, per schema translation) for
    the asyncpg driver."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: dict[tuple[frozenset[str] | None, Translation], _Compiled] = {}

    def compiled(
        self, columns: Iterable[str] | None = None, translation: Translation = None
    ) -> _Compiled:
        key = (frozenset(columns) if columns is not None else None, translation)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = _compile(self.statement, *key)
        return found


def _compile(
    statement: Executable, columns: frozenset[str] | None, translation: Translation
) -> _Compiled:
    compiled = statement.compile(  # type: ignore[attr-defined]
        dialect=_DIALECT,
        column_keys=sorted(columns) if columns is not None else None,
        schema_translate_map=dict(translation) if translation else None,
        render_schema_translate=bool(translation),
    )
    if compiled.post_compile_params or getattr(compiled, "_collected_params", None):
        # Expanding ``IN`` lists render per call; ``.params()`` values would be ignored here.
        raise ValueError("a driver statement takes no expanding parameter, nor .params()")
    escaped = compiled.escaped_bind_names or {}
    by_name = {
        escaped.get(name, name): (parameter, name)
        for parameter, name in compiled.bind_names.items()
    }
    slots = []
    for positional in compiled.positiontup or ():
        parameter, name = by_name[positional]
        bind = compiled._bind_processors.get(positional)
        slots.append(_Slot(parameter.key, name, parameter, bind))
    entries = compiled._result_columns or []
    row = collections.namedtuple("Row", [entry.keyname for entry in entries]) if entries else None
    results = tuple(entry.type._cached_result_processor(_DIALECT, None) for entry in entries)
    return _Compiled(compiled.string, tuple(slots), row, results)


class DriverSql:
    """Runs ``DriverStatement``s on the asyncpg connection under ``connection``."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._adapted: Any = None

    def closed(self) -> bool:
        """True once the server closed the connection under it (seen by the driver)."""
        adapted = self._adapted
        return adapted is not None and bool(adapted._connection.is_closed())

    async def _driver(self) -> Any:
        adapted = self._adapted
        if adapted is None:
            adapted = self._adapted = (await self._pooled()).dbapi_connection
        if adapted._transaction is None and self._connection.in_transaction():
            await adapted._start_transaction()
        return adapted._connection

    async def _pooled(self) -> Any:
        """The pooled connection under ``connection``: read straight off SQLAlchemy's
        ``Connection`` while it holds one (no I/O then; ``get_raw_connection`` would hop
        through a greenlet for it, about 2% of an ``addExpense``'s CPU as DriverSql is made
        per repository call), else through SQLAlchemy, which reconnects an invalidated one."""
        sync = self._connection.sync_connection
        if sync is not None and not sync.closed and not sync.invalidated:
            return sync.connection
        return await self._connection.get_raw_connection()

    def _translation(self) -> Translation:
        """The connection's ``schema_translate_map`` (a replay's rebuild schema for ``read``),
        which the statements follow as SQLAlchemy's own execution would."""
        sync = self._connection.sync_connection
        mapping = sync.get_execution_options().get("schema_translate_map") if sync else None
        return tuple(sorted(mapping.items(), key=repr)) if mapping else None

    async def rows(
        self, statement: DriverStatement, parameters: Mapping[str, Any] | None = None
    ) -> list[Any]:
        """The rows ``statement`` returns, as named tuples (``row.column``)."""
        compiled = statement.compiled(None, self._translation())
        arguments = compiled.arguments(parameters or {})
        records = await self._run(
            compiled, arguments, lambda driver: driver.fetch(compiled.sql, *arguments)
        )
        row, results = compiled.row, compiled.results
        if row is None:
            return []
        return [
            row._make(
                value if result is None or value is None else result(value)
                for result, value in zip(results, record, strict=True)
            )
            for record in records
        ]

    async def first(
        self, statement: DriverStatement, parameters: Mapping[str, Any] | None = None
    ) -> Any | None:
        found = await self.rows(statement, parameters)
        return found[0] if found else None

    async def execute(
        self, statement: DriverStatement, parameters: Mapping[str, Any] | None = None
    ) -> int:
        """Run ``statement``; the number of rows it touched."""
        compiled = statement.compiled(
            parameters.keys() if parameters else None, self._translation()
        )
        arguments = compiled.arguments(parameters or {})
        status = await self._run(
            compiled, arguments, lambda driver: driver.execute(compiled.sql, *arguments)
        )
        return _rowcount(status)

    async def execute_many(
        self, statement: DriverStatement, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Run ``statement`` once per row, in one round trip."""
        if not rows:
            return
        compiled = statement.compiled(rows[0].keys(), self._translation())
        arguments = [compiled.arguments(row) for row in rows]
        await self._run(
            compiled,
            arguments,
            lambda driver: driver.executemany(compiled.sql, arguments),
            many=True,
        )

    async def _run(
        self,
        compiled: _Compiled,
        arguments: Any,
        send: Callable[[Any], Awaitable[Any]],
        *,
        many: bool = False,
    ) -> Any:
        driver = await self._driver()
        observed = self._observe("before", compiled, arguments, many=many)
        try:
            result = await send(driver)
        except Exception as error:
            raise await self._translated(error, compiled.sql, arguments) from None
        if observed:
            self._observe("after", compiled, arguments, many=many)
        return result

    def _observe(self, when: str, compiled: _Compiled, arguments: Any, *, many: bool) -> bool:
        """Fire SQLAlchemy's ``{when}_cursor_execute`` event; False when nobody listens to
        either event (then ``after`` is not even looked up)."""
        connection = self._connection.sync_connection
        if connection is None:
            return False
        dispatch = connection.dispatch
        if not (dispatch.before_cursor_execute or dispatch.after_cursor_execute):
            return False
        cursor = _Cursor(compiled.row is not None)
        parameters = [tuple(row) for row in arguments] if many else tuple(arguments)
        getattr(dispatch, f"{when}_cursor_execute")(
            connection, cursor, compiled.sql, parameters, None, many
        )
        return True

    async def _translated(self, error: Exception, sql: str, arguments: Any) -> BaseException:
        """``error`` as SQLAlchemy raises it; a lost connection is invalidated first."""
        adapted = self._adapted
        try:
            adapted._handle_exception(error)
        except Exception as dbapi_error:  # the DB-API error the adapter maps it to
            error = dbapi_error
        lost = bool(adapted._connection.is_closed())
        if lost:
            await self._connection.invalidate()
        return DBAPIError.instance(
            sql,
            arguments,
            error,
            _DIALECT.loaded_dbapi.Error,
            connection_invalidated=lost,
            dialect=_DIALECT,
        )


class _Cursor:
    """What an event listener may ask of the cursor: whether the statement returns rows."""

    def __init__(self, returns_rows: bool) -> None:
        self.description: tuple[()] | None = () if returns_rows else None


def _rowcount(status: str) -> int:
    """``INSERT 0 1`` / ``UPDATE 3`` / ``DELETE 0`` -> the count (0 when there is none)."""
    last = status.rpartition(" ")[2]
    return int(last) if last.isdigit() else 0
