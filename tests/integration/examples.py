"""The examples of the published contracts, recorded from real messages.

Every published model's schema carries an example (`contracts/examples/<stem>.json`, shown in
`docs/asyncapi.yaml`), and each is a message a real flow sent: recorded from the topics of a
running system by `scripts/capture_examples.py`, or from every integration test's broker when the
tests run with `UNITRAIL_RECORD_EXAMPLES=1`.
"""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient

from contracts.asyncapi import example_stem
from contracts.base import validate_partner_message
from contracts.envelope import Envelope
from contracts.schemas import EXAMPLES_DIR, load_example, published_models
from contracts.topics import all_topics
from tests.integration.harness import read_to_ends

RECORD_EXAMPLES = "UNITRAIL_RECORD_EXAMPLES"
"""Set to 1, the integration tests record the examples still missing from their brokers' topics."""


def recorded_messages(bootstrap_servers: str) -> dict[str, dict[str, Any]]:
    """The first message of each published model on a broker's topics, by the model's stem."""
    metadata = AdminClient({"bootstrap.servers": bootstrap_servers}).list_topics(timeout=10)
    registered = {topic.name for topic in all_topics()}
    starts = {
        (name, partition): OFFSET_BEGINNING
        for name, topic in metadata.topics.items()
        if name in registered
        for partition in topic.partitions
    }
    records, _ = read_to_ends(bootstrap_servers, starts)
    found: dict[str, dict[str, Any]] = {}
    for record in records:
        stem = example_stem(record.topic, record.value)
        if stem is None or stem in found:
            continue
        found[stem] = {
            "topic": record.topic,
            "key": None if record.key is None else record.key.decode(),
            "headers": record.headers,
            "payload": record.json(),
        }
        if "Envelope.v1" not in found and "producer" in found[stem]["payload"]:
            found["Envelope.v1"] = found[stem]
    return found


def record_examples(bootstrap_servers: str, *, refresh: bool = False) -> list[str]:
    """Write the examples a broker's topics hold and `contracts/examples/` lacks (all of them with
    `refresh`), each read as its model first; the stems written."""
    models = dict(published_models())
    written: list[str] = []
    for stem, example in sorted(recorded_messages(bootstrap_servers).items()):
        if stem not in models or (load_example(stem) is not None and not refresh):
            continue
        payload = example["payload"]
        if "producer" in payload:
            envelope = Envelope.model_validate(payload, extra="forbid")
            if models[stem] is not Envelope:
                models[stem].model_validate(envelope.payload, extra="forbid")
        else:
            validate_partner_message(models[stem], payload)
        EXAMPLES_DIR.mkdir(exist_ok=True)
        path = EXAMPLES_DIR / f"{stem}.json"
        path.write_text(json.dumps(example, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(stem)
    return written


def stems_without_example() -> list[str]:
    return sorted(stem for stem, _ in published_models() if load_example(stem) is None)
