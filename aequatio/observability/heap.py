"""The cyclic garbage collector in a long-running process: measured, and kept off the heap that
startup built.

A full collection walks every tracked object. In the API with 1,000 subscribers, and in the
workers, full collections stopped the process for 100-330 ms (measured with the pause metric
below, during the benchmark's end-to-end phase): one such pause puts every message and push in
flight at that moment past any p99 target. Most of what they walked was built at startup and
lives as long as the process: modules, the GraphQL schema, SQLAlchemy's metadata and compiled
statements, pydantic's validators. ``settle()`` runs once startup is done: it collects what
startup left behind and moves everything still alive to the permanent generation
(``gc.freeze``), which collections never walk again. Cycles created later are collected as
before.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from aequatio.observability.metrics import GC_PAUSE_SECONDS

_started: list[float] = [0.0]


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        GC_PAUSE_SECONDS.labels(str(info["generation"])).observe(time.perf_counter() - _started[0])


def observe_pauses() -> None:
    """Every collection's pause into ``aequatio_gc_pause_seconds`` (installed once)."""
    if _on_collection not in gc.callbacks:
        gc.callbacks.append(_on_collection)


#: Allocations (net of deallocations) between two young collections: 700 by default.
YOUNG_THRESHOLD = 10_000


_thresholds_before: list[tuple[int, int, int]] = []


def settle() -> int:
    """Measure pauses (``observe_pauses``), collect, then exempt every object alive now from
    later collections, and collect the young generation less often; how many objects were
    frozen. Call once the process has started (before it serves); ``release`` undoes it."""
    observe_pauses()
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    _thresholds_before.append((young, middle, old))
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return gc.get_freeze_count()


def release() -> None:
    """Give the frozen objects back to the collector and restore its thresholds (an app
    stopped inside a process that goes on, as in the tests, leaves no heap behind)."""
    gc.unfreeze()
    if _thresholds_before:
        gc.set_threshold(*_thresholds_before.pop())
