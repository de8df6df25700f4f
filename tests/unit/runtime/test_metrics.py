"""`/metrics`: what a service serves Prometheus, and the alert rules built on it."""

from __future__ import annotations

import gc
import re
import shutil
import subprocess
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families

from services.inventory.application import InventoryApplication
from services.inventory.domain import Receipt
from services.order.metrics import state_figures
from services.runtime.heap import freeze_startup_objects, observe_collections
from services.runtime.metrics import Observed, install_metrics

ALERTS = Path(__file__).resolve().parents[3] / "docs" / "alerts.yml"
ALERT_TESTS = ALERTS.with_name("alerts-test.yml")
"""promtool's unit tests of the rules: series in, alerts expected out."""

STATUS: dict[str, Any] = {
    "database": "ok",
    "kafka": "ok",
    "consumer": {
        "alive": True,
        "lag": 12,
        "partner_lag": 3,
        "partition_lag": {"order.events.v1": {"0": 9, "1": 0}, "channel.orders.v1": {"0": 3}},
        "dead_letters": 1,
        "parked": 2,
        "letters_by_type": {"dead": {"KeyError": 1}, "parked": {"Parked": 1, "VersionGap": 1}},
        "batches": 7,
        "batches_applied_one_by_one": 1,
        "by_topic": {"order.events.v1": {"applied": 40, "dead-lettered": 1}},
    },
    "relays": {
        "inventory.events.v1": {
            "alive": True,
            "leader": True,
            "lag": 5,
            "oldest_unpublished_seconds": 0.25,
        }
    },
}


async def health() -> tuple[bool, dict[str, Any]]:
    return True, STATUS


NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


async def order_states() -> Iterable[Metric]:
    return state_figures(
        [
            {
                "state": "paid",
                "orders": 3,
                "held": 1,
                "stuck": 2,
                "oldest_since": NOW - timedelta(hours=2),
            },
            {
                "state": "delivered",
                "orders": 9,
                "held": 0,
                "stuck": 0,
                "oldest_since": NOW - timedelta(days=1),
            },
        ],
        NOW,
    )


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.fixture
async def scraped() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    install_metrics(app, "inventory", health, order_states)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        assert (await client.get("/items/1")).status_code == 200
        assert (await client.get("/items/x")).status_code == 422
        reply = await client.get("/metrics")
    assert reply.headers["content-type"].startswith("text/plain")
    return samples(reply.text)


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset(values.items())


async def test_http_requests_are_counted_by_route_template_and_status(
    scraped: dict[tuple[str, frozenset[tuple[str, str]]], float],
) -> None:
    route = {"service": "inventory", "route": "/items/{item_id}", "method": "GET"}
    assert scraped[("unitrail_http_requests_total", labels(**route, status="200"))] == 1
    assert scraped[("unitrail_http_requests_total", labels(**route, status="422"))] == 1
    timed = labels(service="inventory", route="/items/{item_id}")
    assert scraped[("unitrail_http_request_duration_seconds_count", timed)] == 2


async def test_the_consumer_and_the_relays_are_read_from_the_status_when_scraped(
    scraped: dict[tuple[str, frozenset[tuple[str, str]]], float],
) -> None:
    service = labels(service="inventory")
    topic = labels(service="inventory", topic="inventory.events.v1")
    assert scraped[("unitrail_healthy", service)] == 1
    assert scraped[("unitrail_consumer_lag_messages", service)] == 12
    assert scraped[("unitrail_consumer_partner_lag_messages", service)] == 3
    partition = {"service": "inventory", "topic": "order.events.v1"}
    lag = "unitrail_consumer_partition_lag_messages"
    assert scraped[(lag, labels(**partition, partition="0"))] == 9
    assert scraped[(lag, labels(**partition, partition="1"))] == 0
    assert (
        scraped[(lag, labels(service="inventory", topic="channel.orders.v1", partition="0"))] == 3
    )
    assert scraped[("unitrail_dead_letters", service)] == 1
    assert scraped[("unitrail_parked_messages", service)] == 2
    by_type = "unitrail_dead_letters_by_type"
    assert scraped[(by_type, labels(service="inventory", state="dead", error_type="KeyError"))] == 1
    for kind in ("Parked", "VersionGap"):
        assert scraped[(by_type, labels(service="inventory", state="parked", error_type=kind))] == 1
    consumed = labels(service="inventory", topic="order.events.v1", outcome="dead-lettered")
    assert scraped[("unitrail_consumer_messages_total", consumed)] == 1
    assert scraped[("unitrail_consumer_batches_applied_one_by_one_total", service)] == 1
    assert scraped[("unitrail_relay_lag_events", topic)] == 5
    assert scraped[("unitrail_relay_oldest_unpublished_seconds", topic)] == 0.25
    assert scraped[("unitrail_relay_leader", topic)] == 1
    assert any(name == "process_resident_memory_bytes" for name, _ in scraped)


