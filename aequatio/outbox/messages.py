"""Messages as the transports see them: bytes with a routing key, an id and headers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

HeaderValue = str | int | bool | None


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A persistent, mandatory publish to ``exchange`` under ``routing_key``."""

    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    headers: Mapping[str, HeaderValue] = field(default_factory=dict)
    content_type: str = "application/json"
    mandatory: bool = True


class PublishOutcome(StrEnum):
    """What the broker said about one published message."""

    CONFIRMED = "confirmed"
    #: ``mandatory`` and no queue is bound for the routing key.
    UNROUTABLE = "unroutable"
    #: The broker refused it (``basic.nack``) or the connection failed before the confirm.
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    routing_key: str
    body: bytes
    message_id: str
    headers: Mapping[str, HeaderValue]
    redelivered: bool = False
    #: How many times the broker delivered it before (quorum queues count; 0 the first time).
    delivery_count: int = 0


class Delivery(ABC):
    """A message in hand: acknowledge it after its effect committed, or give it back."""

    def __init__(self, message: InboundMessage) -> None:
        self.message = message

    @abstractmethod
    async def ack(self) -> None: ...

    @abstractmethod
    async def requeue(self) -> None:
        """Return it to the queue for another delivery (counts towards the delivery limit)."""
