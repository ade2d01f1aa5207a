"""Smoke run on the embedded PostgreSQL: start, migrate, handle a command, stop cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest

from aequatio.bootstrap import bootstrap, open_database
from aequatio.config import Settings
from aequatio.persistence.database import migrate
from tests.support.family import family


def is_running(pid: int) -> bool:
    """Stopped servers may linger as zombies until the container's init reaps them."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.embedded
async def test_the_embedded_database_runs_commands_and_stops_on_close(tmp_path: Path) -> None:
    settings = Settings(database_url=None, data_dir=tmp_path / "data")
    database = await asyncio.to_thread(open_database, settings)
    assert database.embedded is not None
    postmaster = int((tmp_path / "data" / "pgdata" / "postmaster.pid").read_text().split()[0])
    assert is_running(postmaster)
    try:
        await asyncio.to_thread(migrate, database.url)
        application = bootstrap(settings, database_url=database.url)
        try:
            fam = await family(application.bus, "Ann", "Ben")
            assert fam.others
        finally:
            await application.aclose()
    finally:
        await asyncio.to_thread(database.close)
    assert not is_running(postmaster)
