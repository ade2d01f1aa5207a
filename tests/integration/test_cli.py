"""The ``aequatio`` command against the real database."""

from __future__ import annotations

import os
import subprocess
import sys

from aequatio.persistence.database import REPOSITORY_ROOT


def aequatio(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-m", "aequatio", *args],
        cwd=REPOSITORY_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_migrate_brings_a_configured_database_to_head(empty_database_url: str) -> None:
    done = aequatio("migrate", env={"AEQUATIO_DATABASE_URL": empty_database_url})
    assert done.returncode == 0, done.stderr
    assert "database at head" in done.stdout


def test_schema_check_passes_on_the_committed_schemas() -> None:
    done = aequatio("schema", "check")
    assert done.returncode == 0, done.stderr
