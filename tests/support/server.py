"""The real server an end-to-end test talks to."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Server:
    url: str
    secret: str
    database_url: str
    pid: int
