"""Kafka client settings, the same for every producer and consumer a service opens."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import aiokafka.admin.client
import aiokafka.client
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.protocol.metadata import MetadataRequest

from services.runtime.config import ServiceSettings


class MetadataRequestWithoutAutoCreation(MetadataRequest):  # type: ignore[misc]
    """A metadata request that never asks the broker to create the topics it names.

    aiokafka asks for auto-creation in every metadata request (v4 and later), and a broker that
    honours it (the embedded one does, with 4 partitions) creates a topic with its own partition
    count the moment a client looks a missing topic up. Topics are created from the registry, with
    theirs (`services.runtime.topics.ensure_topics`); a missing topic is an error to wait out.
    """

    def __init__(
        self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = False
    ) -> None:
        super().__init__(topics, allow_auto_topic_creation)


def refuse_topic_auto_creation() -> None:
    """Make every aiokafka client of this process (FastStream's too) look topics up without
    creating them."""
    aiokafka.client.MetadataRequest = MetadataRequestWithoutAutoCreation
    aiokafka.admin.client.MetadataRequest = MetadataRequestWithoutAutoCreation


refuse_topic_auto_creation()


MAX_BATCH_BYTES = 256 * 1024
"""Per partition and request; well under the broker's default limit of 1 MiB per batch."""


def producer_options(settings: ServiceSettings) -> dict[str, Any]:
    """acks=all always; idempotence only where the broker implements it (real Kafka)."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "client_id": f"unitrail-{settings.service_name}",
        "linger_ms": 5,
        # A partition has one batch in flight and one waiting at a time, so the batch size bounds
        # what one round trip to the broker carries; 16 KiB (the default) is about 20 envelopes.
        "max_batch_size": MAX_BATCH_BYTES,
    }


def build_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(**producer_options(settings))


def header_value(headers: Any, name: str) -> str | None:
    """A header of a consumed record, decoded, or None when absent."""
    for key, value in headers or ():
        if key == name and value is not None:
            return bytes(value).decode("utf-8", errors="replace")
    return None


FETCH_RESPONSE_TIMEOUT_SECONDS = 15.0
"""How long the broker may take to answer fetches for every partition, when ends are looked up."""


async def partition_ends(
    consumer: AIOKafkaConsumer, positions: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Where each assigned partition ends now, for a reader that must read a topic to its end.

    The broker's listed end offset (ListOffsets) is not enough: the embedded broker lists a
    partition's end as one past the *first* record of its last record batch, so a reader that
    stops there misses the rest of that batch (a relay's republished store ends in batches of
    hundreds). Its fetch responses carry the right high watermark, so the end is the later of the
    two, the watermark taken from responses to fetches sent from now on.

    Fetches start at `positions`; what they return is dropped, so the caller seeks before reading.
    """
    partitions = list(positions)
    listed: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    for partition in partitions:
        consumer.seek(partition, positions[partition])
    deadline = time.monotonic() + FETCH_RESPONSE_TIMEOUT_SECONDS
    # The first response after now may answer a request sent before; the next one cannot (one
    # fetch at a time per broker), so two rounds of responses are waited for.
    for _ in range(2):
        since = int(time.time() * 1000)
        while not all((consumer.last_poll_timestamp(tp) or 0) > since for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError("the broker did not answer fetches for every partition")
            await consumer.getmany(*partitions, timeout_ms=100)
    return {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in partitions}
