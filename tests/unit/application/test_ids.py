"""New ids are UUIDv7: unique, and ordered by when they were made (B-tree keys that land
next to each other)."""

from __future__ import annotations

import time
from uuid import UUID

from aequatio.application.ids import new_id


def _millisecond(value: UUID) -> int:
    return value.int >> 80


def test_new_ids_are_version_7_unique_and_in_creation_order() -> None:
    made = [new_id() for _ in range(20_000)]

    assert {value.version for value in made} == {7}
    assert {value.variant for value in made} == {"specified in RFC 4122"}
    assert len(set(made)) == len(made)
    stamps = [_millisecond(value) for value in made]
    assert stamps == sorted(stamps)


def test_an_id_carries_the_millisecond_it_was_made() -> None:
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= _millisecond(value) <= after
