"""`scripts/demo` (`python -m infra.demo`): push a realistic stream of orders through a running
system and watch them reach delivered.

Against the system `scripts/run` starts (the services plus the simulated 3PL and carriers) it:

1. registers a small electronics catalogue in PIM (repeating it changes nothing);
2. receives serialized stock at two warehouses through inventory (new serials every run);
3. publishes channel orders, as channel connectors would, to `channel.orders.v1` at a steady rate:
   several channels, values under and over $500, lithium-ion items, orders that split across both
   warehouses, and one order the fraud check holds;
4. shows how many orders are in each state until every one is delivered (or the timeout), releasing
   the held order as a risk reviewer would;
5. prints a summary, and where one order is (what `unitrail where` answers);
6. has the customers of a few delivered orders return a unit (`--returns`): each RMA is authorised,
   the simulated customer sends the unit back with the return label, the inspector grades it B
   (opened, works: open-box stock) and the refund is issued, unless the dock scanned another unit.

Every run uses fresh channel order ids, so it can run again against the same system.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from aiokafka import AIOKafkaProducer

from contracts.channel import (
    ChannelOrderLine,
    ChannelOrderMessage,
    Customer,
    ShippingAddress,
)
from contracts.topics import CHANNEL_ORDERS
from infra.cli import describe
from infra.tokens import client_token
from services.runtime.auth import Role
from services.runtime.kafka import client_security

LOCATIONS = ("WH-A", "WH-B")


@dataclass(frozen=True)
class Product:
    """A catalogue entry: PIM facts, a selling price, and where it is stocked."""

    sku: str
    name: str
    weight_grams: int
    lithium_ion: bool
    serialized: bool
    price: Decimal
    locations: tuple[str, ...]
    serial_prefix: str = ""


CATALOGUE = (
    Product("LAPTOP-14", "Aero 14 laptop, 16 GB / 512 GB", 1_600, True, True, Decimal("1199.00"), LOCATIONS, "LT14"),
    Product("CAMERA-X", "X-100 mirrorless camera body", 650, True, True, Decimal("1499.00"), ("WH-A",), "CAMX"),
    Product("LENS-50", "50 mm f/1.8 prime lens", 400, False, True, Decimal("249.00"), ("WH-B",), "LN50"),
    Product("HEADPHONES-NC", "Quiet 700 ANC headphones", 300, True, True, Decimal("349.00"), LOCATIONS, "HPNC"),
    Product("MONITOR-27", "27-inch 4K USB-C monitor", 6_500, False, True, Decimal("429.00"), ("WH-B",), "MN27"),
    Product("CABLE-USBC", "USB-C cable, 2 m", 80, False, False, Decimal("19.00"), LOCATIONS),
)  # fmt: skip
PRODUCTS = {product.sku: product for product in CATALOGUE}

BASKETS: tuple[tuple[int, tuple[tuple[str, int], ...]], ...] = (
    (5, (("LAPTOP-14", 1),)),
    (4, (("LAPTOP-14", 1), ("CABLE-USBC", 1))),
    (3, (("CAMERA-X", 1), ("LENS-50", 1))),  # stocked apart: two parcels
    (4, (("HEADPHONES-NC", 1),)),
    (2, (("MONITOR-27", 1), ("CABLE-USBC", 2))),
    (2, (("LENS-50", 1),)),
    (3, (("CABLE-USBC", 3),)),
    (1, (("HEADPHONES-NC", 2), ("CABLE-USBC", 1))),
)
"""What people buy together, with how often (weights)."""

CHANNELS = (
    (4, "webshop", "USD", "US"),
    (3, "amazon-us", "USD", "US"),
    (2, "ebay-us", "USD", "US"),
    (1, "bestbuy-mp", "USD", "US"),
    (1, "webshop-ca", "CAD", "CA"),
)

CUSTOMERS = {
    "US": (
        ("Ada Lovelace", "1 Analytical Way", "Boston", "MA", "02110"),
        ("Grace Hopper", "2 Compiler Road", "Arlington", "VA", "22201"),
        ("Alan Turing", "3 Enigma Street", "Austin", "TX", "78701"),
        ("Katherine Johnson", "4 Orbit Avenue", "Hampton", "VA", "23666"),
        ("Linus Pauling", "5 Bond Lane", "Portland", "OR", "97201"),
        ("Hedy Lamarr", "6 Frequency Blvd", "Los Angeles", "CA", "90028"),
        ("Claude Shannon", "7 Entropy Court", "Ann Arbor", "MI", "48104"),
        ("Margaret Hamilton", "8 Apollo Drive", "Cambridge", "MA", "02139"),
    ),
    "CA": (
        ("Donna Strickland", "9 Laser Crescent", "Guelph", "ON", "N1G 2W1"),
        ("Frederick Banting", "10 Insulin Road", "Toronto", "ON", "M5S 1A8"),
    ),
}

FRAUD_SCORE = 91.0
"""Above the order service's default hold threshold (80): the order waits for a person."""


