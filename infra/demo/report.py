"""What the demo prints: progress, a summary of the run, and where one order is."""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from decimal import Decimal

from infra.cli.orders import describe
from infra.demo.orders import DemoOrder


def say(message: str = "") -> None:
    print(message, flush=True)


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


def story_of(orders: list[DemoOrder]) -> DemoOrder | None:
    """The delivered order with the most to show: serials in its parcels (which unit went into
    which box), then split parcels, a failed attempt, a hold."""

    def interest(order: DemoOrder) -> tuple[int, int, int, int]:
        view = order.view
        shipments = view.get("shipments", ())
        return (
            int(any(shipment["serials"] for shipment in shipments)),
            len(shipments),
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
