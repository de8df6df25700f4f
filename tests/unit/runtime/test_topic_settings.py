"""Topics are created replicated as configured: one copy on one broker, three on a real cluster."""

from __future__ import annotations

import pytest

from contracts.topics import (
    CHANNEL_ORDERS,
    INVENTORY_MOVEMENTS,
    THREEPL_FULFILMENT_REQUESTS,
    all_topics,
)
from services.runtime.config import ServiceSettings, TopicDurability
from services.runtime.topics import new_topic


def test_one_broker_keeps_one_copy_and_sets_nothing_else() -> None:
    topic = new_topic(INVENTORY_MOVEMENTS, TopicDurability())
    assert (topic.name, topic.num_partitions, topic.replication_factor, topic.topic_configs) == (
        "inventory.movements.v1",
        INVENTORY_MOVEMENTS.partitions,
        1,
        {},
    )


def test_a_real_cluster_keeps_three_and_acknowledges_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNITRAIL_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("UNITRAIL_KAFKA_MIN_INSYNC_REPLICAS", "2")

    class Settings(ServiceSettings):
        service_name = "order"

    topic = new_topic(INVENTORY_MOVEMENTS, Settings().topic_durability)
    assert (topic.replication_factor, topic.topic_configs) == (3, {"min.insync.replicas": "2"})


def test_topics_with_personal_data_in_clear_keep_it_as_long_as_the_setting_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNITRAIL_PERSONAL_DATA_RETENTION_HOURS", "24")

    class Settings(ServiceSettings):
        service_name = "warehouse_adapter"

    durability = Settings().topic_durability
    bounded = {
        topic.name
        for topic in all_topics()
        if "retention.ms" in (new_topic(topic, durability).topic_configs or {})
    }
    assert bounded == {CHANNEL_ORDERS.name, THREEPL_FULFILMENT_REQUESTS.name}
    topic = new_topic(THREEPL_FULFILMENT_REQUESTS, durability)
    assert topic.topic_configs == {"retention.ms": str(24 * 3600 * 1000)}