def say(message: str = "") -> None:
    print(message, flush=True)


# -- what the demo sends -------------------------------------------------------------------------


@dataclass
class DemoOrder:
    """One order of the stream and what the demo has seen of it."""

    message: ChannelOrderMessage
    sent_at: float | None = None
    status: str = "to send"
    on_hold: bool = False
    delivered_at: float | None = None
    released: bool = False
    view: dict[str, Any] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return f"{self.message.channel}:{self.message.channel_order_id}"


def run_token() -> str:
    """A short id for this run (base 36 of the time in tenths of seconds): fresh ids per run."""
    value, digits = int(time.time() * 10), "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    token = ""
    while value:
        value, digit = divmod(value, 36)
        token = digits[digit] + token
    return token[-7:]


def make_orders(run: str, count: int, rng: random.Random, *, fraud: bool) -> list[DemoOrder]:
    """A realistic stream: channels, customers, baskets drawn by weight; one held for fraud."""
    fraudulent = count // 3 if fraud and count > 0 else -1
    orders = []
    for number in range(count):
        _, channel, currency, country = rng.choices(CHANNELS, [c[0] for c in CHANNELS])[0]
        _, basket = rng.choices(BASKETS, [b[0] for b in BASKETS])[0]
        name, line1, city, region, postal_code = rng.choice(CUSTOMERS[country])
        handle = name.lower().replace(" ", ".")
        message = ChannelOrderMessage(
            channel=channel,
            channel_order_id=f"{run}-{number + 1:04d}",
            placed_at=datetime.now(UTC),
            customer=Customer(
                customer_id=f"{channel}-{handle}", name=name, email=f"{handle}@example.com"
            ),
            shipping_address=ShippingAddress(
                name=name,
                line1=line1,
                city=city,
                region=region,
                postal_code=postal_code,
                country=country,
            ),
            lines=[
                ChannelOrderLine(sku=sku, quantity=quantity, unit_price=PRODUCTS[sku].price)
                for sku, quantity in basket
            ],
            currency=currency,
            payment_status="paid",
            fraud_score=FRAUD_SCORE if number == fraudulent else round(rng.uniform(0, 35), 1),
        )
        orders.append(DemoOrder(message))
    return orders


def receipts(run: str, orders: list[DemoOrder]) -> list[tuple[Product, str, int, list[str]]]:
    """(product, location, quantity, serials) to receive so that every order can ship.

    Each location a product is stocked at receives the whole demand plus one: wherever inventory
    reserves, the shelves there hold units the simulated 3PL knows by serial (older units may be
    unknown to it when the embedded broker, which keeps topics in memory, was restarted).
    """
    demand: Counter[str] = Counter()
    for order in orders:
        for line in order.message.lines:
            demand[line.sku] += line.quantity
    planned = []
    for product in CATALOGUE:
        if not demand[product.sku]:
            continue
        quantity = demand[product.sku] + 1
        for location in product.locations:
            serials = (
                [f"{product.serial_prefix}-{run}-{location[-1]}{n:04d}" for n in range(quantity)]
                if product.serialized
                else []
            )
            planned.append((product, location, quantity, serials))
    return planned


# -- talking to the system -----------------------------------------------------------------------


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


def http(
    method: str, url: str, body: dict[str, Any] | None = None, acting: Acting | None = None
) -> tuple[int, Any]:
    """One JSON request, with a token of `acting` when given; (status, decoded body). Raises
    `SystemUnavailable` when nothing answers."""
    headers = {"content-type": "application/json"}
    if acting is not None:
        headers["authorization"] = f"Bearer {client_token(acting.role, acting.subject)}"
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
    except OSError as error:
        raise SystemUnavailable(f"{url}: {error}") from None


