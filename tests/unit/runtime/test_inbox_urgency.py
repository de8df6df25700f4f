"""A poll that brings records of topics on the order path and of others is applied as two
batches, the order path's first: a reservation does not wait for a spell of warehouse scans."""

from __future__ import annotations

from typing import Any, cast

from aiokafka import TopicPartition

from services.inventory.config import InventorySettings
from services.runtime.consumer import Consumer
from services.runtime.fetch_wait import OffPathReads
from services.runtime.inbox import KafkaInbox

PAID_0 = TopicPartition("order.events.v1", 0)
PAID_1 = TopicPartition("order.events.v1", 1)
SCANS = TopicPartition("warehouse_adapter.events.v1", 0)


def inbox_reading_off_the_path_every(milliseconds: int) -> KafkaInbox:
    inbox = KafkaInbox(cast(Consumer, None), InventorySettings())
    inbox._off_path = OffPathReads(
        None,
        on_the_path=frozenset(InventorySettings.topics_on_the_order_path),
        every_seconds=milliseconds / 1000,
        open_seconds=0.05,
    )
    return inbox


def test_the_order_paths_records_go_first_each_partitions_in_order() -> None:
    inbox = inbox_reading_off_the_path_every(200)
    fetched: dict[TopicPartition, list[Any]] = {
        SCANS: ["scan-1", "scan-2"],
        PAID_0: ["paid-a", "paid-b"],
        PAID_1: ["paid-c"],
    }
    records = [record for batch in fetched.values() for record in batch]
    assert inbox._in_order_of_urgency(fetched, records) == [
        ["paid-a", "paid-b", "paid-c"],
        ["scan-1", "scan-2"],
    ]


def test_a_poll_of_one_kind_is_one_batch_and_without_spells_every_poll_is() -> None:
    inbox = inbox_reading_off_the_path_every(200)
    assert inbox._in_order_of_urgency({SCANS: ["scan-1"]}, ["scan-1"]) == [["scan-1"]]
    assert inbox._in_order_of_urgency({PAID_0: ["paid-a"]}, ["paid-a"]) == [["paid-a"]]

    everything_at_once = inbox_reading_off_the_path_every(0)
    fetched: dict[TopicPartition, list[Any]] = {SCANS: ["scan-1"], PAID_0: ["paid-a"]}
    assert everything_at_once._in_order_of_urgency(fetched, ["scan-1", "paid-a"]) == [
        ["scan-1", "paid-a"]
    ]
