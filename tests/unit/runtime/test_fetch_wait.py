"""A consumer fetches with the short wait while messages flow and with the long one at rest."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from aiokafka import TopicPartition

from infra.simulators.kafka import KafkaSettings
from services.inventory.config import InventorySettings
from services.order.config import OrderSettings
from services.pim.config import PimSettings
from services.returns.config import ReturnsSettings
from services.runtime.config import (
    FETCH_WAIT_OFF_THE_ORDER_PATH_MS,
    FETCH_WAIT_ON_THE_ORDER_PATH_MS,
    IDLE_FETCH_WAIT_OFF_THE_ORDER_PATH_MS,
    IDLE_FETCH_WAIT_ON_THE_ORDER_PATH_MS,
    ServiceSettings,
)
from services.runtime.fetch_wait import FetchWait, OffPathReads
from services.shipping.config import ShippingSettings
from services.traceability.config import TraceabilitySettings
from services.warehouse_adapter.config import WarehouseAdapterSettings

SETTINGS: tuple[type[ServiceSettings], ...] = (
    InventorySettings,
    OrderSettings,
    PimSettings,
    ReturnsSettings,
    ShippingSettings,
    TraceabilitySettings,
    WarehouseAdapterSettings,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def consumer_fetching_with(wait_ms: int) -> SimpleNamespace:
    """The part of an aiokafka consumer FetchWait sets: its fetcher's wait."""
    return SimpleNamespace(_fetcher=SimpleNamespace(_fetch_max_wait_ms=wait_ms))


def test_the_wait_stays_short_while_polls_are_only_briefly_empty() -> None:
    clock = Clock()
    consumer = consumer_fetching_with(50)
    wait = FetchWait(consumer, busy_ms=50, idle_ms=3000, quiet_after_seconds=5, clock=clock)
    clock.now += 4.9
    wait.observed(0)
    assert consumer._fetcher._fetch_max_wait_ms == 50


def test_a_quiet_spell_makes_the_wait_long_doubling_it_every_second() -> None:
    clock = Clock()
    consumer = consumer_fetching_with(50)
    wait = FetchWait(consumer, busy_ms=50, idle_ms=3000, quiet_after_seconds=5, clock=clock)
    waits: list[int] = []
    for _ in range(8):
        clock.now += 5 if not waits else 1
        wait.observed(0)
        waits.append(consumer._fetcher._fetch_max_wait_ms)
    assert waits == [100, 200, 400, 800, 1600, 3000, 3000, 3000]
    clock.now += 3600
    wait.observed(0)
    assert consumer._fetcher._fetch_max_wait_ms == 3000


def test_without_doubling_a_quiet_spell_makes_the_wait_long_at_once() -> None:
    clock = Clock()
    consumer = consumer_fetching_with(50)
    wait = FetchWait(
        consumer,
        busy_ms=50,
        idle_ms=3000,
        quiet_after_seconds=5,
        clock=clock,
        doubling_seconds=0,
    )
    clock.now += 5
    wait.observed(0)
    assert consumer._fetcher._fetch_max_wait_ms == 3000


def test_the_first_message_after_a_quiet_spell_makes_it_short_again() -> None:
    clock = Clock()
    consumer = consumer_fetching_with(50)
    wait = FetchWait(consumer, busy_ms=50, idle_ms=3000, quiet_after_seconds=5, clock=clock)
    clock.now += 60
    wait.observed(0)
    wait.observed(3)
    assert consumer._fetcher._fetch_max_wait_ms == 50


def test_a_message_restarts_the_quiet_spell() -> None:
    clock = Clock()
    consumer = consumer_fetching_with(50)
    wait = FetchWait(consumer, busy_ms=50, idle_ms=3000, quiet_after_seconds=5, clock=clock)
    clock.now += 4
    wait.observed(1)
    clock.now += 4
    wait.observed(0)
    assert consumer._fetcher._fetch_max_wait_ms == 50


def test_an_idle_wait_below_the_busy_one_is_raised_to_it() -> None:
    clock = Clock()
    consumer = consumer_fetching_with(50)
    wait = FetchWait(consumer, busy_ms=50, idle_ms=10, quiet_after_seconds=5, clock=clock)
    clock.now += 10
    wait.observed(0)
    assert consumer._fetcher._fetch_max_wait_ms == 50


def test_a_consumer_without_the_fetcher_attribute_is_left_alone() -> None:
    clock = Clock()
    consumer = SimpleNamespace(_fetcher=None)
    wait = FetchWait(consumer, busy_ms=50, idle_ms=3000, quiet_after_seconds=5, clock=clock)
    clock.now += 10
    wait.observed(0)
    assert wait.current_ms == 50


ON_THE_ORDER_PATH = frozenset({"order", "inventory"})


def waits_by_path(setting: str) -> tuple[dict[str, int], dict[str, int]]:
    """Each service's default for a wait `setting`: those on the order path, then the others."""
    waits = {settings.service_name: getattr(settings(), setting) for settings in SETTINGS}
    on_the_path = {name: wait for name, wait in waits.items() if name in ON_THE_ORDER_PATH}
    return on_the_path, {name: wait for name, wait in waits.items() if name not in on_the_path}


def test_the_order_path_waits_briefly_and_every_other_consumer_longer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("UNITRAIL_KAFKA_FETCH_MAX_WAIT_MS", raising=False)
    on_the_path, off_it = waits_by_path("kafka_fetch_max_wait_ms")
    assert on_the_path == dict.fromkeys(ON_THE_ORDER_PATH, FETCH_WAIT_ON_THE_ORDER_PATH_MS)
    assert off_it == dict.fromkeys(off_it.keys(), FETCH_WAIT_OFF_THE_ORDER_PATH_MS)
    assert len(off_it) == len(SETTINGS) - len(ON_THE_ORDER_PATH)
    assert KafkaSettings().kafka_fetch_max_wait_ms == FETCH_WAIT_OFF_THE_ORDER_PATH_MS


def test_at_rest_the_order_path_waits_less_long_than_every_other_consumer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first order after a quiet spell waits at order's and inventory's hops for up to half
    their idle wait each; the other services' counterparts work in seconds."""
    monkeypatch.delenv("UNITRAIL_KAFKA_IDLE_FETCH_MAX_WAIT_MS", raising=False)
    on_the_path, off_it = waits_by_path("kafka_idle_fetch_max_wait_ms")
    assert on_the_path == dict.fromkeys(ON_THE_ORDER_PATH, IDLE_FETCH_WAIT_ON_THE_ORDER_PATH_MS)
    assert off_it == dict.fromkeys(off_it.keys(), IDLE_FETCH_WAIT_OFF_THE_ORDER_PATH_MS)
    assert len(off_it) == len(SETTINGS) - len(ON_THE_ORDER_PATH)
    assert IDLE_FETCH_WAIT_ON_THE_ORDER_PATH_MS < IDLE_FETCH_WAIT_OFF_THE_ORDER_PATH_MS
    assert KafkaSettings().kafka_idle_fetch_max_wait_ms == IDLE_FETCH_WAIT_OFF_THE_ORDER_PATH_MS


def test_one_setting_gives_every_consumer_the_same_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNITRAIL_KAFKA_FETCH_MAX_WAIT_MS", "40")
    monkeypatch.setenv("UNITRAIL_KAFKA_IDLE_FETCH_MAX_WAIT_MS", "2000")
    assert {settings().kafka_fetch_max_wait_ms for settings in SETTINGS} == {40}
    assert {settings().kafka_idle_fetch_max_wait_ms for settings in SETTINGS} == {2000}
    assert KafkaSettings().kafka_fetch_max_wait_ms == 40
    assert KafkaSettings().kafka_idle_fetch_max_wait_ms == 2000


class Partitions:
    """The part of an aiokafka consumer `OffPathReads` uses: its assignment and what is paused."""

    def __init__(self, *assigned: str) -> None:
        self.assigned = {TopicPartition(topic, 0) for topic in assigned}
        self.paused_now: set[TopicPartition] = set()

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def paused(self) -> set[TopicPartition]:
        return self.paused_now & self.assigned

    def pause(self, *partitions: TopicPartition) -> None:
        assert set(partitions) <= self.assigned, "aiokafka refuses to pause what is not assigned"
        self.paused_now.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        assert set(partitions) <= self.assigned, "aiokafka refuses to resume what is not assigned"
        self.paused_now.difference_update(partitions)


def off_path_reads(
    partitions: Partitions, clock: Clock, on_the_path: tuple[str, ...] = ("hot",)
) -> OffPathReads:
    return OffPathReads(
        partitions,
        on_the_path=frozenset(on_the_path),
        every_seconds=0.05,
        open_seconds=0.05,
        clock=clock,
    )


def of(*topics: str) -> list[TopicPartition]:
    return [TopicPartition(topic, 0) for topic in topics]


async def test_the_topics_off_the_path_are_paused_between_spells_and_read_again_after_each() -> (
    None
):
    partitions, clock = Partitions("hot", "cold", "colder"), Clock()
    reads = off_path_reads(partitions, clock)
    reads.fetched(of("hot"))
    assert partitions.paused() == set(), "a spell lasts its open time first"

    clock.now += 0.06
    reads.fetched(of("hot"))
    assert partitions.paused() == set(of("cold", "colder"))

    await asyncio.sleep(0.1)
    assert partitions.paused() == set(), "the next spell begins on time, whatever is fetched"
    reads.close()


async def test_a_spell_lasts_while_its_partitions_bring_messages() -> None:
    partitions, clock = Partitions("hot", "cold"), Clock()
    reads = off_path_reads(partitions, clock)
    clock.now += 10
    reads.fetched(of("hot", "cold"))
    reads.fetched(of("cold"))
    assert partitions.paused() == set(), "a backlog is read without a pause"
    reads.fetched([])
    assert partitions.paused() == set(of("cold"))
    reads.close()


async def test_a_partition_given_up_while_paused_is_not_resumed_and_a_new_one_is_paused_next() -> (
    None
):
    partitions, clock = Partitions("hot", "cold", "colder"), Clock()
    reads = off_path_reads(partitions, clock)
    clock.now += 1
    reads.fetched([])
    partitions.assigned = set(of("hot", "colder", "coldest"))  # a rebalance
    await asyncio.sleep(0.1)
    assert partitions.paused() == set()
    clock.now += 1
    reads.fetched([])
    assert partitions.paused() == set(of("colder", "coldest"))
    reads.close()


async def test_nothing_is_paused_without_a_topic_on_the_path_or_with_no_spells() -> None:
    clock = Clock()
    none_on_the_path = Partitions("a", "b")
    no_spells = Partitions("hot", "b")
    for reads, partitions in (
        (off_path_reads(none_on_the_path, clock, on_the_path=()), none_on_the_path),
        (
            OffPathReads(
                no_spells,
                on_the_path=frozenset({"hot"}),
                every_seconds=0,
                open_seconds=0,
                clock=clock,
            ),
            no_spells,
        ),
    ):
        assert not reads.enabled
        clock.now += 10
        reads.fetched([])
        assert partitions.paused() == set()


async def test_closed_it_opens_no_spell_again() -> None:
    partitions, clock = Partitions("hot", "cold"), Clock()
    reads = off_path_reads(partitions, clock)
    clock.now += 1
    reads.fetched([])
    reads.close()
    await asyncio.sleep(0.1)
    assert partitions.paused() == set(of("cold"))


def test_order_and_inventory_name_the_topics_paid_to_allocated_crosses() -> None:
    assert OrderSettings.topics_on_the_order_path == ("channel.orders.v1", "inventory.events.v1")
    assert InventorySettings.topics_on_the_order_path == ("order.events.v1",)
    for settings in SETTINGS:
        if settings not in (OrderSettings, InventorySettings):
            assert settings.topics_on_the_order_path == (), settings