async def call(
    method: str, url: str, body: dict[str, Any] | None = None, acting: Acting | None = None
) -> tuple[int, Any]:
    return await asyncio.to_thread(http, method, url, body, acting)


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
        url = f"{endpoints.shipping}/consignments/product-facts/{urllib.parse.quote(product.sku)}"
        while (await call("GET", url, acting=BUYER))[0] != 200:
            if time.monotonic() > deadline:
                raise SystemExit(f"shipping never learned the facts of {product.sku}")
            await asyncio.sleep(0.3)


def batch_of(run: str, product: Product) -> str:
    """The production batch of a product's units received in this run: what a recall names."""
    return f"{product.serial_prefix}-B{run}"


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
    channel = urllib.parse.quote(order.message.channel, safe="")
    channel_order_id = urllib.parse.quote(order.message.channel_order_id, safe="")
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


STATUS_ORDER = (
    "to send",
    "sent",
    "placed",
    "paid",
    "allocated",
    "partly-backordered",
    "backordered",
    "held",
    "released-to-warehouse",
    "partly-shipped",
    "shipped",
    "delivered",
    "cancelled",
)


def tally(orders: list[DemoOrder]) -> str:
    counts = Counter("held" if order.on_hold else order.status for order in orders)
    known = [status for status in STATUS_ORDER if counts[status]]
    others = sorted(set(counts) - set(STATUS_ORDER))
    return " · ".join(f"{status} {counts[status]}" for status in [*known, *others])


class Progress:
    """One line of counts, rewritten in a terminal, printed when it changes otherwise."""

    def __init__(self) -> None:
        self._tty = sys.stdout.isatty()
        self._last = ""

    def show(self, elapsed: float, line: str) -> None:
        if self._tty:
            sys.stdout.write(f"\r{elapsed:5.0f}s  {line}\x1b[K")
            sys.stdout.flush()
        elif line != self._last:
            say(f"{elapsed:5.0f}s  {line}")
        self._last = line

    def done(self) -> None:
        if self._tty:
            say()


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


def story_of(orders: list[DemoOrder]) -> DemoOrder | None:
    """The delivered order with the most to show: split parcels, a failed attempt, a hold."""

    def interest(order: DemoOrder) -> tuple[int, int, int]:
        view = order.view
        return (
            len(view.get("shipments", ())),
            len(view.get("delivery_exceptions", ())),
            int(order.released),
        )

    delivered = [order for order in orders if order.status == "delivered"]
    return max(delivered, key=interest, default=None)


def summarise(orders: list[DemoOrder], elapsed: float, order_url: str) -> bool:
    delivered = [order for order in orders if order.status == "delivered"]
    say(f"{len(delivered)} of {len(orders)} orders delivered in {elapsed:.0f} s")
    durations = [
        order.delivered_at - order.sent_at
        for order in delivered
        if order.delivered_at is not None and order.sent_at is not None
    ]
    if durations:
        say(
            f"  sent → delivered: median {statistics.median(durations):.0f} s, "
            f"slowest {max(durations):.0f} s"
        )
    parcels = sum(len(order.view.get("shipments", ())) for order in delivered)
    split = sum(len(order.view.get("shipments", ())) > 1 for order in delivered)
    exceptions = sum(bool(order.view.get("delivery_exceptions")) for order in delivered)
    serials = sum(len(s["serials"]) for o in delivered for s in o.view.get("shipments", ()))
    say(
        f"  {parcels} parcels, {split} orders split across warehouses, {serials} serials "
        f"recorded, {exceptions} delivered after a failed attempt"
    )
    value: dict[str, Decimal] = {}
    for order in delivered:
        currency = order.view["currency"]
        value[currency] = value.get(currency, Decimal(0)) + Decimal(order.view["order_total"])
    if value:
        say("  value delivered: " + ", ".join(f"{v:,.2f} {c}" for c, v in sorted(value.items())))
    missing = [order for order in orders if order.status != "delivered"]
    for order in missing[:10]:
        say(f"  not delivered: {order.reference} ({'held' if order.on_hold else order.status})")
    example = story_of(orders)
    if example is not None:
        say()
        say(f"where is {example.reference}?  (unitrail --order-url {order_url} where <order>)")
        for line in describe(example.view).splitlines():
            say(f"  {line}")
    return not missing


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


