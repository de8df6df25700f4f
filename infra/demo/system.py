"""How the demo talks to a running system: the services' APIs with tokens of its own roles,
and the channel orders topic as a connector would."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from aiokafka import AIOKafkaProducer

from contracts.topics import CHANNEL_ORDERS
from infra.demo.orders import CATALOGUE, PRODUCTS, DemoOrder, Product, batch_of, receipts
from infra.demo.report import Progress, say, tally
from infra.tokens import client_token
from services.runtime.auth import Role
from services.runtime.kafka import client_security


class SystemUnavailable(Exception):
    """A service does not answer."""


@dataclass(frozen=True)
class Endpoints:
    pim: str
    inventory: str
    order: str
    shipping: str
    returns: str
    bootstrap: str


@dataclass(frozen=True)
class Acting:
    """Who the demo acts as for a call: a role and a name (the token's subject)."""

    role: Role
    subject: str


BUYER = Acting(Role.INVENTORY, "demo-buyer")
RISK_DESK = Acting(Role.CUSTOMER_SERVICE, "risk-desk")
SERVICE_DESK = Acting(Role.CUSTOMER_SERVICE, "demo-service-desk")
INSPECTOR = Acting(Role.WAREHOUSE, "demo-inspector")


async def call(
    method: str, url: str, body: dict[str, Any] | None = None, acting: Acting | None = None
) -> tuple[int, Any]:
    """One JSON request, with a token of `acting` when given; (status, decoded body). Raises
    `SystemUnavailable` when nothing answers."""
    headers = {}
    if acting is not None:
        headers["authorization"] = f"Bearer {client_token(acting.role, acting.subject)}"
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            reply = await client.request(method, url, json=body, headers=headers)
    except httpx.RequestError as error:
        raise SystemUnavailable(f"{url}: {error}") from None
    return reply.status_code, reply.json() if reply.content else None


async def check_running(endpoints: Endpoints) -> None:
    for name in ("pim", "inventory", "order", "shipping", "returns"):
        url = getattr(endpoints, name)
        status, _ = await call("GET", f"{url}/health")
        if status != 200:
            raise SystemUnavailable(f"{name} at {url} is not healthy ({status})")


async def register_catalogue(endpoints: Endpoints) -> None:
    for product in CATALOGUE:
        status, answer = await call(
            "PUT",
            f"{endpoints.pim}/products/{product.sku}",
            {
                "name": product.name,
                "weight_grams": product.weight_grams,
                "lithium_ion": product.lithium_ion,
                "serialized": product.serialized,
                "warranty_months": 24,
                "certifications": [
                    {"scheme": scheme, "valid_from": "2025-01-01"}
                    for scheme in ("FCC", "CE", "UKCA", "ISED")
                ],
            },
            BUYER,
        )
        if status != 200:
            raise SystemExit(f"PIM refused {product.sku}: {answer}")
    say(f"catalogue: {len(CATALOGUE)} products in PIM ({', '.join(PRODUCTS)})")
    # Labels need each product's weight and lithium-ion flag at shipping; wait until it has them.
    deadline = time.monotonic() + 60
    for product in CATALOGUE:
        url = f"{endpoints.shipping}/consignments/product-facts/{quote(product.sku)}"
        while (await call("GET", url, acting=BUYER))[0] != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"shipping never learned the facts of {product.sku}")
            await asyncio.sleep(0.3)


UNIT_COST_SHARE = Decimal("0.62")
"""What a unit costs the brand, as a share of its selling price (valued in the finance feed)."""

RECEIVING_TIMEOUT = 60.0
"""Seconds the simulated 3PL may take to receive the purchase orders at its docks."""


async def to_inventory(endpoints: Endpoints, path: str, body: dict[str, Any], what: str) -> Any:
    status, answer = await call("POST", f"{endpoints.inventory}{path}", body, BUYER)
    if status not in (200, 201):
        raise SystemExit(f"inventory refused {what}: {answer}")
    return answer


