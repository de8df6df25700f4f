"""Order's read models: which variants the PIM registered and where it lists each (the catalogue
entry per market), which a paid order's lines are checked against; and which orders wait for a SKU
the PIM has not registered yet.

The catalogue tables are projections of the PIM's public events, consumed live from this
declaration (a registration also releases the orders that waited for it: `register_product`), and
rebuilt by a replay from `pim.events.v1` or the PIM's store. `orders_awaiting_skus` is a
projection of the order's own events (`save_projected`), rebuilt from the order store;
`orders_by_state` shows every order's status and since when (`Order.status_since`), from which the
operators' counts and the orders stuck in one status are read.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.envelope import Envelope
from contracts.pim import CatalogueEntryChanged, CatalogueEntryWithdrawn, ProductRegistered
from services.order.domain import Order
from services.runtime.projections import (
    AnyOf,
    Change,
    Delete,
    Index,
    Insert,
    ReadModels,
    Table,
    Upsert,
)

CATALOGUE_LISTINGS = Table(
    "catalogue_listings",
    # Per variant and market: listed (NULL) or why not.
    {"sku": "text", "market": "text", "not_listed_because": "text?"},
    key=("sku", "market"),
)
CATALOGUED_PRODUCTS = Table(
    # Variants the PIM registered: their lines ship only where they are listed.
    "catalogued_products",
    {"sku": "text"},
    key=("sku",),
)
ORDERS_AWAITING_SKUS = Table(
    # Paid orders held until the PIM registers these SKUs of their lines.
    "orders_awaiting_skus",
    {"sku": "text", "order_id": "uuid"},
    key=("sku", "order_id"),
)

ORDERS_BY_STATE = Table(
    # Every order's status and since when; what holds it (NULL: nothing).
    "orders_by_state",
    {
        "order_id": "uuid",
        "channel": "text",
        "channel_order_id": "text",
        "state": "text",
        "state_since": "timestamptz",
        "held_because": "text?",
        "placed_at": "timestamptz",
    },
    key=("order_id",),
    indexes=(Index("orders_by_state_since", ("state", "state_since")),),
)

read_models = ReadModels(
    CATALOGUE_LISTINGS, CATALOGUED_PRODUCTS, ORDERS_AWAITING_SKUS, ORDERS_BY_STATE
)


def _catalogued(sku: str) -> Change:
    return Insert(CATALOGUED_PRODUCTS.name, {"sku": sku})


def _listing(sku: str, market: str, not_listed_because: str | None) -> Change:
    row = {"sku": sku, "market": market, "not_listed_because": not_listed_because}
    return Upsert(CATALOGUE_LISTINGS.name, row)


@read_models.on_event(ProductRegistered, producer="pim")
def product_registered(event: ProductRegistered, _: Envelope) -> list[Change]:
    """The PIM registered a variant: from now on its lines ship only where it is listed."""
    return [_catalogued(event.sku)]


@read_models.on_event(CatalogueEntryChanged, producer="pim")
def listed(event: CatalogueEntryChanged, _: Envelope) -> list[Change]:
    """The PIM listed a variant in a market's catalogue."""
    return [_catalogued(event.sku), _listing(event.sku, event.market, None)]


@read_models.on_event(CatalogueEntryWithdrawn, producer="pim")
def withdrawn(event: CatalogueEntryWithdrawn, _: Envelope) -> list[Change]:
    """The PIM withdrew a variant from a market's catalogue, with the reason."""
    return [_catalogued(event.sku), _listing(event.sku, event.market, event.reason)]


@read_models.on_own_event(Order.HeldForUnknownSkus)
def awaiting(event: Order.HeldForUnknownSkus) -> list[Change]:
    """A paid order waits for SKUs the PIM has not registered."""
    return [
        Insert(ORDERS_AWAITING_SKUS.name, {"sku": sku, "order_id": event.originator_id})
        for sku in event.skus
    ]


@read_models.on_own_event(Order.SkusRegistered)
def no_longer_awaiting(event: Order.SkusRegistered) -> list[Change]:
    """The PIM registered some of them."""
    where = {"order_id": event.originator_id, "sku": AnyOf(tuple(event.skus))}
    return [Delete(ORDERS_AWAITING_SKUS.name, where)]


@read_models.on_own_event(Order.HoldReleased)
@read_models.on_own_event(Order.Cancelled)
def waits_for_nothing(event: Order.HoldReleased | Order.Cancelled) -> list[Change]:
    """A person released the order as it is, or it was cancelled: it waits for no SKU."""
    return [Delete(ORDERS_AWAITING_SKUS.name, {"order_id": event.originator_id})]


@read_models.on_own_aggregates(Order)
def orders_by_state(orders: Sequence[Order]) -> list[Change]:
    """Each order's status, since when, and what holds it."""
    return [
        Upsert(
            ORDERS_BY_STATE.name,
            {
                "order_id": order.id,
                "channel": order.channel,
                "channel_order_id": order.channel_order_id,
                "state": str(order.status),
                "state_since": order.status_since,
                "held_because": order.holding_reasons,
                "placed_at": order.placed_at,
            },
            update=("state", "state_since", "held_because"),
        )
        for order in orders
    ]
