"""Topics are created replicated as configured: one copy on one broker, three on a real cluster."""

from __future__ import annotations

import pytest

from contracts.topics import CHANNEL_ORDERS
from services.runtime.config import ServiceSettings, TopicDurability
from services.runtime.topics import new_topic


def test_one_broker_keeps_one_copy_and_sets_nothing_else() -> None:
    topic = new_topic(CHANNEL_ORDERS, TopicDurability())
    assert (topic.name, topic.num_partitions, topic.replication_factor, topic.topic_configs) == (
        "channel.orders.v1",
        CHANNEL_ORDERS.partitions,
        1,
        {},
    )


def test_a_real_cluster_keeps_three_and_acknowledges_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNITRAIL_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("UNITRAIL_KAFKA_MIN_INSYNC_REPLICAS", "2")

    class Settings(ServiceSettings):
        service_name = "order"

    topic = new_topic(CHANNEL_ORDERS, Settings().topic_durability)
    assert (topic.replication_factor, topic.topic_configs) == (3, {"min.insync.replicas": "2"})
