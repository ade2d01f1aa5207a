"""deploy/postgres/roles.sql on a real, migrated database: what each role may and may not do.

Roles are cluster-wide, so each test creates its own (the file's role names with a prefix of
its own) and drops them afterwards, after ``DROP OWNED BY`` in the one database they were
granted anything in.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.bootstrap import bootstrap
from aequatio.config import Settings
from aequatio.events.catalog import EVENTS
from aequatio.outbox.dispatcher import OutboxDispatcher
from aequatio.outbox.inprocess import InProcessTransport
from aequatio.persistence.database import REPOSITORY_ROOT, create_engine, downgrade, migrate
from aequatio.projections.catalog import PROJECTIONS
from aequatio.projections.replay import replay
from tests.support.databases import admin
from tests.support.history import project_everything, rich_history

ROLES_SQL = (REPOSITORY_ROOT / "deploy" / "postgres" / "roles.sql").read_text()
INSUFFICIENT_PRIVILEGE = "42501"
NEW_READ_USER = (
    "INSERT INTO read.users (user_id, subject, name, email, registered_at) "
    "VALUES (gen_random_uuid(), gen_random_uuid()::text, 'Eve', 'eve@example.org', now())"
)


@dataclass(frozen=True)
class Roles:
    migrator: str
    writer: str
    reader: str
    #: The test database as its superuser (a plain asyncpg DSN).
    superuser_dsn: str
    #: The test database's SQLAlchemy URL (as the superuser).
    database_url: str

    def url(self, role: str) -> str:
        """The test database's URL, logged in as ``role`` (local trust authentication)."""
        return (
            make_url(self.database_url)
            .set(username=role, password=None)
            .render_as_string(hide_password=False)
        )

    @property
    def sql(self) -> str:
        return (
            ROLES_SQL.replace("aequatio_migrator", self.migrator)
            .replace("aequatio_writer", self.writer)
            .replace("aequatio_api_reader", self.reader)
        )

    async def apply(self) -> None:
        await superuser(self.superuser_dsn, self.sql)