async def receive_stock(endpoints: Endpoints, run: str, orders: list[DemoOrder]) -> None:
    """One purchase order per warehouse, confirmed, with the supplier's ASN naming every serial
    and batch; the simulated 3PL receives the goods at its dock, as a real one would."""
    by_location: dict[str, list[tuple[Product, int, list[str]]]] = {}
    for product, location, quantity, serials in receipts(run, orders):
        by_location.setdefault(location, []).append((product, quantity, serials))
    today = datetime.now(UTC).date().isoformat()
    numbers = []
    for location, lines in sorted(by_location.items()):
        number = f"PO-{run}-{location}"
        order_lines = [
            {
                "sku": product.sku,
                "quantity": quantity,
                "unit_cost": str((product.price * UNIT_COST_SHARE).quantize(Decimal("0.01"))),
                "currency": "USD",
            }
            for product, quantity, _ in lines
        ]
        shipped = [
            {
                "sku": product.sku,
                "quantity": quantity,
                "serials": serials,
                "batch": batch_of(run, product) if serials else None,
            }
            for product, quantity, serials in lines
        ]
        await to_inventory(
            endpoints,
            "/purchase-orders",
            {
                "purchase_order_id": number,
                "supplier": "Northwind Devices",
                "location": location,
                "expected_on": today,
                "lines": order_lines,
            },
            f"purchase order {number}",
        )
        await to_inventory(
            endpoints,
            f"/purchase-orders/{number}/confirmation",
            {},
            f"the confirmation of {number}",
        )
        await to_inventory(
            endpoints,
            f"/purchase-orders/{number}/asns",
            {
                "asn_id": f"ASN-{run}-{location}",
                "expected_on": today,
                "lines": shipped,
                "on_behalf_of": "Northwind Devices",
            },
            f"the ASN of {number}",
        )
        numbers.append(number)
    await wait_until_received(endpoints, numbers)
    totals = {
        location: sum(quantity for _, quantity, _ in lines)
        for location, lines in by_location.items()
    }
    say(
        "stock received: "
        + ", ".join(f"{units} units at {location}" for location, units in sorted(totals.items()))
        + f" (purchase orders {', '.join(numbers)}, received by the 3PL against their ASNs; "
        + f"serials like LT14-{run}-A0000, production batches like {batch_of(run, CATALOGUE[0])})"
    )


async def wait_until_received(endpoints: Endpoints, numbers: list[str]) -> None:
    deadline = time.monotonic() + RECEIVING_TIMEOUT
    for number in numbers:
        while True:
            _, order = await call(
                "GET", f"{endpoints.inventory}/purchase-orders/{number}", acting=BUYER
            )
            if order["rejected_receipts"]:
                raise SystemExit(f"{number}: a receipt was refused: {order['rejected_receipts']}")
            if order["status"] == "received":
                break
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{number} was not received within {RECEIVING_TIMEOUT:.0f} s: is a 3PL (the "
                    "simulated one: UNITRAIL_SIMULATORS) receiving at its location?"
                )
            await asyncio.sleep(0.3)


async def send_orders(bootstrap: str, orders: list[DemoOrder], rate: float) -> None:
    """Publish the orders as a channel connector would: plain JSON keyed channel:order id."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", client_id="unitrail-demo", **client_security()
    )
    await producer.start()
    try:
        started = time.monotonic()
        for index, order in enumerate(orders):
            await asyncio.sleep(max(0.0, started + index / rate - time.monotonic()))
            await producer.send_and_wait(
                CHANNEL_ORDERS.name,
                order.message.model_dump_json().encode(),
                key=order.reference.encode(),
                headers=[("correlation_id", f"demo:{order.reference}".encode())],
            )
            order.sent_at = time.monotonic()
            order.status = "sent"
    finally:
        await producer.stop()


async def refresh(endpoints: Endpoints, order: DemoOrder, limit: asyncio.Semaphore) -> None:
    if order.sent_at is None or order.status == "delivered":
        return
    channel = quote(order.message.channel, safe="")
    channel_order_id = quote(order.message.channel_order_id, safe="")
    async with limit:
        status, view = await call(
            "GET",
            f"{endpoints.order}/orders/by-channel/{channel}/{channel_order_id}",
            acting=SERVICE_DESK,
        )
    if status != 200:
        return  # not placed yet
    order.view, order.status, order.on_hold = view, view["status"], view["on_hold"]
    if order.status == "delivered":
        order.delivered_at = time.monotonic()


async def review_holds(endpoints: Endpoints, orders: list[DemoOrder], review_after: float) -> None:
    """The risk desk looks at each held order of the demo and releases it."""
    for order in orders:
        if not order.on_hold or order.released or order.sent_at is None:
            continue
        if time.monotonic() - order.sent_at < review_after:
            continue
        order.released = True
        status, _ = await call(
            "POST",
            f"{endpoints.order}/orders/{order.view['order_id']}/release-hold",
            {"note": "customer confirmed the order by phone"},
            RISK_DESK,
        )
        outcome = "released it" if status == 200 else f"could not release it ({status})"
        say(
            f"\nrisk desk: {order.reference} was held ({order.view.get('hold_reason')}); "
            f"reviewed and {outcome}"
        )


async def watch(
    endpoints: Endpoints,
    orders: list[DemoOrder],
    sending: asyncio.Task[None],
    *,
    give_up_after: float,
    review_after: float,
) -> None:
    """Poll the order API until every order is delivered, the timeout passes, or sending failed."""
    started = time.monotonic()
    limit = asyncio.Semaphore(8)
    progress = Progress()
    while True:
        await asyncio.gather(*(refresh(endpoints, order, limit) for order in orders))
        progress.show(time.monotonic() - started, tally(orders))
        await review_holds(endpoints, orders, review_after)
        if sending.done() and sending.exception() is not None:
            break
        if all(order.status == "delivered" for order in orders):
            break
        if time.monotonic() - started > give_up_after:
            break
        await asyncio.sleep(1)
    progress.done()
