"""Customers of delivered demo orders send a unit back; the demo inspects and refunds."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from infra.demo.orders import CATALOGUE, DemoOrder
from infra.demo.report import say
from infra.demo.system import INSPECTOR, SERVICE_DESK, Endpoints, call

RETURN_SETTLED = ("refunded", "under-review", "refused", "rejected", "signed-off")


async def return_some(
    endpoints: Endpoints, orders: list[DemoOrder], count: int, give_up_after: float
) -> bool:
    """Customers send back the first line of `count` delivered orders: each RMA is authorised,
    its label bought, the unit scanned at the dock (by the simulated returns), inspected as opened
    but working (grade B, open-box stock) and refunded, or blocked when another unit came back."""
    serialized = {product.sku for product in CATALOGUE if product.serialized}
    delivered = [  # a return is checked by the serial packed for the line
        order
        for order in orders
        if order.status == "delivered" and order.message.lines[0].sku in serialized
    ][:count]
    if not delivered:
        return True
    say()
    say(f"returning {len(delivered)} delivered orders' first line ...")
    rmas = []
    for order in delivered:
        status, rma = await call(
            "POST",
            f"{endpoints.returns}/rmas",
            {
                "order_id": order.view["order_id"],
                "line_number": 1,
                "reason": "opened it, changed my mind",
                "idempotency_key": f"demo:{order.reference}",
            },
            SERVICE_DESK,
        )
        if status not in (200, 201):
            say(f"  {order.reference}: return refused ({status}: {rma})")
            continue
        rmas.append(rma)
    deadline = time.monotonic() + give_up_after
    settled: dict[str, dict[str, Any]] = {}
    while len(settled) < len(rmas) and time.monotonic() < deadline:
        for rma in rmas:
            rma_id = rma["rma_id"]
            if rma_id in settled:
                continue
            _, view = await call("GET", f"{endpoints.returns}/rmas/{rma_id}", acting=SERVICE_DESK)
            if view["status"] == "received":
                checklist = dict.fromkeys(view["inspection_checks"], True)
                checklist["factory_seal_intact"] = False
                _, view = await call(
                    "POST",
                    f"{endpoints.returns}/rmas/{rma_id}/inspection",
                    {"checklist": checklist},
                    INSPECTOR,
                )
            if view["status"] in RETURN_SETTLED:
                settled[rma_id] = view
        await asyncio.sleep(0.5)
    for view in settled.values():
        refund = view["refund"]
        outcome = (
            f"refunded {refund['amount']} {refund['currency']}, grade {view['inspection']['grade']}"
            if refund
            else f"{view['status']}: {view['refund_blocked'] or view['eligibility']['decision']}"
        )
        receipt = view["receipt"] or {}
        say(f"  RMA {view['rma_id'][:8]} {view['sku']} serial {receipt.get('serial')}: {outcome}")
    for rma in rmas:
        if rma["rma_id"] not in settled:
            say(f"  RMA {rma['rma_id'][:8]} {rma['sku']}: still {rma['status']} at the timeout")
    return len(settled) == len(rmas)
