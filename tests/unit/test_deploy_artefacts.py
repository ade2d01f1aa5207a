"""The deployment artefacts hold together: compose.yaml, the Prometheus configuration, the alert
rules and the Grafana dashboard parse; every alert and dashboard query names only metrics that
aequatio exports (the ops contract below, checked against aequatio/observability/metrics.py);
the Dockerfile passes hadolint; and the migration lint refuses unsafe DDL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs
from alembic.config import Config
from alembic.script import ScriptDirectory
from prometheus_client.metrics import MetricWrapperBase

from aequatio.observability import metrics

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent

#: The ops contract: every metric the dashboards and alert rules may use, with its type.
CONTRACT = {
    "aequatio_events_written_total": "counter",
    "aequatio_events_published_total": "counter",
    "aequatio_events_consumed_total": "counter",
    "aequatio_events_dead_lettered_total": "counter",
    "aequatio_consume_seconds": "histogram",
    "aequatio_event_lag_seconds": "histogram",
    "aequatio_outbox_pending": "gauge",
    "aequatio_outbox_oldest_age_seconds": "gauge",
    "aequatio_dispatcher_leader": "gauge",
    "aequatio_projection_lag_positions": "gauge",
    "aequatio_saga_states": "gauge",
    "aequatio_consumers": "gauge",
    "aequatio_live_subscriptions": "gauge",
    "aequatio_graphql_operations_total": "counter",
    "aequatio_graphql_operation_seconds": "histogram",
    "aequatio_gc_pause_seconds": "histogram",
}
#: Series a query may select: counters and gauges by name, histograms by their three series.
SERIES = {
    series: metric
    for metric, kind in CONTRACT.items()
    for series in (
        [f"{metric}_bucket", f"{metric}_sum", f"{metric}_count"]
        if kind == "histogram"
        else [metric]
    )
}
#: Outside aequatio, alert rules may use Prometheus' scrape health and RabbitMQ's queue depth.
EXTERNAL_IN_ALERTS = {"up", "rabbitmq_queue_messages"}
WORKER_ROLES = ("dispatcher", "projections", "sagas")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def selected_metrics(expression: str) -> set[str]:
    """The metric names a PromQL expression selects (it must parse)."""
    names: set[str] = set()

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"a selector without a metric name in {expression!r}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expression), visit)
    return names


def run(*command: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env} if env else None
    return subprocess.run(  # noqa: S603 - our own tools, fixed arguments
        [str(part) for part in command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=environment,
    )


def tool(name: str) -> Path:
    found = BIN / name
    if found.exists():
        return found
    located = shutil.which(name)
    assert located, f"{name} is not installed (make install puts it in .venv/bin)"
    return Path(located)


# -- the metrics contract ----------------------------------------------------------------------


def test_the_contract_is_what_the_code_exports() -> None:
    exported = {}
    for collector in vars(metrics).values():
        if isinstance(collector, MetricWrapperBase):
            family = next(iter(collector.describe()))
            name = family.name + ("_total" if family.type == "counter" else "")
            exported[name] = family.type
    assert {name: exported.get(name) for name in CONTRACT} == CONTRACT


# -- compose.yaml ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> Any:
    return load_yaml(ROOT / "compose.yaml")


def test_compose_runs_the_stores_migrations_api_and_one_service_per_role(compose: Any) -> None:
    services = compose["services"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["api"]["command"] == ["serve", "--host", "0.0.0.0"]  # noqa: S104
    assert services["api"]["environment"]["AEQUATIO_SERVE_ROLES"] == ""
    for role in WORKER_ROLES:
        command = services[role]["command"]
        assert command == ["worker", "--role", role, "--metrics-port", "9100"]
        # ... reachable by Prometheus from outside the container.
        assert services[role]["environment"]["AEQUATIO_WORKER_METRICS_HOST"] == "0.0.0.0"  # noqa: S104
    # The API and the workers start once the migrations (and the grants after them) are done.
    for name in ("api", *WORKER_ROLES):
        assert services[name]["depends_on"]["db-grants"] == {
            "condition": "service_completed_successfully"
        }
    assert services["db-grants"]["depends_on"]["migrate"] == {
        "condition": "service_completed_successfully"
    }


def test_compose_configures_production_without_secrets_in_the_file(compose: Any) -> None:
    interpolated = re.compile(r"\$\{[A-Z_]+:\?[^}]*\}")
    for name in ("migrate", "api", *WORKER_ROLES):
        environment = compose["services"][name]["environment"]
        assert environment["AEQUATIO_ENVIRONMENT"] == "production"
        assert environment["AEQUATIO_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert environment["AEQUATIO_AMQP_URL"].startswith("amqp://")
        # Passwords come from the env file (compose --env-file deploy/.env), never the file.
        assert interpolated.search(environment["AEQUATIO_DATABASE_URL"])
        assert interpolated.search(environment["AEQUATIO_AMQP_URL"])
    assert interpolated.fullmatch(compose["services"]["api"]["environment"]["AEQUATIO_JWT_SECRET"])
    # The application connects as the least-privileged writer; only `migrate` as the owner.
    assert (
        "aequatio_migrator:"
        in compose["services"]["migrate"]["environment"]["AEQUATIO_DATABASE_URL"]
    )
    for name in ("api", *WORKER_ROLES):
        url = compose["services"][name]["environment"]["AEQUATIO_DATABASE_URL"]
        assert "aequatio_writer:" in url


def test_observability_is_optional_and_mounts_the_deploy_files(compose: Any) -> None:
    services = compose["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"]
    for name in services:
        if name not in {"prometheus", "grafana"}:
            assert "profiles" not in services[name], name
    mounted = {
        volume.split(":")[1]: volume.split(":")[0]
        for volume in services["prometheus"]["volumes"] + services["grafana"]["volumes"]
        if volume.startswith("./")
    }
    assert mounted["/etc/prometheus/prometheus.yml"] == "./deploy/prometheus/prometheus.yml"
    assert mounted["/etc/prometheus/alerts.yml"] == "./deploy/prometheus/alerts.yml"
    assert mounted["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert any(source.endswith("aequatio-dashboard.json") for source in mounted.values())


def test_every_file_compose_mounts_exists(compose: Any) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            if volume.startswith("./"):
                assert (ROOT / volume.split(":")[0]).exists(), f"{name} mounts {volume}"


def test_the_env_example_names_every_variable_compose_requires(compose: Any) -> None:
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (ROOT / "compose.yaml").read_text()))
    example = {
        line.split("=", 1)[0]
        for line in (DEPLOY / "env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert required <= example


# -- Prometheus --------------------------------------------------------------------------------


def test_prometheus_scrapes_the_api_each_worker_and_rabbitmq() -> None:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}

    def targets(job: dict[str, Any]) -> list[tuple[str, int]]:
        found = [
            (host, int(port))
            for static in job.get("static_configs", [])
            for host, port in (target.rsplit(":", 1) for target in static["targets"])
        ]
        found += [
            (name, int(dns["port"]))
            for dns in job.get("dns_sd_configs", [])
            for name in dns["names"]
        ]
        return found

    assert jobs["aequatio-api"]["metrics_path"] == "/metrics"
    assert targets(jobs["aequatio-api"]) == [("api", 8000)]
    for role in WORKER_ROLES:
        job = jobs[f"aequatio-worker-{role}"]
        assert job["metrics_path"] == "/metrics"
        assert targets(job) == [(role, 9100)]
    assert targets(jobs["rabbitmq"]) == [("rabbitmq", 15692)]
    assert jobs["rabbitmq-per-object"]["metrics_path"] == "/metrics/per-object"
    assert targets(jobs["rabbitmq-per-object"]) == [("rabbitmq", 15692)]


def alert_rules() -> Iterator[dict[str, Any]]:
    for group in load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"]:
        yield from group["rules"]


def test_alert_rules_use_only_exported_metrics() -> None:
    allowed = set(SERIES) | EXTERNAL_IN_ALERTS
    for rule in alert_rules():
        used = selected_metrics(rule["expr"])
        assert used, rule["alert"]
        assert used <= allowed, f"{rule['alert']}: {sorted(used - allowed)}"
        assert rule["labels"]["severity"] in {"page", "ticket"}
        assert rule["annotations"]["summary"]


def test_alert_rules_cover_the_operations_issue() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}

    def expression(name: str) -> str:
        return " ".join(str(rules[name]["expr"]).split())

    assert expression("AequatioOutboxLag") == "max(aequatio_outbox_oldest_age_seconds) > 60"
    assert rules["AequatioOutboxLag"]["for"] == "5m"
    assert expression("AequatioDispatcherMissing").startswith("max(aequatio_dispatcher_leader) < 1")
    assert rules["AequatioDispatcherMissing"]["for"] == "2m"
    # The regex reaches PromQL as ".*\\.dlq" (a literal dot before dlq).
    assert 'queue=~".*\\\\.dlq"' in expression("AequatioDeadLetterQueueNotEmpty")
    assert "increase(aequatio_events_dead_lettered_total[10m])" in expression(
        "AequatioEventsDeadLettered"
    )
    assert expression("AequatioWorkerDown") == 'up{job=~"aequatio-worker.*"} == 0'
    assert expression("AequatioQueueWithoutConsumer") == "sum by (queue) (aequatio_consumers) == 0"
    assert expression("AequatioGraphQLErrorRate") == (
        'sum(rate(aequatio_graphql_operations_total{outcome="error"}[5m])) '
        "/ sum(rate(aequatio_graphql_operations_total[5m])) > 0.05"
    )
    assert "aequatio_projection_lag_positions" in expression("AequatioProjectionLag")
    assert expression("AequatioProjectionLag").endswith("> 1000")
    assert rules["AequatioProjectionLag"]["for"] == "10m"


def test_the_dead_letter_regex_matches_only_dead_letter_queues() -> None:
    rule = next(r for r in alert_rules() if r["alert"] == "AequatioDeadLetterQueueNotEmpty")
    parsed = promql_parser.parse(rule["expr"])
    matchers: list[str] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers.extend(m.value for m in node.matchers.matchers if m.name == "queue")

    promql_parser.walk(parsed, visit)
    (pattern,) = matchers
    assert re.fullmatch(pattern, "projection.balances.dlq")
    assert not re.fullmatch(pattern, "projection.balances")
    assert not re.fullmatch(pattern, "projection.xdlq")


# -- Grafana -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard() -> Any:
    return json.loads((DEPLOY / "grafana" / "aequatio-dashboard.json").read_text())


def dashboard_queries(dashboard: Any) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((\w+),\s*\w+\)", variable["definition"])
            assert found, variable["definition"]
            yield f"variable {variable['name']}", found.group(1)


def promql(grafana_expression: str) -> str:
    """Grafana's interval macros replaced by a duration, so that the expression parses."""
    return re.sub(r"\$__(rate_)?interval|\$__range", "5m", grafana_expression)


