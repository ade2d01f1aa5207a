"""A real PostgreSQL embedded in the data folder (the ``pgserver`` package), for the default run.

With no ``AEQUATIO_DATABASE_URL`` aequatio starts it in ``<data_dir>/pgdata``, listening only on
a Unix socket, and stops it when the last process using it exits. Several processes (API
workers, a worker) may share one: ``pgserver`` counts its handles.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

DATABASE_NAME = "aequatio"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, database: str = DATABASE_NAME) -> None:
        if not _IDENTIFIER.match(database):
            raise ValueError(f"not a plain database name: {database!r}")
        self._pgdata = data_dir.expanduser().resolve() / "pgdata"
        self._database = database
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the server, create the database if needed; return its asyncpg URL."""
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self._pgdata.parent / "run"))
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
        import pgserver  # noqa: PLC0415 - its import creates the runtime dir set just above

        logging.getLogger("pgserver").setLevel(logging.WARNING)
        self._pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        self._server = pgserver.get_server(self._pgdata, cleanup_mode="stop")
        self._server.psql(
            f"SELECT 'CREATE DATABASE {self._database}' "  # noqa: S608 - a checked identifier
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{self._database}')\\gexec"
        )
        return self.url

    def _forget_dead_handles(self) -> None:
        """Drop handles of processes that died without releasing them (killed, crashed).

        ``pgserver`` stops the server when the last handle is released; a stale handle would
        keep it running forever after a hard kill.
        """
        import psutil  # noqa: PLC0415 - a dependency of pgserver, needed only here

        handles = self._pgdata / ".handle_pids.json"
        if not handles.exists():
            return
        pids = json.loads(handles.read_text() or "[]")
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the embedded PostgreSQL is not running")
        socket_dir = parse_qs(urlparse(self._server.get_uri()).query)["host"][0]
        return f"postgresql+asyncpg://postgres@/{self._database}?host={socket_dir}"

    def stop(self) -> None:
        """Release this process's handle; the server stops when no process holds one."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None
