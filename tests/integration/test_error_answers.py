"""Every service answers what went wrong in one way: the same status for the same kind of error,
and one body shape, `{"error": {"type", "message", "details"}}`."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.integration.harness import Services, channel_order, request

pytestmark = pytest.mark.integration

SERVICES = ("pim", "inventory", "order", "returns", "shipping", "warehouse_adapter", "traceability")


def assert_error_body(answer: Any, what: str) -> dict[str, Any]:
    assert isinstance(answer, dict), (what, answer)
    assert set(answer) == {"error"}, (what, answer)
    error: dict[str, Any] = answer["error"]
    assert set(error) == {"type", "message", "details"}, (what, answer)
    assert error["type"], (what, answer)
    assert error["message"], (what, answer)
    return error


def test_every_service_answers_a_broken_rule_with_422_and_a_missing_thing_with_404(
    services: Services,
) -> None:
    pim, inventory, order, returns, shipping, warehouse, traceability = services(*SERVICES)
    status, _ = request(order, "POST", "/intake/channel.orders.v1", channel_order("ERR-1"))
    assert status == 202
    order_id = request(order, "GET", "/orders/by-channel/webshop/ERR-1")[1]["order_id"]

    broken_rules = {
        "pim": request(
            pim,
            "PUT",
            "/parents/PHONE",
            {"name": "Phone", "axes": {f"a{n}": ["x"] for n in range(7)}},
        ),
        "inventory": request(
            inventory,
            "POST",
            "/stock/receipts",
            {
                "sku": "LAPTOP-14",
                "location": "WH-A",
                "quantity": 1,
                "reason": "purchase-receipt",
                "serials": ["SN-1", "SN-2"],
            },
        ),
        # held until the PIM knows LAPTOP-14; a reviewer's note is at most 500 characters
        "order": request(order, "POST", f"/orders/{order_id}/release-hold", {"note": "why " * 126}),
        "returns": request(
            returns, "POST", "/rmas", {"order_id": order_id, "line_number": 1, "reason": " "}
        ),
        "shipping": request(shipping, "POST", "/intake/carrier.tracking.v1", {"carrier": "?"}),
        "warehouse_adapter": request(
            warehouse, "POST", "/intake/threepl.confirmations.v1", {"kind": "?"}
        ),
        "traceability": request(traceability, "GET", "/recall"),
    }
    for service, (status, answer) in broken_rules.items():
        assert_error_body(answer, service)
        assert status == 422, (service, status, answer)

    unknown = uuid.uuid4()
    missing = {
        "pim": request(pim, "GET", "/products/NO-SUCH-SKU"),
        "inventory": request(inventory, "GET", "/stock/NO-SUCH-SKU/movements"),
        "order": request(order, "GET", f"/orders/{unknown}"),
        "returns": request(returns, "GET", f"/rmas/{unknown}"),
        "shipping": request(shipping, "GET", f"/consignments/{unknown}"),
        "warehouse_adapter": request(warehouse, "GET", f"/fulfilments/{unknown}"),
        "traceability": request(traceability, "GET", "/units/NO-SUCH-SERIAL/trace"),
    }
    for service, (status, answer) in missing.items():
        error = assert_error_body(answer, service)
        assert status == 404, (service, status, answer)
        assert error["type"].startswith(("not-found", "unknown-")), (service, error)
