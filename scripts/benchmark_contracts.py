"""Micro-benchmark of contract validation on the hot paths: µs per validation of the largest
events (as a relay's or a replay's translators build them, and as a consumer reads a payload) and
per decode of a consumed message (with and without a handler for it).

One process, a few seconds, no services: `python scripts/benchmark_contracts.py [--seconds S]`.
Figures are CPU time of the thread (not wall time: the machine may be shared), the best of many
short rounds.
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRecord

from contracts.registry import model_for
from services.runtime.consumer import Consumer
from services.runtime.eventstore import BlockingRunner, ServiceApplication

EXAMPLES = Path(__file__).parents[1] / "contracts" / "examples"
BIG_EVENTS = ("FulfilmentRequested", "OrderPlaced", "OrderReleasedToWarehouse")


def _example(event_type: str) -> dict[str, Any]:
    example: dict[str, Any] = json.loads((EXAMPLES / f"{event_type}.v1.json").read_text())
    return example


def _record(example: dict[str, Any]) -> ConsumerRecord[bytes, bytes]:
    """The example as a relay publishes it: its envelope, with its headers."""
    value = json.dumps(example["payload"]).encode()
    headers = [(name, str(text).encode()) for name, text in example["headers"].items()]
    return ConsumerRecord(
        topic=example["topic"],
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=example["key"].encode(),
        value=value,
        checksum=None,
        serialized_key_size=len(example["key"]),
        serialized_value_size=len(value),
        headers=headers,
    )


def _consumer(handled: bool) -> Consumer:
    """A consumer following every example's aggregate kind, with a handler for the big events
    when `handled` (the general decoding way), none otherwise (the one-pass way)."""

    async def publish(*_: Any, **__: Any) -> None:
        return None

    consumer = Consumer(
        service_name="reader",
        application=ServiceApplication(None),
        runner=BlockingRunner(workers=1),
        publish=publish,
        attempts=1,
    )
    for event_type in BIG_EVENTS:
        example = _example(event_type)
        topic = example["topic"]
        consumer._followed.setdefault(topic, set()).add(example["payload"]["aggregate_type"])
        routes = consumer._event_routes.setdefault(topic, {})
        if handled:
            model = model_for(event_type, 1)
            routes[model] = lambda event, envelope: None
            consumer._handled_types.setdefault(topic, set()).add(event_type)
    return consumer


def _per_call(call: Callable[[], object], seconds: float) -> float:
    """µs per call: the best of many short rounds (about a millisecond each) within `seconds`,
    so that a round that ran undisturbed is among them on a busy machine."""
    call()
    count = 1
    while True:  # calls per round
        started = time.thread_time()
        for _ in range(count):
            call()
        spent = time.thread_time() - started
        if spent > 0.001:
            break
        count *= 2
    best = spent / count
    for _ in range(max(1, int(seconds / spent))):
        started = time.thread_time()
        for _ in range(count):
            call()
        best = min(best, (time.thread_time() - started) / count)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="per figure")
    seconds = parser.parse_args().seconds
    handled, unhandled = _consumer(handled=True), _consumer(handled=False)
    print(f"{'event':<26} {'build':>7} {'payload':>8} {'handled':>8} {'no handler':>10}  (µs)")
    for event_type in BIG_EVENTS:
        example = _example(event_type)
        model = model_for(event_type, 1)
        payload = example["payload"]["payload"]
        kept = _record(example)
        assert handled._decode(kept) is not None
        assert unhandled._decode(kept) is not None
        figures = (
            # A translator's constructor call with the event's fields (nested parts as dicts).
            _per_call(functools.partial(model, **payload), seconds),
            # A consumer reading a payload: `read_event`.
            _per_call(functools.partial(model.model_validate, payload), seconds),
            _per_call(functools.partial(handled._decode, kept), seconds),
            _per_call(functools.partial(unhandled._decode, kept), seconds),
        )
        print(f"{event_type:<26} " + " ".join(f"{figure:>7.1f} " for figure in figures))


if __name__ == "__main__":
    main()
