"""Fixtures of the fault suite: a fresh database and a fresh broker virtual host per test, the
application on them, and a seeded random generator whose seed is printed when a test fails.

Everything runs against the real PostgreSQL and RabbitMQ on this machine; a fault is injected
only into what the test itself started (its processes, its broker user, its proxy, its
database's backends), never into the servers others use.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Generator, Iterator

import pytest

from aequatio.bootstrap import Application, bootstrap
from aequatio.config import Settings
from tests.support.broker import virtual_host
from tests.support.databases import copied_database, migrated_template
from tests.support.faultscale import SEED_VARIABLE, seed

SEED = pytest.StashKey[int]()


@pytest.fixture(scope="session")
def fault_template() -> Iterator[str]:
    """A migrated database each test's database is copied from."""
    with migrated_template("aeq_ftpl_") as name:
        yield name


@pytest.fixture
async def database_url(fault_template: str) -> AsyncIterator[str]:
    async with copied_database(fault_template, "aeq_f_") as url:
        yield url


@pytest.fixture
async def application(database_url: str) -> AsyncIterator[Application]:
    app = bootstrap(
        Settings(database_pool_size=20, database_max_overflow=5), database_url=database_url
    )
    yield app
    await app.aclose()


@pytest.fixture
def amqp_url() -> Iterator[str]:
    """A virtual host of this test alone (its queues and dead letters start empty)."""
    with virtual_host("aequatio-fault") as url:
        yield url


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """The test's only source of randomness; ``AEQUATIO_FAULT_SEED`` replays a run."""
    chosen = seed()
    request.node.stash[SEED] = chosen
    return random.Random(chosen)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report names its seed."""
    report = yield
    chosen = item.stash.get(SEED, None)
    if report.failed and chosen is not None:
        report.sections.append(("fault seed", f"replay with {SEED_VARIABLE}={chosen}"))
    return report
