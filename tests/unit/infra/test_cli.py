"""The operator CLI's parsing of order references."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import re
import uuid

import pytest

from contracts.channel import order_id_for
from contracts.topics import SERVICES
from infra.cli import main
from infra.cli.calls import fetch, service_url
from infra.cli.dead_letters import CONSUMING_SERVICES, dead_letters_table, describe_redrive
from infra.cli.orders import describe, order_path
from infra.cli.output import duration, plain
from infra.cli.replay import READ_MODEL_SERVICES, not_swapped, progress_bar, replay_summary
from infra.cli.status import health_of, status_table
from infra.cli.traceability import (
    aggregate_id,
    describe_trace,
    recall_csv,
    recall_table,
    serial_range,
)
from services.runtime.eventstore import ServiceApplication


def test_an_order_is_found_by_its_id_or_by_the_channel_and_its_id_there() -> None:
    assert order_path("0142bafe-7b7f-5988-a43f-3250a9eca13b") == (
        "/orders/0142bafe-7b7f-5988-a43f-3250a9eca13b"
    )
    assert order_path("amazon-de:302-1/7") == "/orders/by-channel/amazon-de/302-1%2F7"


def test_anything_else_is_refused_with_what_is_expected() -> None:
    with pytest.raises(SystemExit, match="neither an order id nor channel:channel_order_id"):
        order_path("1001")


# -- traceability commands ---------------------------------------------------------------------

UNIT = {
    "serial": "SN-0002",
    "sku": "CAM-1",
    "batch": "B1",
    "reference": "PO-1",
    "received_at": "2026-11-23T09:00:00Z",
    "received_location": "WH-A",
    "status": "shipped",
    "holder_kind": "customer",
    "holder": "Ada Lovelace",
    "customer_id": "C-1",
    "customer_name": "Ada Lovelace",
    "customer_email": "ada@example.com",
    "ship_to": "Ada Lovelace, 1 Engine Row, London, N1, GB",
    "channel": "webshop",
    "channel_order_id": "1001",
    "order_id": "0142bafe-7b7f-5988-a43f-3250a9eca13b",
    "location": "WH-A",
    "condition": None,
    "carrier": "ups",
    "service": "ground",
    "tracking_number": "1Z1",
    "shipped_at": "2026-11-23T10:00:00Z",
    "delivered_at": None,
    "rma_id": None,
    "holder_event": "StockShipped",
    "updated_at": "2026-11-23T10:00:01Z",
}
ON_SHELF = UNIT | {
    "serial": "SN-0001",
    "status": "in-stock",
    "holder_kind": "location",
    "holder": "WH-B",
    "location": "WH-B",
    "condition": "new",
    "customer_name": None,
    "channel": None,
    "order_id": None,
    "carrier": None,
    "tracking_number": None,
}


def test_a_serial_range_is_two_serials_in_order() -> None:
    assert serial_range("SN-0100..SN-0199") == ("SN-0100", "SN-0199")
    with pytest.raises(argparse.ArgumentTypeError, match="not a range"):
        serial_range("SN-0100-SN-0199")
    with pytest.raises(argparse.ArgumentTypeError, match="SN-2 comes after SN-10"):
        serial_range("SN-2..SN-10")


def test_an_aggregate_is_an_id_or_an_order_by_its_channel() -> None:
    assert aggregate_id("0142bafe-7b7f-5988-a43f-3250a9eca13b") == uuid.UUID(
        "0142bafe-7b7f-5988-a43f-3250a9eca13b"
    )
    assert aggregate_id("webshop:1001") == order_id_for("webshop", "1001")
    with pytest.raises(SystemExit, match="neither an aggregate id"):
        aggregate_id("1001")


def test_a_recall_prints_as_a_table_or_as_csv_with_every_field() -> None:
    answer = {"fields": list(UNIT), "units": [ON_SHELF, UNIT]}
    header, rule, *rows = plain(recall_table(answer)).splitlines()
    assert set(rule) == {"─"}
    table = [header, *rows]
    assert table[0].split() == [
        "serial", "sku", "batch", "status", "holder", "order", "location", "condition",
        "tracking", "delivered",
    ]  # fmt: skip
    assert table[1].split() == ["SN-0001", "CAM-1", "B1", "in-stock", "WH-B", "WH-B", "new"]
    assert table[2].split()[:6] == ["SN-0002", "CAM-1", "B1", "shipped", "Ada", "Lovelace"]
    assert "webshop:1001" in table[2]
    assert "ups 1Z1" in table[2]
    assert plain(recall_table({"fields": [], "units": []})) == "no units"
    lines = recall_csv(answer).splitlines()
    assert lines[0] == ",".join(UNIT)
    assert lines[2].startswith("SN-0002,CAM-1,B1,PO-1,")
    assert ',"Ada Lovelace, 1 Engine Row, London, N1, GB",' in lines[2]


def test_a_trace_reads_as_the_unit_story_with_its_holder() -> None:
    answer = {
        "serial": "SN-0002",
        "as_of": None,
        "units": [
            UNIT
            | {
                "history": [
                    {
                        "occurred_at": "2026-11-23T09:00:00Z",
                        "milestone": "received",
                        "summary": "received at WH-A: purchase-receipt, batch B1 (by dock)",
                        "order_id": None,
                    },
                    {
                        "occurred_at": "2026-11-23T09:30:00Z",
                        "milestone": "packed",
                        "summary": "verified and packed at WH-A into parcel P",
                        "order_id": UNIT["order_id"],
                        "channel": "webshop",
                        "channel_order_id": "1001",
                        "customer_name": "Ada Lovelace",
                    },
                ]
            }
        ],
    }
    text = describe_trace(answer).splitlines()
    assert text[0] == "unit SN-0002  CAM-1  batch B1, reference PO-1"
    assert text[1] == "holder    Ada Lovelace (customer C-1), order webshop:1001"
    assert text[2] == "parcel    ups ground 1Z1"
    assert text[4].split(None, 2)[1:] == [
        "received",
        "received at WH-A: purchase-receipt, batch B1 (by dock)",
    ]
    assert text[5].endswith("into parcel P [order webshop:1001, Ada Lovelace]")


def test_the_progress_bar_fills_with_what_was_read() -> None:
    assert progress_bar({"total": 200, "read": 50, "state": "reading"}, width=8) == (
        "[##......]  25%  50/200 events  reading"
    )
    assert progress_bar({"total": 0, "read": 0, "state": "done"}, width=4).startswith("[####] 100%")


def test_replay_knows_every_service_that_keeps_read_models() -> None:
    keeping = []
    for service in SERVICES:
        module = importlib.import_module(f"services.{service}.application")
        applications = [
            value
            for value in vars(module).values()
            if inspect.isclass(value)
            and issubclass(value, ServiceApplication)
            and value.__module__ == module.__name__
        ]
        if any(app.read_models is not None for app in applications):
            keeping.append(service)
    assert sorted(keeping) == sorted(READ_MODEL_SERVICES)


def test_dead_letters_are_asked_of_every_service_that_consumes() -> None:
    consuming = [
        service
        for service in SERVICES
        if importlib.util.find_spec(f"services.{service}.handlers") is not None
    ]
    assert sorted(consuming) == sorted(CONSUMING_SERVICES)


def test_a_replay_asks_the_service_whose_read_models_it_rebuilds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("UNITRAIL_SHIPPING_URL", raising=False)
    assert service_url("shipping", "http://o:1", "http://t:2") == "http://127.0.0.1:8006"
    monkeypatch.setenv("UNITRAIL_SHIPPING_URL", "http://shipping:80")
    assert service_url("shipping", "http://o:1", "http://t:2") == "http://shipping:80"
    assert service_url("order", "http://o:1", "http://t:2") == "http://o:1"
    assert service_url("traceability", "http://o:1", "http://t:2") == "http://t:2"
    with pytest.raises(SystemExit):
        main(["replay", "warehouse_adapter"])
    with pytest.raises(SystemExit):
        main(["replay", "all", "--url", "http://order:80"])


def test_a_finished_replay_says_what_it_read_and_what_the_tables_hold() -> None:
    progress = {
        "source": "stores",
        "read": 120,
        "skipped": 0,
        "merged_from_live": 3,
        "notes": ["pim: no event store in t_pim yet"],
        "counts": {"catalogue_listings": 8, "catalogued_products": 4},
    }
    assert replay_summary(progress).splitlines() == [
        "replayed 120 events from stores (0 skipped, 3 that arrived meanwhile taken in at the swap)",
        "  note: pim: no event store in t_pim yet",
        "read models: catalogue_listings 8, catalogued_products 4",
    ]


def test_a_refused_replay_says_why_and_how_to_rebuild_anyway() -> None:
    progress = {
        "state": "refused",
        "source": "topics",
        "refused": ["pim.events.v1 holds 0 events, pim's store 12 (the broker lost messages)"],
        "notes": [],
        "error": None,
    }
    assert not_swapped("order", progress).splitlines() == [
        "order: replay from topics refused, the live read models are untouched:",
        "  pim.events.v1 holds 0 events, pim's store 12 (the broker lost messages)",
        "  the event stores hold the whole history: --from stores",
    ]
    failed = progress | {"state": "failed", "error": "OperationalError('gone')"}
    assert not_swapped("order", failed) == "order: replay failed: OperationalError('gone')"


def test_where_says_how_long_a_parcel_has_waited_at_its_warehouse() -> None:
    parcel = {
        "location": "WH-A",
        "shipped": False,
        "delivered": False,
        "serials": [],
        "released_at": "2026-11-23T09:00:00+00:00",
        "waiting_at_warehouse_seconds": 42 * 60 + 5,
    }
    order = {
        "order_id": "0142bafe-7b7f-5988-a43f-3250a9eca13b",
        "channel": "webshop",
        "channel_order_id": "1001",
        "status": "released-to-warehouse",
        "on_hold": False,
        "customer": {"name": "Ada Lovelace"},
        "shipping_address": {"city": "London", "country": "GB"},
        "order_total": "10.00",
        "currency": "GBP",
        "signature_required": False,
        "lines": [],
        "allocation": [],
        "shipments": [parcel],
        "delivery_exceptions": [],
    }

    assert (
        "parcel from WH-A: at the warehouse, waiting for the 3PL for 42 min "
        "(released 2026-11-23T09:00:00+00:00)"
    ) in describe(order)
    assert [duration(s) for s in (59, 119, 120, 7199, 7260)] == [
        "59 s",
        "119 s",
        "2 min",
        "119 min",
        "2 h 1 min",
    ]


def test_dead_letters_read_as_one_line_each_with_their_reason() -> None:
    letter = {
        "id": 7,
        "state": "dead",
        "sequence": "inventory:3f0c",
        "version": 1,
        "topic": "inventory.events.v1",
        "error_type": "KeyError",
        "reason": "failed after 3 attempts: KeyError('order')",
        "attempts": 3,
        "first_seen": "2026-12-02T10:00:00.000000+00:00",
        "last_seen": "2026-12-02T10:00:01.000000+00:00",
        "resolved_at": None,
        "resolved_by": None,
        "resolution": None,
    }
    parked = letter | {"id": 8, "state": "parked", "version": 2, "reason": "behind a dead letter"}
    table = dead_letters_table(
        {"order": {"counts": {"dead": 1, "parked": 1}, "dead_letters": [letter, parked]}}
    )
    assert table.splitlines() == [
        "order: 1 dead, 1 parked",
        "  #7     dead       inventory:3f0c v1: failed after 3 attempts: KeyError('order')"
        " [3x since 2026-12-02T10:00:00]",
        "  #8     parked     inventory:3f0c v2: behind a dead letter [3x since 2026-12-02T10:00:00]",
    ]


def test_a_redrive_says_what_became_of_each_letter() -> None:
    answer = {
        "letter": 7,
        "results": [
            {"id": 7, "version": 1, "state": "redriven", "outcome": "applied"},
            {"id": 8, "version": 2, "state": "dead", "reason": "rule violated: no stock"},
        ],
    }
    assert describe_redrive("order", answer).splitlines() == [
        "order: redrive of #7",
        "  #7 v1: redriven",
        "  #8 v2: dead: rule violated: no stock",
    ]


def test_status_is_a_table_of_every_service_with_what_is_wrong() -> None:
    healthy = {
        "checks": {
            "consumer": {
                "alive": True,
                "lag": 3,
                "partner_lag": 1,
                "dead_letters": 2,
                "parked": 1,
                "letters_by_type": {
                    "dead": {"RecordedRefusal": 1, "KeyError": 1},
                    "parked": {"Parked": 1},
                },
            },
            "relays": {"order.events.v1": {"alive": True, "lag": 4}},
        }
    }
    header, rule, order, pim = plain(
        status_table({"order": ("healthy", healthy), "pim": ("unreachable", {"error": "refused"})})
    ).splitlines()
    assert header.split()[:2] == ["service", "state"]
    assert set(rule) == {"─"}
    assert order.split()[:6] == ["order", "healthy", "3", "(1)", "2/1", "4"]
    assert order.endswith("KeyError 1, RecordedRefusal 1, Parked 1"), "dead ones first"
    assert pim.split()[:2] == ["pim", "unreachable"]
    assert pim.endswith("refused")


def test_a_service_that_does_not_answer_is_named_with_its_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNITRAIL_TOKEN", "any")
    with pytest.raises(SystemExit, match=re.escape("the order service at http://127.0.0.1:9 ")):
        fetch("http://127.0.0.1:9", "/orders/x", timeout=2)
    assert health_of("http://127.0.0.1:9", timeout=2)[0] == "unreachable"
