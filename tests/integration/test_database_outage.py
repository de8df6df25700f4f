"""A Postgres outage, on a Postgres of the test's own: requests fail fast, then the service recovers.

The session's Postgres is shared by every other test, so this one starts and stops its own.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.embedded import EmbeddedPostgres
from tests.integration.harness import Channel, ServiceProcess, Services, eventually
from tests.integration.test_delivery_guarantees import metrics_of, order_paid, order_placed

pytestmark = pytest.mark.integration

CLIENT_TIMEOUT = 15.0
"""What the reporting client waited before it gave up; an answer must come well before."""
FAIL_FAST = 5.0
"""A generous bound on a 503 (about 2 s is expected), so a busy machine does not fail the test."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    seconds: float


def post(service: ServiceProcess, path: str, body: dict[str, Any]) -> Answer:
    request = urllib.request.Request(
        f"{service.url}{path}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"} | service.authorization(),
        method="POST",
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=CLIENT_TIMEOUT) as reply:
            status, headers, raw = reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    return Answer(status, headers, json.loads(raw), time.monotonic() - started)


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def postgres_dsn(own_postgres: EmbeddedPostgres) -> str:
    """The stack of this module's tests uses the test's own Postgres."""
    return own_postgres.dsn


def receipt(quantity: int) -> dict[str, Any]:
    return {
        "sku": "LAPTOP-14",
        "location": "WH-A",
        "quantity": quantity,
        "reason": "purchase-receipt",
    }


def consumer_lag(service: ServiceProcess, topic: str) -> tuple[float, float] | None:
    """The consumer's lag as Prometheus scrapes it: in all, and over the partitions of `topic`
    (None while the service does not know it)."""
    total, on_topic = None, 0.0
    for family in text_string_to_metric_families(metrics_of(service)):
        for sample in family.samples:
            if sample.name == "unitrail_consumer_lag_messages":
                total = sample.value
            elif (
                sample.name == "unitrail_consumer_partition_lag_messages"
                and sample.labels["topic"] == topic
            ):
                on_topic += sample.value
    return None if total is None else (total, on_topic)


def test_requests_answer_503_quickly_while_postgres_is_down_and_work_again_after(
    own_postgres: EmbeddedPostgres, services: Services, channel: Channel
) -> None:
    dsn = own_postgres.dsn
    (inventory,) = services("inventory")
    assert post(inventory, "/stock/receipts", receipt(5)).status == 201

    own_postgres.stop()
    # The first request finds its pooled connection dead; the next ones find no connection.
    answers = [post(inventory, "/stock/receipts", receipt(1)) for _ in range(3)]

    for answer in answers:
        assert answer.status == 503, answer
        assert answer.seconds < FAIL_FAST, answer
        assert answer.headers["retry-after"].isdigit()
        assert "the database is unavailable" in answer.body["error"]["message"]
    print("seconds to 503:", [round(answer.seconds, 2) for answer in answers])

    # An order paid meanwhile waits for inventory's consumer: /metrics counts its two events as
    # lag, in all and on their partition, until Postgres is back and they are applied.
    order_id = uuid.uuid4()
    channel.publish("order.events.v1", order_placed(order_id), key=str(order_id))
    channel.publish("order.events.v1", order_paid(order_id, 2, "LAPTOP-14", 1), key=str(order_id))
    eventually(
        lambda: (
            (lag := consumer_lag(inventory, "order.events.v1")) is not None
            and lag[0] >= 2
            and lag[1] >= 2
        ),
        timeout=30,
        what="the waiting events counted as consumer lag",
    )

    assert own_postgres.start() == dsn
    restarted = time.monotonic()
    eventually(
        lambda: post(inventory, "/stock/receipts", receipt(2)).status == 201,
        timeout=60,
        what="a receipt to be accepted again",
    )
    print("seconds from restart to a 201:", round(time.monotonic() - restarted, 2))
    on_hand = inventory.get("/stock/LAPTOP-14")["locations"][0]["on_hand"]
    assert on_hand == 7, "the receipts refused with 503 were not applied"
    eventually(
        lambda: consumer_lag(inventory, "order.events.v1") == (0, 0),
        timeout=30,
        what="the consumer lag back to 0",
    )
    assert inventory.get("/stock/LAPTOP-14")["locations"][0]["reserved"] == 1
