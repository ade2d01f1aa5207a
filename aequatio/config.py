"""Settings, read from ``AEQUATIO_*`` environment variables (and a ``.env`` file if present)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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
    #: ``json`` (one object a line) or ``console`` (readable); default: json in production,
    #: console in development.
    log_format: Literal["json", "console"] | None = None
    #: The API's event loop. uvloop 0.23 keeps ~70 KB of native memory per closed WebSocket
    #: connection (measured: 1,000 connections, +70 MiB; asyncio: flat), hence asyncio.
    event_loop: Literal["asyncio", "uvloop"] = "asyncio"
    #: The loop of ``aequatio worker`` and ``aequatio replay`` (no WebSockets there). uvloop's
    #: transports cost a third of asyncio's CPU per round trip (measured: 36 against 86 us a
    #: query), and the dispatcher and consumers make one per message.
    worker_event_loop: Literal["asyncio", "uvloop"] = "uvloop"
    #: GraphiQL at GET /graphql for browsers; default: on in development, off in production.
    graphiql: bool | None = None
    #: Schema introspection (integrators need it); field suggestions go with it.
    introspection: bool = True
    #: How long ``consistentWith`` waits for the projections before answering ``stale``.
    consistency_timeout_seconds: float = Field(default=2.0, ge=0, le=30)
    #: Largest accepted request body (and WebSocket message).
    max_body_bytes: int = Field(default=262_144, ge=1024)
    #: OTLP/HTTP collector (``http://collector:4318``); unset: spans are not exported.
    otlp_endpoint: str | None = None
    #: Where ``aequatio worker`` serves its ``/metrics`` (0: nowhere); the API uses its own port.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9100, ge=0, le=65535)
    #: How often a process measures outbox lag, projection lag and saga states for ``/metrics``.
    observe_every_seconds: float = Field(default=10.0, gt=0)
    #: ``/readyz`` turns unready when the oldest unpublished event is older than this.
    ready_max_outbox_age_seconds: float = Field(default=60.0, gt=0)
    #: On SIGTERM: how long requests, WebSockets and messages in hand may take to finish.
    shutdown_grace_seconds: int = Field(default=10, ge=0, le=3600)
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)

    # --- API authentication: OAuth2 bearer tokens (JWT), see ``aequatio.api.auth`` ---
    #: The one signature algorithm accepted; a token whose header names any other is refused.
    #: HS256: a shared secret (local tokens from ``aequatio token``); RS256/ES256: the public
    #: key of an identity provider (``jwt_public_key`` or ``jwt_jwks_url``).
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] = "HS256"
    #: HS256 secret (at least 32 bytes). Unset in development: generated once and kept in
    #: ``<data_dir>/jwt-secret``; unset in production: a configuration error.
    jwt_secret: SecretStr | None = None
    #: RS256/ES256: the PEM public key itself, or the path of a PEM file.
    jwt_public_key: str | None = None
    #: RS256/ES256: the identity provider's JWKS document (https; http only on loopback).
    #: Keys are cached and chosen by the token's ``kid``. Exclusive with ``jwt_public_key``.
    jwt_jwks_url: str | None = None
    #: Required ``iss`` claim.
    jwt_issuer: str = "aequatio"
    #: Required ``aud`` claim (the token must name this audience).
    jwt_audience: str = "aequatio-api"
    #: Clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    #: Longer tokens are refused before any decoding.
    jwt_max_token_bytes: int = Field(default=8192, ge=256)

    @property
    def graphiql_enabled(self) -> bool:
        return (
            self.graphiql
            if self.graphiql is not None
            else (self.environment is Environment.DEVELOPMENT)
        )

    @property
    def log_format_resolved(self) -> Literal["json", "console"]:
        if self.log_format is not None:
            return self.log_format
        return "console" if self.environment is Environment.DEVELOPMENT else "json"

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None
