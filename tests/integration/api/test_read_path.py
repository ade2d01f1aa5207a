"""The API's read path: every query reads projections only, in a bounded number of statements.

The queries run against a database role that may only SELECT from schema ``read`` — touching a
write table would be a permission error — and a statement recorder counts what a page costs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from aequatio.application import commands
from aequatio.application.context import Principal
from aequatio.bootstrap import Application
from aequatio.domain.sharing import Payer, SplitMode, SplitRule
from aequatio.graphql import ids
from aequatio.graphql.context import Context
from aequatio.graphql.limits import QueryLimits
from aequatio.graphql.loaders import Loaders
from aequatio.graphql.read_store import ReadStore
from aequatio.graphql.schema import build_schema
from aequatio.persistence.database import create_engine
from tests.support.databases import admin
from tests.support.family import family
from tests.support.history import project_everything, rich_history

#: The whole read surface in one document is far above a client's cost limit; lift it here.
SCHEMA = build_schema(QueryLimits(max_cost=10**9, max_aliases=50))


@pytest.fixture
async def reader_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine logged in as a role with SELECT on schema ``read`` and nothing else."""
    role = f"aeq_reader_{uuid.uuid4().hex[:8]}"
    database = database_url.rsplit("/", 1)[1]
    await admin(f'CREATE ROLE "{role}" LOGIN')
    await admin(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
    owner = create_engine(database_url)
    async with owner.begin() as connection:
        await connection.exec_driver_sql(f'GRANT USAGE ON SCHEMA read TO "{role}"')
        await connection.exec_driver_sql(f'GRANT SELECT ON ALL TABLES IN SCHEMA read TO "{role}"')
    engine = create_engine(database_url.replace("postgres@", f"{role}@", 1))
    try:
        yield engine
    finally:
        await engine.dispose()
        async with owner.begin() as connection:
            await connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
        await owner.dispose()
        await admin(f'DROP ROLE IF EXISTS "{role}"')


async def run(engine: AsyncEngine, principal: Principal, query: str, **variables: Any) -> Any:
    store = ReadStore(engine)
    context = Context(
        principal=principal,
        bus=None,  # type: ignore[arg-type]  # queries never touch the bus
        store=store,
        loaders=Loaders.create(store),
        correlation_id=uuid.uuid4(),
    )
    result = await SCHEMA.execute(query, variable_values=variables, context_value=context)
    assert result.errors is None, result.errors
    return result.data


@contextmanager
def recorded(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


EVERY_QUERY = """
query($group: ID!, $expense: ID!, $me: ID!) {
  me { id name email }
  groups { id }
  group(id: $group) { name currency memberCount myRole totals { currency amountCents }
                      members(includeFormer: true) { role user { name } } }
  expenses(groupId: $group, first: 50) { edges { node { id description createdBy { name }
           payers { amountCents user { name } } shares { user { name } }
           split { mode participants { name } weights { value user { name } } } } }
           pageInfo { hasNextPage endCursor } }
  balances(groupId: $group, period: {start: "2026-01-01", end: "2026-04-01"}) {
           currency netCents user { name } }
  splits(groupId: $group) { id status balances { netCents }
           transfers { amountCents from { name } to { name } }
           converted { currency balances { netCents } } adjustments { currency }
           requestedBy { name } }
  invoices(groupId: $group) { id status total { currency amountCents }
           lines { netCents user { name } } issuedBy { name } }
  activity(groupId: $group, first: 50) {
           edges { node { eventType summary details actor { name } } } }
  expense: node(id: $expense) { id ... on Expense { group { name } } }
  user: node(id: $me) { id ... on User { name } }
}"""


async def test_every_query_reads_projections_only(
    application: Application, reader_engine: AsyncEngine
) -> None:
    history = await rich_history(application.bus)
    await project_everything(application.engine)
    owner = history.driver.family.owner
    any_expense = next(iter(history.expenses.values()))

    data = await run(
        reader_engine,
        owner.principal,
        EVERY_QUERY,
        group=ids.encode("Group", history.driver.family.group_id),
        expense=ids.encode("Expense", any_expense),
        me=ids.encode("User", owner.user_id),
    )

    assert data["me"]["email"] is not None
    assert data["expenses"]["edges"]
    assert data["invoices"]
    assert data["activity"]["edges"]


async def test_a_page_of_fifty_expenses_costs_a_bounded_number_of_statements(
    application: Application, reader_engine: AsyncEngine
) -> None:
    fam = await family(application.bus, "Ann", "Ben", "Cai", "Dee")
    people = [m.user_id for m in fam.members]
    for index in range(50):
        await application.bus.handle(
            commands.AddExpense(
                group_id=fam.group_id,
                amount_cents=1_000 + index,
                currency="EUR",
                description=f"expense {index}",
                incurred_on=date(2026, 1, 1 + index % 28),
                payers=(Payer(people[index % 4], 600 + index), Payer(people[(index + 1) % 4], 400)),
                split=SplitRule(SplitMode.EQUAL, participants=tuple(people[: 2 + index % 3])),
            ),
            fam.members[index % 4].principal,
        )
    await project_everything(application.engine)
    page = """
    query($group: ID!) { expenses(groupId: $group, first: 50) { edges { node {
      description createdBy { name } payers { amountCents user { name } }
      shares { amountCents user { name } } split { participants { name } }
    } } } }"""

    with recorded(reader_engine) as statements:
        data = await run(
            reader_engine, fam.owner.principal, page, group=ids.encode("Group", fam.group_id)
        )

    assert len(data["expenses"]["edges"]) == 50
    # who is asking + membership + the page + one batch of users, whatever the page holds
    assert len(statements) <= 4, statements