def test_the_dashboard_queries_only_exported_metrics(dashboard: Any) -> None:
    used: set[str] = set()
    for where, expression in dashboard_queries(dashboard):
        names = selected_metrics(promql(expression))
        assert names <= set(SERIES), f"{where}: {sorted(names - set(SERIES))}"
        used |= names
    # ... and shows every one of them.
    assert {SERIES[name] for name in used} == set(CONTRACT)


def test_the_dashboard_is_schema_39_on_the_prometheus_variable(dashboard: Any) -> None:
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"]
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"], panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_grafana_provisioning_loads_the_dashboard_and_prometheus(compose: Any) -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    (source,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True
    (provider,) = load_yaml(provisioning / "dashboards" / "aequatio.yml")["providers"]
    dashboards_dir = provider["options"]["path"]
    mounts = [v.split(":")[1] for v in compose["services"]["grafana"]["volumes"]]
    assert f"{dashboards_dir}/aequatio-dashboard.json" in mounts


# -- the image ---------------------------------------------------------------------------------


def test_hadolint_passes_on_the_dockerfile() -> None:
    result = run(tool("hadolint"), "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_the_api_unprivileged_with_a_health_check() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", dockerfile, flags=re.MULTILINE)
    assert stages == [("python:3.11-slim", "builder"), ("python:3.11-slim", "runtime")]
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert re.search(r"^USER 10001:10001$", runtime, flags=re.MULTILINE)
    assert "/healthz" in runtime.split("HEALTHCHECK", 1)[1]
    assert 'ENTRYPOINT ["aequatio"]' in runtime
    assert 'CMD ["serve", "--host", "0.0.0.0"]' in runtime
    for needed in ("alembic.ini", "migrations/", "schemas/", "aequatio/"):
        assert needed in runtime
    assert "-c constraints.txt" in dockerfile


