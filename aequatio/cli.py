"""The ``aequatio`` command: serve, migrate, and the published schemas."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from aequatio.api import server
from aequatio.api.auth import ALL_SCOPES, AuthConfigurationError, issue_token
from aequatio.bootstrap import bootstrap, build_transport, open_database
from aequatio.config import Settings
from aequatio.demo import DemoReport, load_demo
from aequatio.events.catalog import EVENTS
from aequatio.events.schemas import Report, check, export
from aequatio.graphql import sdl
from aequatio.graphql.schema import build_schema
from aequatio.observability import heap
from aequatio.observability.exposition import serve_metrics
from aequatio.observability.logging import configure_logging, uvicorn_log_config
from aequatio.observability.tracing import configure_tracing
from aequatio.persistence.database import REPOSITORY_ROOT, create_engine
from aequatio.persistence.database import migrate as run_migrations
from aequatio.projections.base import Projection
from aequatio.projections.catalog import PROJECTIONS, by_name
from aequatio.projections.replay import replay as run_replay
from aequatio.workers import Role, Workers

app = typer.Typer(no_args_is_help=True, help="aequatio: a family's expenses, split to the cent.")
schema_app = typer.Typer(no_args_is_help=True, help="Published event schemas (schemas/).")
app.add_typer(schema_app, name="schema")

DEFAULT_SCHEMAS = REPOSITORY_ROOT / "schemas"
SchemasRoot = Annotated[Path, typer.Option(help="Folder of the published schemas.")]

log = logging.getLogger("aequatio")


@app.callback()
def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format_resolved)


@app.command("migrate")
def migrate_command(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Migrate the configured database (or the embedded one) to REVISION."""
    database = open_database(Settings())
    try:
        run_migrations(database.url, revision)
        typer.echo(f"database at {revision}")
    finally:
        database.close()


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="API processes.")] = 1,
) -> None:
    """Run the API; without AEQUATIO_DATABASE_URL on an embedded PostgreSQL in the data folder."""
    settings = Settings()
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it into a normal exit so the
    # embedded database below is released and the process exits 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    database = open_database(settings)
    try:
        run_migrations(database.url)
        # Worker processes read the URL from the environment, like any configured server.
        os.environ["AEQUATIO_DATABASE_URL"] = database.url
        where = (
            "embedded PostgreSQL in " + str(settings.data_dir)
            if database.embedded
            else "PostgreSQL"
        )
        log.info("database ready (%s)", where)
        address = f"http://{host or settings.host}:{port or settings.port}/"
        log.info("dashboard at %s (GraphQL at %sgraphql)", address, address)
        server.run(
            "aequatio.api.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            log_level=settings.log_level.lower(),
            ws_max_size=settings.max_body_bytes,
            # No permessage-deflate: its zlib state costs each WebSocket ~100 KB and each push
            # a compression per subscriber, to shrink messages of a few hundred bytes.
            ws_per_message_deflate=False,
            loop=settings.event_loop,
            log_config=uvicorn_log_config(),
            timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        )
    finally:
        database.close()


