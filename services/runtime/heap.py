"""The garbage collector in a long-running service: what startup made is set aside, and every
collection's pause is observed.

CPython frees most objects by reference counting; its cyclic collector also walks, now and then,
every object of the generations it collects. A full collection walks all of them, including what
startup made and keeps until the process ends: modules, pydantic's schemas and validators, the
application and its clients. In a service process that is most of its heap, and such a collection
stopped everything the process does for 100-200 ms on this machine (the relay's benchmark saw one
of 210 ms among 1 s of publishing), a pause every message in flight waits behind.

`freeze_startup_objects`, called once the service has started, collects once and then moves every
object left to the collector's permanent generation (`gc.freeze`), which it never walks; the
collector still frees what the service makes afterwards, cycles included. `GC_PAUSE_SECONDS`
counts the collections and their pauses by generation (`/metrics`).

It also lets the young generation grow to `YOUNG_GENERATION_THRESHOLD` objects before a collection
(CPython's default is 700). A consumer's batch of a hundred messages holds thousands of live
objects (envelopes, events, aggregates, statements) until it commits, and at 700 the collector
walked them again and again while the batch was being built, to free next to nothing: reference
counting frees them when the batch ends. The cycles it does find wait a little longer.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import Histogram

GC_PAUSE_SECONDS = Histogram(
    "unitrail_gc_pause_seconds",
    "Time the cyclic garbage collector stopped the process, per collection, by generation "
    "(2: a full collection).",
    ["service", "generation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
    registry=None,
)


class _Pauses:
    """A `gc.callbacks` entry observing each collection's duration."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            GC_PAUSE_SECONDS.labels(self._service, str(info["generation"])).observe(
                time.perf_counter() - self._started
            )


def observe_collections(service: str) -> None:
    """Observe every collection of this process in `GC_PAUSE_SECONDS` (once per process)."""
    if not any(isinstance(callback, _Pauses) for callback in gc.callbacks):
        gc.callbacks.append(_Pauses(service))


YOUNG_GENERATION_THRESHOLD = 20_000
"""Net allocations of tracked objects between two young collections (see the module); the older
generations are collected every 20 young (resp. middle) collections rather than 10."""


def freeze_startup_objects() -> None:
    """Collect once, then exempt every object left from later collections, and collect the
    young generation less often (see the module)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, 20, 20)
