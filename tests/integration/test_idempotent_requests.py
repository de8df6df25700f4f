"""A client that retries after a timeout, with the same `Idempotency-Key`: a stock receipt and a
purchase-order receipt (which gets a new receipt number on every request) are applied once."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.integration.harness import ServiceProcess, Services

pytestmark = pytest.mark.integration


def send(
    service: ServiceProcess, path: str, body: dict[str, Any], key: str
) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(
        f"{service.url}{path}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "idempotency-key": key}
        | service.authorization(),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, dict(reply.headers), json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def new_on_hand(inventory: ServiceProcess, sku: str) -> int:
    stock = inventory.get(f"/stock/{sku}")["stock"]
    return sum(row["on_hand"] for row in stock if row["condition"] == "new")


def test_retried_receipts_with_their_keys_are_applied_once(services: Services) -> None:
    (inventory,) = services("inventory")
    receipt = {
        "sku": "LENS-50",
        "location": "WH-A",
        "quantity": 4,
        "reason": "purchase-receipt",
    }

    first = send(inventory, "/stock/receipts", receipt, key="receipt-1")
    retried = send(inventory, "/stock/receipts", receipt, key="receipt-1")
    changed = send(inventory, "/stock/receipts", receipt | {"quantity": 5}, key="receipt-1")

    assert (first[0], retried[0], changed[0]) == (201, 201, 409)
    assert retried[2] == first[2]
    assert retried[1]["idempotent-replayed"] == "true"
    assert new_on_hand(inventory, "LENS-50") == 4

    inventory.post(
        "/purchase-orders",
        {
            "purchase_order_id": "PO-9001",
            "supplier": "Acme Optics",
            "location": "WH-A",
            "expected_on": "2026-12-01",
            "lines": [{"sku": "LENS-50", "quantity": 10, "unit_cost": "80", "currency": "USD"}],
        },
    )
    inventory.post("/purchase-orders/PO-9001/confirmation", {})
    goods = {"lines": [{"sku": "LENS-50", "quantity": 6}]}

    received = send(inventory, "/purchase-orders/PO-9001/receipts", goods, key="dock-4-0001")
    again = send(inventory, "/purchase-orders/PO-9001/receipts", goods, key="dock-4-0001")

    assert (received[0], again[0]) == (201, 201)
    assert again[2] == received[2]
    assert len(received[2]["receipts"]) == 1
    order = inventory.get("/purchase-orders/PO-9001")
    assert [(line["received"], line["outstanding"]) for line in order["lines"]] == [(6, 4)]
    assert new_on_hand(inventory, "LENS-50") == 10
