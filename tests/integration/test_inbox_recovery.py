"""A consumer that meets an error nothing expected keeps consuming: the batch is consumed again
after it joins the group afresh, and applied once. A real broker; the service's application on
the store's in-memory recorders (the database's own outages are proven in `tests/faults`)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence

import pytest
from aiokafka import AIOKafkaProducer, ConsumerRecord
from structlog.testing import capture_logs

from contracts.channel import order_id_for
from services.order.application import OrderApplication, UnknownOrder
from services.order.config import OrderSettings
from services.order.domain import OrderStatus
from services.order.handlers import register_handlers
from services.runtime.consumer import Outcome
from services.runtime.inbox import KafkaInbox
from services.runtime.topics import ensure_topics
from tests.component.inbox import inbox_of
from tests.integration import backends
from tests.integration.harness import channel_order


def placed(orders: OrderApplication, order_id: uuid.UUID) -> bool:
    try:
        orders.get_order(order_id)
    except UnknownOrder:
        return False
    return True


async def test_a_consumer_failing_unexpectedly_joins_again_and_applies_the_batch_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with backends.broker() as bootstrap:
        await ensure_topics(bootstrap)
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
        monkeypatch.setenv("UNITRAIL_KAFKA_SESSION_TIMEOUT_MS", "3000")
        with inbox_of("order", OrderApplication(None), register_handlers) as box:
            handle_batch = box.consumer.handle_batch
            failed: list[int] = []

            async def fails_the_first_time(
                records: Sequence[ConsumerRecord[bytes, bytes]],
            ) -> list[Outcome]:
                if not failed:
                    failed.append(len(records))
                    raise RuntimeError("nothing expected this")
                return await handle_batch(records)

            box.consumer.handle_batch = fails_the_first_time  # type: ignore[method-assign]
            inbox = KafkaInbox(box.consumer, OrderSettings())
            producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
            await producer.start()
            with capture_logs() as logs:
                await inbox.start()
                try:
                    message = json.dumps(channel_order("7001")).encode()
                    await producer.send_and_wait("channel.orders.v1", message, key=b"webshop:7001")
                    order_id = order_id_for("webshop", "7001")
                    deadline = time.monotonic() + 60
                    while not placed(box.application, order_id):
                        assert time.monotonic() < deadline, "the order was never placed"
                        assert inbox.alive, "the consumer stopped"
                        await asyncio.sleep(0.2)
                    order = box.application.get_order(order_id)
                    assert (order.status, order.version) == (OrderStatus.PAID, 2)
                    assert failed == [1]
                    assert inbox.alive
                finally:
                    await inbox.stop()
                    await producer.stop()
    assert box.dead_letters == []
    (failure,) = [entry for entry in logs if entry["event"].startswith("consuming failed")]
    assert failure["error"] == "RuntimeError('nothing expected this')"
