"""Settings, read from ``AEQUATIO_*`` environment variables (and a ``.env`` file if present)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Without ``database_url`` aequatio runs an embedded PostgreSQL in ``data_dir``."""

    model_config = SettingsConfigDict(env_prefix="AEQUATIO_", env_file=".env", extra="ignore")

    environment: Environment = Environment.DEVELOPMENT
    #: ``postgresql+asyncpg://user:pass@host:5432/db``; unset: embedded PostgreSQL.
    database_url: str | None = None
    #: ``amqp://user:pass@host:5672/vhost``; unset: in-process transport.
    amqp_url: str | None = None
    data_dir: Path = Path(".aequatio")
    #: Background roles ``aequatio serve`` runs beside the API when a broker is configured
    #: (comma-separated: dispatcher, projections, all). Without a broker it runs them all.
    serve_roles: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "INFO"
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None
