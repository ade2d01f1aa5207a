"""Upcasters bring stored payloads of old versions to the latest model, step by step."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from aequatio.events.base import EventPayload
from aequatio.events.registry import EventRegistry, UnknownEvent


class NoteV1(EventPayload):
    event_type: ClassVar[str] = "note.written"
    event_version: ClassVar[int] = 1
    context: ClassVar[str] = "test"

    text: str


class NoteV2(EventPayload):
    event_type: ClassVar[str] = "note.written"
    event_version: ClassVar[int] = 2
    context: ClassVar[str] = "test"

    body: str


class NoteV3(EventPayload):
    event_type: ClassVar[str] = "note.written"
    event_version: ClassVar[int] = 3
    context: ClassVar[str] = "test"

    body: str
    language: str


def upcast_note_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
    return {"body": payload["text"]}


def upcast_note_v2_v3(payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "language": "und"}


REGISTRY = EventRegistry(
    [NoteV1, NoteV2, NoteV3],
    upcasters={("note.written", 1): upcast_note_v1_v2, ("note.written", 2): upcast_note_v2_v3},
)


def test_a_v1_payload_is_read_as_the_latest_model() -> None:
    assert REGISTRY.decode("note.written", 1, {"text": "hi"}) == NoteV3(body="hi", language="und")


def test_the_latest_version_is_read_unchanged() -> None:
    assert REGISTRY.decode("note.written", 3, {"body": "hi", "language": "en"}) == NoteV3(
        body="hi", language="en"
    )


def test_a_version_newer_than_the_code_is_refused() -> None:
    with pytest.raises(UnknownEvent):
        REGISTRY.decode("note.written", 4, {})


def test_a_registry_without_an_upcaster_for_an_old_version_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="no upcaster"):
        EventRegistry([NoteV1, NoteV2])
