"""Topics are created partitioned and replicated as configured: one copy on one broker, three on
a real cluster; the registry's partitions, or as many as `UNITRAIL_KAFKA_PARTITIONS` says."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from contracts.topics import (
    BROKER_INCARNATION,
    CHANNEL_ORDERS,
    INVENTORY_MOVEMENTS,
    KEYED_PARTITIONS,
    THREEPL_FULFILMENT_REQUESTS,
    all_topics,
)
from services.runtime.config import ServiceSettings, TopicSettings
from services.runtime.topics import new_topic


def test_one_broker_keeps_one_copy_and_sets_nothing_else() -> None:
    topic = new_topic(INVENTORY_MOVEMENTS, TopicSettings())
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

    topic = new_topic(INVENTORY_MOVEMENTS, Settings().topic_settings)
    assert (topic.replication_factor, topic.topic_configs) == (3, {"min.insync.replicas": "2"})


def test_topics_with_personal_data_in_clear_keep_it_as_long_as_the_setting_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNITRAIL_PERSONAL_DATA_RETENTION_HOURS", "24")

    class Settings(ServiceSettings):
        service_name = "warehouse_adapter"

    topic_settings = Settings().topic_settings
    bounded = {
        topic.name
        for topic in all_topics()
        if "retention.ms" in (new_topic(topic, topic_settings).topic_configs or {})
    }
    assert bounded == {CHANNEL_ORDERS.name, THREEPL_FULFILMENT_REQUESTS.name}
    topic = new_topic(THREEPL_FULFILMENT_REQUESTS, topic_settings)
    assert topic.topic_configs == {"retention.ms": str(24 * 3600 * 1000)}


def test_keyed_topics_get_the_configured_partitions_and_ordered_ones_keep_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Settings(ServiceSettings):
        service_name = "order"

    assert new_topic(CHANNEL_ORDERS, Settings().topic_settings).num_partitions == KEYED_PARTITIONS

    monkeypatch.setenv("UNITRAIL_KAFKA_PARTITIONS", "12")
    topic_settings = Settings().topic_settings
    counts = {topic.name: new_topic(topic, topic_settings).num_partitions for topic in all_topics()}
    assert counts[CHANNEL_ORDERS.name] == counts[INVENTORY_MOVEMENTS.name] == 12
    assert counts[BROKER_INCARNATION.name] == 1
    assert counts["order.deadletter.v1"] == 1
    assert set(counts.values()) == {1, 12}


def test_a_partition_count_below_one_is_refused_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNITRAIL_KAFKA_PARTITIONS", "0")

    class Settings(ServiceSettings):
        service_name = "order"

    with pytest.raises(ValidationError, match="UNITRAIL_KAFKA_PARTITIONS"):
        Settings()
