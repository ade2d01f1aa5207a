"""Statements sent straight to asyncpg run inside the SQLAlchemy transaction they are given,
round-trip JSON as SQLAlchemy does, and fail with SQLAlchemy's exceptions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import Text, bindparam, event, func, insert, literal_column, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from aequatio.persistence.concurrency import constraint_name
from aequatio.persistence.driver import DriverSql, DriverStatement
from aequatio.persistence.errors import is_transient
from aequatio.persistence.idempotency import _REMEMBER, _STORED
from aequatio.persistence.tables import idempotency_keys
from aequatio.projections.tables import group_totals

RESULT = {"aggregate_id": str(uuid4()), "event_ids": [str(uuid4())], "nested": {"n": [1, 2]}}
_COUNT = DriverStatement(
    select(func.count()).where(idempotency_keys.c.subject == bindparam("subject"))
)


def _key(subject: str, key: str = "k") -> dict[str, object]:
    return {
        "subject": subject,
        "key": key,
        "command": "AddExpense",
        "fingerprint": "f",
        "result": RESULT,
    }


@asynccontextmanager
async def begun(engine: AsyncEngine) -> AsyncIterator[tuple[AsyncConnection, DriverSql]]:
    """A connection in a begun transaction, and its driver statements."""
    async with engine.connect() as connection:
        await connection.begin()
        yield connection, DriverSql(connection)


async def _stored(engine: AsyncEngine, subject: str) -> int:
    async with engine.connect() as connection:
        found = await connection.scalar(
            select(func.count()).where(idempotency_keys.c.subject == subject)
        )
    return int(found or 0)


async def test_a_rolled_back_transaction_takes_the_driver_statements_with_it(
    engine: AsyncEngine,
) -> None:
    subject = f"s-{uuid4()}"
    async with begun(engine) as (connection, sql):
        await sql.execute(_REMEMBER, _key(subject))
        # Visible inside the transaction, through SQLAlchemy too: one transaction, not two.
        counted = await sql.first(_COUNT, {"subject": subject})
        assert counted is not None
        assert counted[0] == 1
        inside = await connection.scalar(
            select(func.count()).where(idempotency_keys.c.subject == subject)
        )
        assert inside == 1
        await connection.rollback()
    assert await _stored(engine, subject) == 0

    async with begun(engine) as (connection, sql):
        await sql.execute(_REMEMBER, _key(subject))
        await connection.commit()
    assert await _stored(engine, subject) == 1


async def test_a_savepoint_rolled_back_takes_only_its_own_statements(engine: AsyncEngine) -> None:
    subject = f"s-{uuid4()}"
    async with begun(engine) as (connection, sql):
        await sql.execute(_REMEMBER, _key(subject, "kept"))
        savepoint = await connection.begin_nested()
        await sql.execute(_REMEMBER, _key(subject, "undone"))
        await savepoint.rollback()
        await connection.commit()
    async with engine.connect() as connection:
        keys = await connection.scalars(
            select(idempotency_keys.c.key).where(idempotency_keys.c.subject == subject)
        )
        assert list(keys) == ["kept"]


async def test_json_goes_in_and_comes_back_as_sqlalchemy_writes_and_reads_it(
    engine: AsyncEngine,
) -> None:
    subject = f"s-{uuid4()}"
    async with begun(engine) as (connection, sql):
        await sql.execute(_REMEMBER, _key(subject))
        row = await sql.first(_STORED, {"subject": subject, "key": "k"})
        through_sqlalchemy = (
            await connection.execute(
                select(idempotency_keys.c.result).where(idempotency_keys.c.subject == subject)
            )
        ).scalar_one()
        raw_text = await connection.scalar(
            text("SELECT result::text FROM idempotency_keys WHERE subject = :s"), {"s": subject}
        )
        await connection.rollback()
    assert row is not None
    assert row.result == RESULT == through_sqlalchemy
    assert row.command == "AddExpense"
    assert '"nested": {"n": [1, 2]}' in str(raw_text)


async def test_a_unique_violation_is_sqlalchemys_integrity_error_naming_the_constraint(
    engine: AsyncEngine,
) -> None:
    subject = f"s-{uuid4()}"
    async with begun(engine) as (connection, sql):
        await sql.execute(_REMEMBER, _key(subject))
        with pytest.raises(IntegrityError) as raised:
            await sql.execute(_REMEMBER, _key(subject))
        await connection.rollback()
    assert constraint_name(raised.value) == "pk_idempotency_keys"
    assert not is_transient(raised.value)


async def test_a_terminated_backend_is_a_transient_error_and_the_connection_is_dropped(
    engine: AsyncEngine,
) -> None:
    subject = f"s-{uuid4()}"
    async with engine.connect() as victim:
        await victim.begin()
        sql = DriverSql(victim)
        backend = await sql.first(DriverStatement(select(func.pg_backend_pid())))
        assert backend is not None
        pid = backend[0]
        async with engine.connect() as killer:
            await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await killer.commit()
        with pytest.raises(DBAPIError) as raised:
            await sql.execute(_REMEMBER, _key(subject))
        assert raised.value.connection_invalidated
        assert is_transient(raised.value)
        assert victim.invalidated
    assert await _stored(engine, subject) == 0


async def test_sqlalchemy_statement_listeners_see_driver_statements(engine: AsyncEngine) -> None:
    subject = f"s-{uuid4()}"
    seen: list[tuple[str, str, object, bool, bool]] = []

    def listener(when: str) -> Any:
        def record(_conn: Any, cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
            rows = when == "after" and cursor.description is not None
            seen.append((when, sql.split(maxsplit=1)[0], params, many, rows))

        return record

    before, after = listener("before"), listener("after")
    event.listen(engine.sync_engine, "before_cursor_execute", before)
    event.listen(engine.sync_engine, "after_cursor_execute", after)
    try:
        async with begun(engine) as (connection, sql):
            await sql.first(_COUNT, {"subject": subject})
            await sql.execute_many(_REMEMBER, [_key(subject, "a"), _key(subject, "b")])
            await connection.rollback()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
        event.remove(engine.sync_engine, "after_cursor_execute", after)
    mine = [entry for entry in seen if entry[1] in {"SELECT", "INSERT"}]
    assert [(when, verb, many, rows) for when, verb, _, many, rows in mine] == [
        ("before", "SELECT", False, False),
        ("after", "SELECT", False, True),
        ("before", "INSERT", True, False),
        ("after", "INSERT", True, False),
    ]
    assert mine[0][2] == (subject,)
    inserted: Any = mine[2][2]
    assert [params[:2] for params in inserted] == [(subject, "a"), (subject, "b")]


async def test_a_schema_translate_map_sends_the_statement_to_the_translated_schema(
    engine: AsyncEngine,
) -> None:
    """What a replay relies on: its projections write to the rebuild schema, not to ``read``."""
    schema = f"drv_{uuid4().hex[:8]}"
    group_id = uuid4()
    insert_total = DriverStatement(insert(group_totals))
    count = DriverStatement(
        select(func.count()).where(group_totals.c.group_id == bindparam("group_id"))
    )
    async with engine.connect() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        await connection.execute(
            text(f'CREATE TABLE "{schema}".group_totals (LIKE read.group_totals)')
        )
        await connection.execution_options(schema_translate_map={"read": schema})
        sql = DriverSql(connection)
        row = {"group_id": group_id, "currency": "EUR", "total_cents": 5, "expense_count": 1}
        await sql.execute(insert_total, row)
        translated = await sql.first(count, {"group_id": group_id})
        await connection.execution_options(schema_translate_map=None)
        live = await sql.first(count, {"group_id": group_id})
        copied = await connection.scalar(
            text(f'SELECT count(*) FROM "{schema}".group_totals WHERE group_id = :g'),  # noqa: S608 - our schema
            {"g": group_id},
        )
        await connection.rollback()
    assert translated is not None
    assert translated[0] == 1
    assert live is not None
    assert live[0] == 0
    assert copied == 1


async def test_values_the_statement_carries_are_sent_unless_the_caller_gives_them(
    engine: AsyncEngine,
) -> None:
    """Literals compiled into a statement (``!= 'x'``) and a parameter's default value are
    bound as SQLAlchemy would bind them; a value the caller passes wins over the default."""
    statement = DriverStatement(
        select(
            bindparam("greeting", "hello", type_=Text).label("greeting"),
            (literal_column("'a'", Text) != "x").label("differs"),
        )
    )
    async with begun(engine) as (connection, sql):
        defaulted = await sql.first(statement)
        given = await sql.first(statement, {"greeting": "bonjour"})
        await connection.rollback()
    assert defaulted is not None
    assert tuple(defaulted) == ("hello", True)
    assert given is not None
    assert tuple(given) == ("bonjour", True)


def test_an_expanding_parameter_is_refused_when_the_statement_is_compiled() -> None:
    statement = DriverStatement(
        select(group_totals.c.group_id).where(
            group_totals.c.currency.in_(bindparam("currencies", expanding=True))
        )
    )
    with pytest.raises(ValueError, match="expanding"):
        statement.compiled()
