"""What the demo sends: a small electronics catalogue, the stock to receive for it, and a
stream of channel orders drawn like real baskets."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from contracts.channel import ChannelOrderLine, ChannelOrderMessage, Customer, ShippingAddress

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


def batch_of(run: str, product: Product) -> str:
    """The production batch of a product's units received in this run: what a recall names."""
    return f"{product.serial_prefix}-B{run}"
