"""Pure parts of the relay: where it resumes, how it notices a broker that lost its log, and the
lock and metadata requests it relies on."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import aiokafka.client
from aiokafka.protocol.metadata import MetadataRequest_v4, MetadataRequest_v5
from aiokafka.structs import RecordMetadata

from services.runtime.kafka import MetadataRequestWithoutAutoCreation
from services.runtime.leadership import Lease, lock_key
from services.runtime.relay import (
    POSITION_SAVED_EVERY_SECONDS,
    Position,
    _SettledPosition,
    resume_from,
)
from tests.unit.runtime.relays import unconnected_relay


def test_a_relay_resumes_after_its_position_on_the_same_broker() -> None:
    assert resume_from(Position(42, "life-1"), "life-1") == 42


def test_a_relay_publishes_everything_again_on_another_broker() -> None:
    assert resume_from(Position(42, "life-1"), "life-2") == 0


def test_a_position_recorded_without_a_broker_incarnation_is_not_trusted() -> None:
    assert resume_from(Position(42, None), "life-1") == 0


def test_lock_keys_are_stable_signed_64_bit_and_differ_by_job() -> None:
    events, movements = (
        lock_key("relay:inventory.events.v1"),
        lock_key("relay:inventory.movements.v1"),
    )
    assert events == lock_key("relay:inventory.events.v1")
    assert events != movements
    assert all(-(2**63) <= key < 2**63 for key in (events, movements))


def test_metadata_requests_never_ask_the_broker_to_create_a_topic() -> None:
    assert aiokafka.client.MetadataRequest is MetadataRequestWithoutAutoCreation
    for version in (MetadataRequest_v4, MetadataRequest_v5):
        built = MetadataRequestWithoutAutoCreation(["x.v1"]).build(version)
        assert built.allow_auto_topic_creation is False


def acknowledged(partition: int, offset: int) -> RecordMetadata:
    return RecordMetadata("t", partition, cast(Any, None), offset, 0, 0, 0)


def test_offsets_that_grow_on_every_partition_are_the_same_log() -> None:
    publisher = unconnected_relay()
    for partition, offset in ((0, 0), (1, 0), (0, 1), (1, 5)):
        publisher._acknowledged(acknowledged(partition, offset))
    assert not publisher._log_was_lost


def test_an_offset_at_or_below_one_acknowledged_before_means_the_log_was_lost() -> None:
    publisher = unconnected_relay()
    publisher._acknowledged(acknowledged(2, 7))
    publisher._acknowledged(acknowledged(2, 3))
    assert publisher._log_was_lost


class RecordedPositions:
    """The leader's session, as far as recording positions goes."""

    def __init__(self) -> None:
        self.recorded: list[int] = []

    async def execute(self, _: str, topic: str, notification_id: int, incarnation: str) -> None:
        self.recorded.append(notification_id)


async def test_a_relay_records_its_position_at_most_every_interval_and_the_last_one_when_told() -> (
    None
):
    session = RecordedPositions()
    settled = _SettledPosition(cast(Lease, SimpleNamespace(connection=session)), "t")

    await settled.reached(Position(1, "life-1"))
    await settled.reached(Position(2, "life-1"))
    await settled.reached(Position(3, "life-1"))

    assert session.recorded == [1], "the first at once, the next ones not within the interval"
    assert settled.unsaved
    assert 0 < settled.seconds_until_due() <= POSITION_SAVED_EVERY_SECONDS
    await settled.save()
    assert session.recorded == [1, 3], "the last one reached, once told"
    assert not settled.unsaved
    await settled.save()
    assert session.recorded == [1, 3], "nothing new: nothing recorded"