async def run(arguments: argparse.Namespace) -> int:
    endpoints = Endpoints(
        pim=arguments.pim_url.rstrip("/"),
        inventory=arguments.inventory_url.rstrip("/"),
        order=arguments.order_url.rstrip("/"),
        shipping=arguments.shipping_url.rstrip("/"),
        returns=arguments.returns_url.rstrip("/"),
        bootstrap=arguments.bootstrap,
    )
    run_id = run_token()
    rng = random.Random(arguments.seed if arguments.seed is not None else run_id)
    orders = make_orders(run_id, arguments.orders, rng, fraud=not arguments.no_fraud_order)
    say(
        f"demo run {run_id}: {len(orders)} orders at {arguments.rate:g}/s "
        f"(timeout {arguments.timeout:g} s)"
    )
    try:
        await check_running(endpoints)
        await register_catalogue(endpoints)
        await receive_stock(endpoints, run_id, orders)
        channels = sorted({order.message.channel for order in orders})
        say(f"sending orders on {', '.join(channels)} to {CHANNEL_ORDERS.name}")
        started = time.monotonic()
        sending = asyncio.create_task(send_orders(endpoints.bootstrap, orders, arguments.rate))
        await watch(
            endpoints,
            orders,
            sending,
            give_up_after=arguments.timeout,
            review_after=arguments.review_after,
        )
        if not sending.done():
            sending.cancel()
        elif sending.exception() is not None:
            say(f"could not send the orders to {endpoints.bootstrap}: {sending.exception()!r}")
        delivered_all = summarise(orders, time.monotonic() - started, endpoints.order)
        returned_all = await return_some(endpoints, orders, arguments.returns, arguments.timeout)
        return 0 if delivered_all and returned_all else 1
    except SystemUnavailable as error:
        say(f"the system does not answer ({error}); start it with scripts/run")
        return 2


def parser() -> argparse.ArgumentParser:
    arguments = argparse.ArgumentParser(
        prog="scripts/demo", description=(__doc__ or "").splitlines()[0]
    )
    arguments.add_argument("--orders", type=int, default=20, help="how many orders (default 20)")
    arguments.add_argument(
        "--rate", type=float, default=2.0, help="orders sent per second (default 2)"
    )
    arguments.add_argument(
        "--timeout",
        type=float,
        default=300,
        help="seconds to wait for every order to be delivered (default 300)",
    )
    arguments.add_argument(
        "--no-fraud-order", action="store_true", help="leave out the order the fraud check holds"
    )
    arguments.add_argument(
        "--review-after",
        type=float,
        default=3.0,
        help="seconds before the risk desk releases a held order (default 3)",
    )
    arguments.add_argument(
        "--returns",
        type=int,
        default=2,
        help="delivered orders whose customers then return a unit (default 2)",
    )
    arguments.add_argument("--seed", help="make the order stream reproducible")
    environment = os.environ.get

    def url(service: str, port: int) -> str:
        return environment(f"UNITRAIL_{service.upper()}_URL", f"http://127.0.0.1:{port}")

    arguments.add_argument(
        "--bootstrap",
        default=environment("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
        help="Kafka bootstrap servers (default $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092)",
    )
    arguments.add_argument("--pim-url", default=url("pim", 8001))
    arguments.add_argument("--inventory-url", default=url("inventory", 8002))
    arguments.add_argument("--order-url", default=url("order", 8003))
    arguments.add_argument("--shipping-url", default=url("shipping", 8006))
    arguments.add_argument("--returns-url", default=url("returns", 8004))
    return arguments


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when every order was delivered, 1 when not, 2 when the system is down."""
    arguments = parser().parse_args(argv)
    if arguments.orders < 1 or arguments.rate <= 0 or not math.isfinite(arguments.rate):
        raise SystemExit("--orders must be at least 1 and --rate above 0")
    return asyncio.run(run(arguments))


if __name__ == "__main__":
    sys.exit(main())
