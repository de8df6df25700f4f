"""A flow of work through a running system, as its outside users make it: a catalogue in PIM, stock
received through inventory, channel orders published with confluent-kafka (a connector's client),
and poison on every topic outside systems write.

The `Ledger` remembers everything put in (units received, orders the broker acknowledged), which is
what the invariants compare the system's answers with.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from confluent_kafka import Producer

from contracts.channel import ChannelOrderLine, ChannelOrderMessage, order_id_for
from contracts.topics import (
    CARRIER_TRACKING,
    CHANNEL_ORDERS,
    THREEPL_CONFIRMATIONS,
    THREEPL_RECEIPTS,
)
from infra.demo import orders as demo_orders
from infra.demo import system as demo_system
from tests.faults.system import System, http_json, note
from tests.integration.harness import CERTIFIED_EVERYWHERE, channel_order, eventually

EndState = Literal["delivered", "held", "backordered"]

UNSTOCKED_SKU = "DRONE-MINI"
"""A product in the catalogue that is never received: an order for it waits as a backorder."""


@dataclass
class FlowOrder:
    """One channel order of a flow and what should become of it."""

    message: ChannelOrderMessage
    expect: EndState
    accepted: bool = False

    @property
    def reference(self) -> str:
        return f"{self.message.channel}:{self.message.channel_order_id}"

    @property
    def order_id(self) -> uuid.UUID:
        return order_id_for(self.message.channel, self.message.channel_order_id)


@dataclass
class Poison:
    """A message no consumer can apply, and the services that must dead-letter it."""

    topic: str
    value: bytes
    dead_letter_services: tuple[str, ...]
    what: str


@dataclass
class Ledger:
    """What was put into one system: units received per (SKU, location), orders accepted by the
    broker (acks=all), poison sent."""

    received: Counter[tuple[str, str]] = field(default_factory=Counter)
    orders: dict[str, FlowOrder] = field(default_factory=dict)
    poison: list[Poison] = field(default_factory=list)

    @property
    def accepted(self) -> list[FlowOrder]:
        return [order for order in self.orders.values() if order.accepted]


def plan_orders(run: str, count: int, rng: random.Random) -> list[FlowOrder]:
    """`count` orders drawn like the demo's (channels, baskets, split parcels, over $500, lithium),
    one of them held by the fraud check (and left held), one for a product never stocked."""
    drawn = demo_orders.make_orders(run, count, rng, fraud=count >= 3)
    planned = [
        FlowOrder(
            order.message,
            "held" if order.message.fraud_score >= demo_orders.FRAUD_SCORE else "delivered",
        )
        for order in drawn
    ]
    if count >= 3:
        first = planned[0].message
        line = ChannelOrderLine(sku=UNSTOCKED_SKU, quantity=1, unit_price=first.lines[0].unit_price)
        planned[-1] = FlowOrder(
            first.model_copy(
                update={"channel_order_id": f"{run}-backorder", "lines": [line], "fraud_score": 1.0}
            ),
            "backordered",
        )
    return planned


def register_catalogue(system: System) -> None:
    """The demo's catalogue and the never-stocked product, in PIM; shipping knows their facts."""
    asyncio.run(demo_system.register_catalogue(endpoints(system)))
    status, answer = http_json(
        "PUT",
        f"{system.url('pim')}/products/{UNSTOCKED_SKU}",
        {
            "name": "Mini drone",
            "weight_grams": 250,
            "lithium_ion": True,
            "certifications": CERTIFIED_EVERYWHERE,
        },
    )
    assert status == 200, f"PIM refused {UNSTOCKED_SKU}: {answer}"


def endpoints(system: System) -> demo_system.Endpoints:
    return demo_system.Endpoints(
        pim=system.url("pim"),
        inventory=system.url("inventory"),
        order=system.url("order"),
        shipping=system.url("shipping"),
        returns=system.url("returns"),
        bootstrap=system.bootstrap_servers,
    )


def receive_stock(system: System, ledger: Ledger, run: str, orders: list[FlowOrder]) -> None:
    """Enough serialized stock at each warehouse for `orders`, received through inventory's API
    (retried with an idempotency key while inventory is restarting, so it counts once)."""
    wanted = [
        demo_orders.DemoOrder(order.message) for order in orders if order.expect != "backordered"
    ]
    for product, location, quantity, serials in demo_orders.receipts(run, wanted):
        body = {
            "sku": product.sku,
            "location": location,
            "quantity": quantity,
            "reason": "purchase-receipt",
            "serials": serials,
            "batch": demo_orders.batch_of(run, product) if serials else None,
            "idempotency_key": f"{run}:{product.sku}:{location}",
        }

        def received(body: dict[str, Any] = body) -> bool:
            status, answer = http_json("POST", f"{system.url('inventory')}/stock/receipts", body)
            assert status in (0, 201, 503), f"inventory refused a receipt: {status} {answer}"
            return status == 201

        eventually(received, timeout=120, what=f"a receipt of {product.sku} at {location}")
        ledger.received[(product.sku, location)] += quantity


class Connector:
    """A channel connector (or a 3PL or carrier integration): librdkafka, acks=all."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "acks": "all",
                "log.connection.close": False,
                "message.timeout.ms": 20_000,
            }
        )

    def publish(self, topic: str, value: bytes, key: str | None) -> bool:
        """Send one message; True once the broker acknowledged it."""
        outcome: list[Any] = []
        self._producer.produce(
            topic,
            value=value,
            key=None if key is None else key.encode(),
            on_delivery=lambda error, _: outcome.append(error),
        )
        self._producer.flush(30)
        return outcome == [None]

    def close(self) -> None:
        self._producer.flush(5)


Intake = Literal["kafka", "http"]
"""How a channel connector hands an order over: published to `channel.orders.v1` (acks=all), or
posted to the order service's durable intake (202 once committed to its store)."""


