"""Opaque global ids: ``base64("<Type>:<uuid>")`` for nodes, and event ids that carry their type.

Clients treat ids as opaque strings. Encoding the type lets ``node(id)`` find the object, and
lets ``consistentWith`` know which projections an event concerns without reading a write table.
"""

from __future__ import annotations

import base64
import binascii
from uuid import UUID

from aequatio.graphql.errors import ApiCode, invalid_input

NODE_TYPES = frozenset({"User", "Group", "Expense", "Split", "Invoice", "ActivityEntry"})


def encode(type_name: str, value: UUID) -> str:
    return base64.urlsafe_b64encode(f"{type_name}:{value}".encode()).decode().rstrip("=")


def _decode_pair(opaque: str) -> tuple[str, str] | None:
    try:
        padded = opaque + "=" * (-len(opaque) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    kind, _, rest = text.partition(":")
    return (kind, rest) if rest else None


def decode_node(opaque: str) -> tuple[str, UUID] | None:
    """``(type, uuid)`` of a node id, or ``None`` when it is not one of ours."""
    pair = _decode_pair(opaque)
    if pair is None or pair[0] not in NODE_TYPES:
        return None
    try:
        return pair[0], UUID(pair[1])
    except ValueError:
        return None


def expect(opaque: str, type_name: str, *, field: str) -> UUID:
    """The uuid of a ``type_name`` id given as input, or a typed ``INVALID_ID`` error."""
    decoded = decode_node(opaque)
    if decoded is None or decoded[0] != type_name:
        raise invalid_input(ApiCode.INVALID_ID, f"not a {type_name} id", field=field)
    return decoded[1]


def encode_event(event_type: str, event_id: UUID) -> str:
    return base64.urlsafe_b64encode(f"Event:{event_type}:{event_id}".encode()).decode().rstrip("=")


def decode_event(opaque: str, *, field: str) -> tuple[str, UUID]:
    """``(event_type, event_id)`` from an id a mutation returned."""
    pair = _decode_pair(opaque)
    if pair is not None and pair[0] == "Event":
        event_type, _, raw_id = pair[1].rpartition(":")
        try:
            return event_type, UUID(raw_id)
        except ValueError:
            pass
    raise invalid_input(ApiCode.INVALID_ID, "not an event id returned by a mutation", field=field)
