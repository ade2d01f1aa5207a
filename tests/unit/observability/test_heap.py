"""Garbage collections are measured; what startup built is frozen out of them."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from aequatio.observability import heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    callbacks = list(gc.callbacks)
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        gc.callbacks[:] = callbacks


def full_collections_observed() -> float:
    return REGISTRY.get_sample_value("aequatio_gc_pause_seconds_count", {"generation": "2"}) or 0


@pytest.mark.usefixtures("restored_gc")
def test_each_collection_is_observed_once() -> None:
    heap.observe_pauses()
    heap.observe_pauses()
    before = full_collections_observed()
    gc.collect()
    assert full_collections_observed() == before + 1


@pytest.mark.usefixtures("restored_gc")
def test_settling_freezes_what_is_alive_and_collects_the_young_less_often() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector could free it

    kept = Node()
    frozen = heap.settle()

    assert frozen == gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    # A frozen object is no longer in any generation the collector walks.
    assert all(kept is not tracked for tracked in gc.get_objects(generation=2))
    # And from now on each pause is measured.
    before = full_collections_observed()
    gc.collect()
    assert full_collections_observed() == before + 1


@pytest.mark.usefixtures("restored_gc")
def test_releasing_gives_the_heap_back_and_restores_the_thresholds() -> None:
    thresholds = gc.get_threshold()
    heap.settle()
    heap.release()
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds
