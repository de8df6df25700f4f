"""A consumer at rest fetches with the long wait, and still reads the next message it is sent."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from contracts.topics import CHANNEL_ORDERS
from services.runtime.fetch_wait import FetchWait
from tests.integration.harness import Stack

pytestmark = pytest.mark.integration


async def test_a_quiet_consumer_waits_long_and_a_message_makes_it_short_again(
    stack: Stack,
) -> None:
    consumer = AIOKafkaConsumer(
        CHANNEL_ORDERS.name,
        bootstrap_servers=stack.bootstrap_servers,
        group_id="fetch-wait-test",
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap_servers, acks="all")
    await consumer.start()
    await producer.start()
    try:
        wait = FetchWait(
            consumer, busy_ms=50, idle_ms=1000, quiet_after_seconds=0.5, doubling_seconds=0
        )
        await asyncio.sleep(0.6)
        wait.observed(0)
        # The attribute the pinned aiokafka builds every fetch request from.
        assert consumer._fetcher._fetch_max_wait_ms == 1000

        await producer.send_and_wait(CHANNEL_ORDERS.name, b"{}", key=b"fetch-wait")
        read = 0
        for _ in range(60):  # generous: the broker answers a long fetch late
            read = sum(len(batch) for batch in (await consumer.getmany(timeout_ms=500)).values())
            wait.observed(read)
            if read:
                break
        assert read == 1
        assert consumer._fetcher._fetch_max_wait_ms == 50
    finally:
        await producer.stop()
        await consumer.stop()
