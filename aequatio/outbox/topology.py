"""The broker topology of the seed design, as data both transports declare.

Exchanges: ``domain.events`` (topic, durable) carries every event under
``<context>.<aggregate>.<event>``; ``commands`` (direct) is reserved for point-to-point
commands; ``dead.letters`` (direct) takes what a consumer gives up on, into ``<queue>.dlq``.

Consumer queues (``projection.<name>``, ``saga.<name>``) are **quorum queues**: replicated,
durable, and with ``x-delivery-limit`` a message that keeps crashing its consumer is
dead-lettered by the broker itself instead of looping forever. Consumers may compete on a
queue: ordering per aggregate is not left to the broker but guarded by ``aggregate_version``
in the consumer (a gap is filled from the event store), so a second process adds throughput
and fail-over instead of merely standing by.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from aequatio.events.registry import EventRegistry

DOMAIN_EVENTS = "domain.events"
COMMANDS = "commands"
DEAD_LETTERS = "dead.letters"
#: Deliveries before the broker dead-letters a message on its own (consumer crash loops).
DELIVERY_LIMIT = 10


class ExchangeType(StrEnum):
    TOPIC = "topic"
    DIRECT = "direct"


@dataclass(frozen=True, slots=True)
class Exchange:
    name: str
    type: ExchangeType
    durable: bool = True


@dataclass(frozen=True, slots=True)
class Queue:
    """A consumer queue bound to ``domain.events`` with topic ``patterns``."""

    name: str
    patterns: tuple[str, ...]
    delivery_limit: int = DELIVERY_LIMIT

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dlq"

    def arguments(self) -> dict[str, str | int]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTERS,
            "x-dead-letter-routing-key": self.dead_letter_queue,
            # With reject-publish the broker can dead-letter at least once (not at most once).
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }


@dataclass(frozen=True, slots=True)
class Topology:
    exchanges: tuple[Exchange, ...] = (
        Exchange(DOMAIN_EVENTS, ExchangeType.TOPIC),
        Exchange(COMMANDS, ExchangeType.DIRECT),
        Exchange(DEAD_LETTERS, ExchangeType.DIRECT),
    )
    queues: tuple[Queue, ...] = field(default_factory=tuple)

    def with_queues(self, *queues: Queue) -> Topology:
        return Topology(self.exchanges, (*self.queues, *queues))


def routed_event_types(patterns: tuple[str, ...], registry: EventRegistry) -> list[str]:
    """The registered event types whose routing key matches one of ``patterns``."""
    return [
        event_type
        for event_type in registry.event_types()
        if any(topic_matches(pattern, registry.routing_key(event_type)) for pattern in patterns)
    ]


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more words."""
    return _match(pattern.split("."), routing_key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[index:]) for index in range(len(words) + 1))
    if not words:
        return False
    return (head in ("*", words[0])) and _match(rest, words[1:])