@app.command()
def worker(
    role: Annotated[
        list[str] | None,
        typer.Option(
            help="dispatcher, projections, sagas or all (repeatable).", show_default="all"
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Port of this worker's /metrics (0: none).", show_default="9100"),
    ] = None,
) -> None:
    """Run background roles against RabbitMQ (AEQUATIO_AMQP_URL) until SIGTERM."""
    settings = Settings()
    if metrics_port is not None:
        settings = settings.model_copy(update={"worker_metrics_port": metrics_port})
    if not settings.amqp_url:
        typer.echo(
            "aequatio worker needs AEQUATIO_AMQP_URL (the in-process transport only "
            "works inside `aequatio serve`)",
            err=True,
        )
        raise typer.Exit(2)
    roles = Role.parse_all(role or ["all"])
    database = open_database(settings)
    try:
        run_loop(_run_workers(settings, database.url, roles), settings.worker_event_loop)
    finally:
        database.close()


def run_loop(main: Coroutine[Any, Any, None], loop: str) -> None:
    """Run ``main`` to completion on the named event loop."""
    if loop == "uvloop":
        import uvloop  # noqa: PLC0415 - only the processes that choose it load it

        uvloop.run(main)
    else:
        asyncio.run(main)


async def _run_workers(settings: Settings, database_url: str, roles: set[Role]) -> None:
    """Run until SIGTERM or SIGINT, then stop taking messages and finish those in hand within
    the shutdown grace; what is still unfinished then goes back to its queue (never lost)."""
    tracer = configure_tracing("aequatio-worker", settings.otlp_endpoint)
    serve_metrics(settings.worker_metrics_host, settings.worker_metrics_port)
    application = bootstrap(settings, database_url=database_url)
    workers = Workers(
        application.engine,
        build_transport(settings),
        roles,
        bus=application.bus,
        observe_every=settings.observe_every_seconds,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await workers.start()
        heap.settle()  # what startup built is never walked by a collection again
        await stop.wait()
        log.info("stopping: finishing the work in hand")
    finally:
        try:
            await asyncio.wait_for(workers.stop(), settings.shutdown_grace_seconds)
        except TimeoutError:
            log.warning(
                "work in hand not finished after %.0fs: it goes back to its queue",
                settings.shutdown_grace_seconds,
            )
        await application.aclose()
        tracer.shutdown()
    log.info("stopped")


@app.command()
def demo() -> None:
    """Load a sample family (Ann, Ben, Cai, Dee) with four months of expenses; sign in on the
    development dashboard as one of them. Loading again in the same month changes nothing."""
    settings = Settings()
    database = open_database(settings)
    try:
        run_migrations(database.url)
        report = asyncio.run(_demo(settings, database.url))
    finally:
        database.close()
    typer.echo(
        f"loaded {report.expenses} expenses from {report.first_month:%B %Y} for "
        f"{', '.join(report.people)}: sign in on the dashboard as {report.people[0]}"
    )


async def _demo(settings: Settings, database_url: str) -> DemoReport:
    application = bootstrap(settings, database_url=database_url)
    try:
        return await load_demo(application.bus, application.engine, datetime.now(UTC).date())
    finally:
        await application.aclose()


@app.command()
def replay(
    projection: Annotated[list[str] | None, typer.Argument(help="Projections to rebuild.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Rebuild every projection.")] = False,
) -> None:
    """Rebuild projections from the event store and swap them in while queries keep answering."""
    names = [p.name for p in PROJECTIONS] if all_ else (projection or [])
    if not names:
        typer.echo("name a projection or pass --all", err=True)
        raise typer.Exit(2)
    chosen = [by_name(name) for name in names]
    settings = Settings()
    database = open_database(settings)
    try:
        run_migrations(database.url)
        run_loop(_replay(database.url, chosen), settings.worker_event_loop)
    finally:
        database.close()


async def _replay(database_url: str, projections: list[Projection]) -> None:
    engine = create_engine(database_url)
    try:
        for chosen in projections:
            report = await run_replay(engine, chosen, EVENTS)
            typer.echo(
                f"{report.projection}: {report.built} events replayed, "
                f"{report.caught_up} caught up at the swap, live consumption paused "
                f"{report.paused:.2f}s"
            )
    finally:
        await engine.dispose()


@app.command("token")
def token_command(
    sub: Annotated[str, typer.Option("--sub", help="The subject: who the token speaks for.")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="A scope to grant (repeatable).", show_default="all"),
    ] = None,
    ttl: Annotated[int, typer.Option("--ttl", min=1, help="Lifetime in seconds.")] = 3600,
) -> None:
    """Issue a local HS256 bearer token for the API; the token is the last line printed."""
    granted = set(scope) if scope else set(ALL_SCOPES)
    unknown = sorted(granted - ALL_SCOPES)
    if unknown:
        typer.echo(
            f"unknown scope(s): {', '.join(unknown)} (known: {', '.join(sorted(ALL_SCOPES))})",
            err=True,
        )
        raise typer.Exit(2)
    try:
        token = issue_token(Settings(), sub, granted, ttl)
    except (AuthConfigurationError, ValueError) as error:
        typer.echo(f"cannot issue a token: {error}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"subject {sub}, scopes {' '.join(sorted(granted))}, valid for {ttl} s", err=True)
    typer.echo(token)


def _fail_on(*reports: Report) -> None:
    problems = [line for report in reports for line in report.lines()]
    for line in problems:
        typer.echo(line, err=True)
    if problems:
        raise typer.Exit(1)


@schema_app.command("export")
def schema_export(root: SchemasRoot = DEFAULT_SCHEMAS) -> None:
    """Write the event JSON Schemas and the GraphQL SDL (refuses breaking changes)."""
    _fail_on(export(EVENTS, root), sdl.export(build_schema(), root))
    typer.echo(f"schemas written to {root}")


@schema_app.command("check")
def schema_check(root: SchemasRoot = DEFAULT_SCHEMAS) -> None:
    """Fail when the code and the published schemas (events, GraphQL) differ."""
    _fail_on(check(EVENTS, root), sdl.check(build_schema(), root))
    typer.echo("schemas match the code")
