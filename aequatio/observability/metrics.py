"""Prometheus metrics of one process (API or worker); names are part of the ops contract
(dashboards and alert rules in ``deploy/`` use them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

EVENTS_WRITTEN = Counter(
    "aequatio_events_written_total", "Events committed to the event store.", ["event_type"]
)
EVENTS_PUBLISHED = Counter(
    "aequatio_events_published_total",
    "Outbox rows the dispatcher published, by broker outcome (confirmed, unroutable, failed).",
    ["outcome"],
)
EVENTS_CONSUMED = Counter(
    "aequatio_events_consumed_total",
    "Messages a consumer finished, by outcome (applied, duplicate, dead_lettered, requeued).",
    ["consumer", "outcome"],
)
EVENTS_DEAD_LETTERED = Counter(
    "aequatio_events_dead_lettered_total", "Messages parked in <queue>.dlq.", ["consumer"]
)
CONSUME_SECONDS = Histogram(
    "aequatio_consume_seconds",
    "Time to handle one message, retries included.",
    ["consumer"],
    buckets=LATENCY_BUCKETS,
)
EVENT_LAG_SECONDS = Histogram(
    "aequatio_event_lag_seconds",
    "From the event's commit to its effect committed by a consumer.",
    ["consumer"],
    buckets=LATENCY_BUCKETS,
)
OUTBOX_PENDING = Gauge("aequatio_outbox_pending", "Outbox rows not yet published.")
OUTBOX_OLDEST_AGE = Gauge(
    "aequatio_outbox_oldest_age_seconds", "Age of the oldest unpublished event (dispatch lag)."
)
DISPATCHER_LEADER = Gauge(
    "aequatio_dispatcher_leader", "1 while this process is the active outbox dispatcher."
)
PROJECTION_LAG = Gauge(
    "aequatio_projection_lag_positions",
    "Event-store positions between the newest event and the newest one the projection applied.",
    ["projection"],
)
SAGA_STATES = Gauge("aequatio_saga_states", "Saga instances by status.", ["saga", "status"])
CONSUMERS = Gauge("aequatio_consumers", "Consumers running in this process.", ["queue"])
LIVE_SUBSCRIPTIONS = Gauge(
    "aequatio_live_subscriptions", "Live GraphQL subscriptions open in this process."
)
GRAPHQL_OPERATIONS = Counter(
    "aequatio_graphql_operations_total",
    "GraphQL operations, by operation name, type and outcome (ok, refused, error).",
    ["operation", "type", "outcome"],
)
GRAPHQL_SECONDS = Histogram(
    "aequatio_graphql_operation_seconds",
    "GraphQL operation latency.",
    ["operation", "type"],
    buckets=LATENCY_BUCKETS,
)
GC_PAUSE_SECONDS = Histogram(
    "aequatio_gc_pause_seconds",
    "Time the cyclic garbage collector stopped the process, by generation (2: a full one).",
    ["generation"],
    buckets=LATENCY_BUCKETS,
)
