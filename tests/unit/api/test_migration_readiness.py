"""``/readyz``'s migrations check: ready at the head and ahead of it (a rolling upgrade runs
the migrations first), unready behind it."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from aequatio.api.health import Migrations
from aequatio.persistence.database import alembic_config

MIGRATIONS = Migrations("0005", frozenset({"0001", "0002", "0003", "0004", "0005"}))


def test_ready_at_the_head() -> None:
    assert MIGRATIONS.check("0005") == "ok"


def test_ready_ahead_of_the_head_during_a_rolling_upgrade() -> None:
    assert MIGRATIONS.check("0006") == "ok"


def test_unready_behind_the_head_or_unmigrated() -> None:
    assert MIGRATIONS.check("0004") == "at 0004, head is 0005"
    assert MIGRATIONS.check(None) == "at no revision, head is 0005"


def test_the_repository_s_migrations_are_read_whole() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("postgresql+asyncpg://x@localhost/x"))
    migrations = Migrations.of(scripts)
    assert migrations.head == scripts.get_current_head()
    assert {"0001", migrations.head} <= migrations.known