async def test_a_service_adds_figures_of_its_own_such_as_orders_per_status(
    scraped: dict[tuple[str, frozenset[tuple[str, str]]], float],
) -> None:
    paid, delivered = (
        labels(service="order", state="paid"),
        labels(service="order", state="delivered"),
    )
    assert scraped[("unitrail_orders", paid)] == 3
    assert scraped[("unitrail_orders_held", paid)] == 1
    assert scraped[("unitrail_orders_stuck", paid)] == 2
    assert scraped[("unitrail_orders_oldest_in_state_seconds", paid)] == 7200
    assert scraped[("unitrail_orders", delivered)] == 9
    assert scraped[("unitrail_orders", labels(service="order", state="shipped"))] == 0, (
        "every status is exported, so an alert sees it return to 0"
    )


async def test_every_alert_rule_is_complete_and_uses_only_metrics_that_exist(
    scraped: dict[tuple[str, frozenset[tuple[str, str]]], float],
) -> None:
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= {
        "UnitrailServiceDown",
        "UnitrailRelayBehind",
        "UnitrailConsumerBehind",
        "UnitrailDeadLetters",
        "UnitrailOrdersStuck",
    }
    exported = {name for name, _ in scraped} | {
        re.sub(r"_(count|sum|bucket)$", "", name) for name, _ in scraped
    }
    for rule in rules:
        for part in (rule["expr"], rule["for"], rule["labels"]["severity"]):
            assert part, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        used = set(re.findall(r"\bunitrail_[a-z_]+", rule["expr"]))
        assert used <= exported, f"{rule['alert']} uses {sorted(used - exported)}"


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    program = shutil.which("promtool")
    if program is None:
        pytest.fail(
            "promtool is missing: scripts/install-system-tools installs it (apt prometheus)"
        )
    return subprocess.run(
        [program, *arguments], capture_output=True, text=True, timeout=60, check=False
    )


def test_promtool_finds_the_alert_rules_valid_and_they_fire_and_clear_as_their_tests_say() -> None:
    checked = promtool("check", "rules", str(ALERTS))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(ALERT_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_promtool_refuses_a_rule_it_cannot_parse(tmp_path: Path) -> None:
    broken = tmp_path / "alerts.yml"
    broken.write_text(
        ALERTS.read_text(encoding="utf-8").replace(
            "sum by (service) (unitrail_dead_letters) > 0",
            "sum by (service) (unitrail_dead_letters > 0",
        ),
        encoding="utf-8",
    )
    checked = promtool("check", "rules", str(broken))
    assert checked.returncode != 0
    assert "UnitrailDeadLetters" in checked.stderr, "the rule it cannot parse is named"


def observed(name: str, service: str, **more: str) -> float:
    """How many times the histogram `name` was observed for `service` (and the `more` labels) in
    this process."""
    registry = CollectorRegistry()
    registry.register(Observed())
    wanted = {"service": service} | more
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if sample.name == f"{name}_count" and wanted.items() <= sample.labels.items():
                return float(sample.value)
    return 0.0


def test_every_save_is_timed_where_the_store_records_it() -> None:
    before = observed("unitrail_store_append_seconds", "inventory")
    inventory = InventoryApplication(None)
    inventory.receive_stock("CAM-1", Receipt("WH-A", 3, "purchase-receipt", "dock"))
    inventory.receive_stock("CAM-1", Receipt("WH-A", 2, "purchase-receipt", "dock"))
    assert observed("unitrail_store_append_seconds", "inventory") == before + 2


def test_every_garbage_collection_is_observed_by_generation() -> None:
    observe_collections("inventory")
    observe_collections("inventory")  # once per process, however often a service starts
    before = observed("unitrail_gc_pause_seconds", "inventory", generation="2")
    gc.collect()
    assert observed("unitrail_gc_pause_seconds", "inventory", generation="2") == before + 1


def test_what_startup_made_is_set_aside_and_later_garbage_is_still_collected() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 0
        survivor = weakref.ref(Node())
        assert survivor() is not None
        gc.collect()
        assert survivor() is None
    finally:
        gc.unfreeze()