async def superuser(dsn: str, sql: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture
async def roles(database_url: str) -> AsyncIterator[Roles]:
    prefix = f"aeq{uuid.uuid4().hex[:10]}"
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    created = Roles(
        migrator=f"{prefix}_migrator",
        writer=f"{prefix}_writer",
        reader=f"{prefix}_api_reader",
        superuser_dsn=dsn,
        database_url=database_url,
    )
    assert "aequatio_" not in created.sql  # every role name replaced
    names = f'"{created.migrator}", "{created.writer}", "{created.reader}"'
    try:
        await created.apply()
        await created.apply()  # idempotent
        yield created
    finally:
        # The database is dropped after this; the roles' grants and default privileges in it
        # must go first, or the roles cannot be dropped. One role at a time: DROP OWNED BY all
        # three at once trips over the default ACL rows that name several of them.
        try:
            await superuser(dsn, f"REASSIGN OWNED BY {names} TO CURRENT_USER")
            for role in (created.reader, created.writer, created.migrator):
                await superuser(dsn, f'DROP OWNED BY "{role}"')
        finally:
            await admin(f"DROP ROLE IF EXISTS {names}")


@pytest.fixture
async def engines(roles: Roles) -> AsyncIterator[dict[str, AsyncEngine]]:
    made = {
        "migrator": create_engine(roles.url(roles.migrator)),
        "writer": create_engine(roles.url(roles.writer)),
        "reader": create_engine(roles.url(roles.reader)),
    }
    try:
        yield made
    finally:
        for engine in made.values():
            await engine.dispose()


async def allowed(engine: AsyncEngine, sql: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(sql))


async def refused(engine: AsyncEngine, sql: str) -> None:
    """The statement fails for lack of a privilege (not a trigger, not a missing table)."""
    with pytest.raises(DBAPIError) as raised:
        async with engine.begin() as connection:
            await connection.execute(text(sql))
    assert getattr(raised.value.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE, raised.value


async def test_the_api_reader_reads_the_read_schema_and_nothing_else(
    engines: dict[str, AsyncEngine],
) -> None:
    reader = engines["reader"]

    await allowed(reader, "SELECT count(*) FROM read.users")
    await allowed(reader, "SELECT count(*) FROM read.processed_events")

    await refused(reader, "SELECT position FROM public.events_store LIMIT 1")
    await refused(reader, "SELECT id FROM public.users LIMIT 1")
    await refused(reader, NEW_READ_USER)
    await refused(reader, "DELETE FROM read.users")
    await refused(reader, "CREATE TABLE read.scratch (x int)")
    await refused(reader, "CREATE TEMPORARY TABLE scratch (x int)")


async def test_the_writer_runs_commands_projections_and_the_dispatcher(
    roles: Roles, engines: dict[str, AsyncEngine]
) -> None:
    application = bootstrap(Settings(), database_url=roles.url(roles.writer))
    transport = InProcessTransport()
    await transport.start()
    try:
        # The command side, then every projection over the whole history.
        await rich_history(application.bus)
        stored = await project_everything(application.engine)
        assert stored

        # The dispatcher: reads and updates outbox rows, prunes published ones.
        dispatcher = OutboxDispatcher(application.engine, transport, EVENTS)
        assert await dispatcher.dispatch_once() > 0
        await allowed(
            application.engine,
            "UPDATE events_outbox SET published_at = now() - interval '400 days'",
        )
        assert await dispatcher.prune() > 0
        count, _ = await dispatcher.pending()  # the lag /readyz and the metrics report
        assert count == 0
    finally:
        await transport.close()
        await application.aclose()

    writer = engines["writer"]
    await allowed(
        writer,
        "INSERT INTO saga_states (saga, key, status, data, version, updated_at) "
        "VALUES ('saga.test', 'k', 'running', '{}', 1, now()) "
        "ON CONFLICT (saga, key) DO UPDATE SET version = saga_states.version + 1",
    )
    await allowed(writer, "SELECT count(*) FROM read.users")
    # `aequatio serve` checks the revision at start-up: at head, that is all it does.
    await asyncio.to_thread(migrate, roles.url(roles.writer))

    # History is never rewritten, by privilege before the trigger even runs.
    await refused(writer, "UPDATE events_store SET event_type = event_type")
    await refused(writer, "DELETE FROM events_store")
    await refused(writer, "TRUNCATE events_outbox")
    await refused(writer, "DELETE FROM users")
    await refused(writer, "UPDATE alembic_version SET version_num = version_num")
    await refused(writer, "CREATE TABLE public.scratch (x int)")
    await refused(writer, "CREATE TABLE read.scratch (x int)")
    await refused(writer, "ALTER TABLE read.users ADD COLUMN scratch int")


async def test_the_migrator_owns_the_schema_and_new_tables_get_their_grants(
    roles: Roles, engines: dict[str, AsyncEngine]
) -> None:
    # Tables the test template created as the superuser now belong to the migrator.
    owners = await fetch(
        roles,
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname IN ('public', 'read')",
    )
    assert owners == [roles.migrator]

    # The migrator can drop and re-create them: every read table and saga_states ...
    migrator_url = roles.url(roles.migrator)
    await asyncio.to_thread(downgrade, migrator_url, "0002")
    await asyncio.to_thread(migrate, migrator_url)

    # ... and the default privileges grant the new ones before roles.sql runs again.
    await allowed(engines["reader"], "SELECT count(*) FROM read.users")
    await refused(engines["reader"], NEW_READ_USER)
    await allowed(engines["writer"], NEW_READ_USER)
    await allowed(
        engines["writer"],
        "INSERT INTO saga_states (saga, key, status, data, version, updated_at) "
        "VALUES ('saga.test', 'k', 'running', '{}', 1, now())",
    )

    # After roles.sql again: the reader holds nothing outside schema `read`, and the writer
    # only what the file grants on the sensitive tables.
    await roles.apply()
    assert await fetch(
        roles,
        "SELECT DISTINCT table_schema FROM information_schema.role_table_grants WHERE grantee = $1",
        roles.reader,
    ) == ["read"]
    writer_grants = await fetch(
        roles,
        "SELECT table_name || ':' || string_agg(privilege_type, ',' ORDER BY privilege_type) "
        "FROM information_schema.role_table_grants "
        "WHERE grantee = $1 AND table_schema = 'public' "
        "AND table_name IN ('events_store', 'alembic_version', 'events_outbox', 'users') "
        "GROUP BY table_name ORDER BY table_name",
        roles.writer,
    )
    assert writer_grants == [
        "alembic_version:SELECT",
        "events_outbox:DELETE,INSERT,SELECT,UPDATE",
        "events_store:INSERT,SELECT",
        "users:INSERT,SELECT,UPDATE",
    ]


async def fetch(roles: Roles, sql: str, *arguments: object) -> list[object]:
    """The first column of each row, as the superuser."""
    connection = await asyncpg.connect(roles.superuser_dsn, timeout=10)
    try:
        return [row[0] for row in await connection.fetch(sql, *arguments)]
    finally:
        await connection.close()


async def test_a_replay_keeps_every_role_s_grants_on_the_rebuilt_tables(
    roles: Roles, engines: dict[str, AsyncEngine]
) -> None:
    """``aequatio replay`` (run as the migrator) builds each table elsewhere and moves it in:
    the writer and the reader keep exactly the privileges they held before the swap."""
    application = bootstrap(Settings(), database_url=roles.url(roles.writer))
    try:
        await rich_history(application.bus)
        await project_everything(application.engine)
    finally:
        await application.aclose()
    grants = (
        "SELECT grantee || ':' || table_name || ':' || privilege_type "
        "FROM information_schema.role_table_grants "
        "WHERE table_schema = 'read' AND grantee = ANY($1::text[]) ORDER BY 1"
    )
    before = await fetch(roles, grants, [roles.writer, roles.reader])
    assert before

    migrator = create_engine(roles.url(roles.migrator))
    try:
        for projection in PROJECTIONS:
            await replay(migrator, projection, EVENTS)
    finally:
        await migrator.dispose()

    assert await fetch(roles, grants, [roles.writer, roles.reader]) == before
    await allowed(engines["writer"], NEW_READ_USER)
    await allowed(engines["reader"], "SELECT count(*) FROM read.monthly_balances")
    await refused(engines["reader"], NEW_READ_USER)