def hand_over(system: System, connector: Connector, order: FlowOrder, via: Intake) -> bool:
    """One attempt; True once the order was accepted."""
    value = order.message.model_dump_json().encode()
    if via == "kafka":
        return connector.publish(CHANNEL_ORDERS.name, value, order.reference)
    status, answer = http_json(
        "POST", f"{system.url('order')}/intake/{CHANNEL_ORDERS.name}", json.loads(value)
    )
    assert status in (0, 202, 503), f"the intake refused {order.reference}: {status} {answer}"
    return status == 202


def send_orders(
    system: System,
    ledger: Ledger,
    orders: list[FlowOrder],
    rate: float,
    stop: threading.Event | None = None,
    via: Intake = "kafka",
    accepted_one: threading.Condition | None = None,
) -> None:
    """Hand the orders over at `rate` per second (until `stop` is set), retrying a refusal for up
    to two minutes as a connector would; an order counts as accepted once it was acknowledged
    (`accepted_one` is then notified)."""
    stop = stop or threading.Event()
    connector = Connector(system.bootstrap_servers)
    sent = 0
    try:
        started = time.monotonic()
        for index, order in enumerate(orders):
            if stop.wait(max(0.0, started + index / rate - time.monotonic())):
                break
            ledger.orders[order.reference] = order
            sent += 1
            give_up = time.monotonic() + 120
            accepted = hand_over(system, connector, order, via)
            while not accepted and time.monotonic() < give_up:
                time.sleep(1)
                accepted = hand_over(system, connector, order, via)
            order.accepted = accepted
            if accepted and accepted_one is not None:
                with accepted_one:
                    accepted_one.notify_all()
    finally:
        connector.close()
        note(f"{sum(order.accepted for order in orders)} of {sent} orders sent were accepted")


class Flow:
    """Orders sent in the background while a test breaks things; leaving the `with` block waits
    until all are sent, unless `stop` was called."""

    def __init__(
        self,
        system: System,
        ledger: Ledger,
        orders: list[FlowOrder],
        rate: float,
        via: Intake = "kafka",
    ) -> None:
        self._stop = threading.Event()
        self._accepted_one = threading.Condition()
        self._thread = threading.Thread(
            target=send_orders,
            args=(system, ledger, orders, rate, self._stop, via, self._accepted_one),
            name="order-flow",
        )
        self.orders = orders

    def __enter__(self) -> Flow:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.wait()

    def wait(self) -> None:
        self._thread.join()

    def next_accepted(self, timeout: float = 60) -> None:
        """Return once the next order was accepted (the system has stored it)."""
        with self._accepted_one:
            assert self._accepted_one.wait(timeout), f"no order accepted within {timeout} s"

    def stop(self) -> None:
        """Send no more orders (those sent stay in the ledger)."""
        self._stop.set()

    def sending(self) -> bool:
        """Whether orders are still being sent."""
        return self._thread.is_alive()


def prepare(system: System, ledger: Ledger, run: str, count: int, seed: int) -> list[FlowOrder]:
    """Plan `count` orders and receive the stock they need (the catalogue must be registered)."""
    orders = plan_orders(run, count, random.Random(seed))
    receive_stock(system, ledger, run, orders)
    note(f"stock received for {count} orders of run {run}")
    return orders


def poison(run: str) -> list[Poison]:
    """One message no consumer can apply on every topic outside systems write, and a record that
    is not an envelope on an events topic."""
    schema_violation = json.dumps(
        {"channel": "webshop", "channel_order_id": f"{run}-poison", "currency": "dollars"}
    ).encode()
    nul = {"customer_id": f"{run}-C", "name": "Ada\u0000 Lovelace", "email": "ada@example.com"}
    control_character = json.dumps(channel_order(f"{run}-nul", customer=nul)).encode()
    return [
        Poison(CHANNEL_ORDERS.name, b'{"channel": "webshop", "channel_or', ("order",), "truncated JSON"),
        Poison(CHANNEL_ORDERS.name, schema_violation, ("order",), "schema violation"),
        Poison(CHANNEL_ORDERS.name, control_character, ("order",), "a NUL in a customer's name"),
        Poison(
            THREEPL_CONFIRMATIONS.name,
            json.dumps({"type": "packed", "shipment_id": "not-a-uuid", "units": "many"}).encode(),
            ("warehouse_adapter",),
            "bad 3PL confirmation",
        ),
        Poison(THREEPL_RECEIPTS.name, b"\x00\xff not json", ("warehouse_adapter",), "binary receipt"),
        Poison(
            CARRIER_TRACKING.name,
            json.dumps({"carrier": "ups", "tracking_number": "", "status": "teleported"}).encode(),
            ("shipping",),
            "bad tracking scan",
        ),
        Poison(
            "order.events.v1",
            json.dumps({"event_type": "OrderPaid", "payload": {"order_id": run}}).encode(),
            ("inventory", "warehouse_adapter", "shipping", "returns", "traceability"),
            "not an envelope on an events topic",
        ),
    ]  # fmt: skip


def send_poison(system: System, ledger: Ledger, run: str) -> None:
    connector = Connector(system.bootstrap_servers)
    try:
        for message in poison(run):
            assert connector.publish(message.topic, message.value, f"{run}-poison")
            ledger.poison.append(message)
    finally:
        connector.close()