def test_the_build_context_is_an_allow_list() -> None:
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {
        "aequatio",
        "migrations",
        "schemas",
        "alembic.ini",
        "pyproject.toml",
        "constraints.txt",
        "README.md",
    }


# -- migration safety --------------------------------------------------------------------------

LINT = ROOT / "scripts" / "lint-migrations"
TIMEOUTS = "SET lock_timeout = '5s';\nSET statement_timeout = '30s';\n"


def lint(*arguments: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run("bash", LINT, *arguments, BIN=str(BIN), **env)


def test_every_migration_passes_the_lint() -> None:
    result = lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "revisions rendered" in result.stdout


@pytest.mark.parametrize(
    ("statement", "rule"),
    [
        ("CREATE INDEX ix_expenses_description ON expenses (description);", "require-concurrent"),
        (
            "ALTER TABLE expenses ADD COLUMN noted_at timestamptz NOT NULL "
            "DEFAULT clock_timestamp();",
            "adding-field-with-default",
        ),
        ("ALTER TABLE expenses ALTER COLUMN description SET NOT NULL;", "adding-not-nullable"),
        ("ALTER TABLE expenses ADD COLUMN note text NOT NULL;", "adding-required-field"),
        ("ALTER TABLE expenses ALTER COLUMN amount_cents TYPE numeric;", "changing-column-type"),
    ],
)
def test_the_lint_refuses_unsafe_ddl_on_a_live_table(
    tmp_path: Path, statement: str, rule: str
) -> None:
    sql = tmp_path / "unsafe.sql"
    sql.write_text(f"BEGIN;\n{TIMEOUTS}{statement}\nCOMMIT;\n")
    result = lint(sql)
    assert result.returncode != 0, result.stdout
    assert rule in result.stdout + result.stderr


def test_the_lint_refuses_ddl_without_timeouts(tmp_path: Path) -> None:
    sql = tmp_path / "no_timeouts.sql"
    sql.write_text("BEGIN;\nALTER TABLE expenses ADD COLUMN note text;\nCOMMIT;\n")
    result = lint(sql)
    assert result.returncode != 0
    assert "require-lock-timeout" in result.stdout


def test_the_lint_accepts_the_safe_forms(tmp_path: Path) -> None:
    sql = tmp_path / "safe.sql"
    sql.write_text(
        f"{TIMEOUTS}"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_expenses_description "
        "ON expenses (description);\n"
        f"BEGIN;\n{TIMEOUTS}ALTER TABLE expenses ADD COLUMN note text;\nCOMMIT;\n"
    )
    result = lint(sql)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_new_revision_with_a_blocking_index_fails_the_lint(tmp_path: Path) -> None:
    """End to end: a copy of the migrations plus one revision that indexes a live table
    without CONCURRENTLY; the script renders it like any revision and fails."""
    migrations = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", migrations, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "alembic.ini", tmp_path / "alembic.ini")
    head = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_current_head()
    (migrations / "versions" / "9999_blocking_index.py").write_text(
        f'''"""blocking index

Revision ID: 9999
Revises: {head}
"""

from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SET lock_timeout = '5s'")
    op.execute("SET statement_timeout = '30s'")
    op.create_index("ix_expenses_description", "expenses", ["description"])


def downgrade() -> None:
    op.drop_index("ix_expenses_description", table_name="expenses")
'''
    )
    result = lint(ALEMBIC_CONFIG=str(tmp_path / "alembic.ini"))
    assert result.returncode != 0, result.stdout + result.stderr
    assert "9999" in result.stdout
    assert "require-concurrent-index-creation" in result.stdout
