"""Order's read models: which variants the PIM registered and where it lists each (the catalogue
entry per market), which a paid order's lines are checked against; and which orders wait for a SKU
the PIM has not registered yet.

The catalogue tables are projections of the PIM's public events; the handlers apply them live
(`OrderApplication.project`) and a replay rebuilds them from `pim.events.v1` or the PIM's store.
`orders_awaiting_skus` is a projection of the order's own events (`save_projected`), rebuilt from
the order store; `orders_by_state` shows every order's status and since when (`Order.status_since`),
from which the operators' counts and the orders stuck in one status are read.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.envelope import Envelope
from contracts.pim import CatalogueEntryChanged, CatalogueEntryWithdrawn, ProductRegistered
from services.order.domain import Order
from services.runtime.eventstore import ReadModelChange
from services.runtime.projections import ReadModels

read_models = ReadModels(
    # Per variant and market: listed (NULL) or why not.
    "CREATE TABLE IF NOT EXISTS catalogue_listings ("
    " sku text NOT NULL, market text NOT NULL, not_listed_because text,"
    " PRIMARY KEY (sku, market))",
    # Variants the PIM registered: their lines ship only where they are listed.
    "CREATE TABLE IF NOT EXISTS catalogued_products (sku text PRIMARY KEY)",
    # Paid orders held until the PIM registers these SKUs of their lines.
    "CREATE TABLE IF NOT EXISTS orders_awaiting_skus ("
    " sku text NOT NULL, order_id uuid NOT NULL, PRIMARY KEY (sku, order_id))",
    # Every order's status and since when; what holds it (NULL: nothing).
    "CREATE TABLE IF NOT EXISTS orders_by_state ("
    " order_id uuid PRIMARY KEY, channel text NOT NULL, channel_order_id text NOT NULL,"
    " state text NOT NULL, state_since timestamptz NOT NULL, held_because text,"
    " placed_at timestamptz NOT NULL)",
    "CREATE INDEX IF NOT EXISTS orders_by_state_since ON orders_by_state (state, state_since)",
)


def _catalogued(sku: str) -> ReadModelChange:
    return ("INSERT INTO catalogued_products (sku) VALUES (%s) ON CONFLICT DO NOTHING", (sku,))


def _listing(sku: str, market: str, not_listed_because: str | None) -> ReadModelChange:
    return (
        "INSERT INTO catalogue_listings (sku, market, not_listed_because)"
        " VALUES (%s, %s, %s) ON CONFLICT (sku, market)"
        " DO UPDATE SET not_listed_because = excluded.not_listed_because",
        (sku, market, not_listed_because),
    )


@read_models.on_event(ProductRegistered, producer="pim")
def product_registered(event: ProductRegistered, _: Envelope) -> list[ReadModelChange]:
    """The PIM registered a variant: from now on its lines ship only where it is listed."""
    return [_catalogued(event.sku)]


@read_models.on_event(CatalogueEntryChanged, producer="pim")
def listed(event: CatalogueEntryChanged, _: Envelope) -> list[ReadModelChange]:
    """The PIM listed a variant in a market's catalogue."""
    return [_catalogued(event.sku), _listing(event.sku, event.market, None)]


@read_models.on_event(CatalogueEntryWithdrawn, producer="pim")
def withdrawn(event: CatalogueEntryWithdrawn, _: Envelope) -> list[ReadModelChange]:
    """The PIM withdrew a variant from a market's catalogue, with the reason."""
    return [_catalogued(event.sku), _listing(event.sku, event.market, event.reason)]


@read_models.on_own_event(Order.HeldForUnknownSkus)
def awaiting(event: Order.HeldForUnknownSkus) -> list[ReadModelChange]:
    """A paid order waits for SKUs the PIM has not registered."""
    return [
        (
            "INSERT INTO orders_awaiting_skus (sku, order_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING",
            (sku, event.originator_id),
        )
        for sku in event.skus
    ]


@read_models.on_own_event(Order.SkusRegistered)
def no_longer_awaiting(event: Order.SkusRegistered) -> list[ReadModelChange]:
    """The PIM registered some of them."""
    return [
        (
            "DELETE FROM orders_awaiting_skus WHERE order_id = %s AND sku = ANY(%s)",
            (event.originator_id, list(event.skus)),
        )
    ]


@read_models.on_own_event(Order.HoldReleased)
@read_models.on_own_event(Order.Cancelled)
def waits_for_nothing(event: Order.HoldReleased | Order.Cancelled) -> list[ReadModelChange]:
    """A person released the order as it is, or it was cancelled: it waits for no SKU."""
    return [("DELETE FROM orders_awaiting_skus WHERE order_id = %s", (event.originator_id,))]


@read_models.on_own_aggregates(Order)
def orders_by_state(orders: Sequence[Order]) -> list[ReadModelChange]:
    """Each order's status, since when, and what holds it."""
    return [
        (
            "INSERT INTO orders_by_state (order_id, channel, channel_order_id, state,"
            " state_since, held_because, placed_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (order_id) DO UPDATE SET state = excluded.state,"
            " state_since = excluded.state_since, held_because = excluded.held_because",
            (
                order.id,
                order.channel,
                order.channel_order_id,
                str(order.status),
                order.status_since,
                order.holding_reasons,
                order.placed_at,
            ),
        )
        for order in orders
    ]
