"""Returns' read models: what other services' events say that a return request is decided on,
and an index of the RMAs by order line.

From other services' public events (applied by the handlers, rebuilt from the topics or the
producers' stores): the order lines (price, channel, currency, address), the units shipped per
line and parcel (how many, and where from), the serials shipped per line, when each parcel was
delivered, each SKU's warranty, and the return labels shipping bought.

From returns' own RMAs (applied when an RMA is saved, `save_projected`; rebuilt from returns' own
store whatever the replay's source): `rmas_by_order`, each RMA's line, its request's number on the
line and its status.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

from contracts.envelope import Envelope
from contracts.order import (
    CustomerForgotten,
    OrderDelivered,
    OrderPlaced,
    OrderShipmentDelivered,
)
from contracts.pim import ProductChanged, ProductRegistered
from contracts.shipping import ReturnLabelPurchased
from contracts.warehouse import ShipmentConfirmed, UnitSerialCaptured
from services.returns.domain import Address, Rma
from services.runtime.eventstore import ReadModelChange
from services.runtime.privacy import ERASED, sealed_prefix
from services.runtime.projections import ReadModels

read_models = ReadModels(
    "CREATE TABLE IF NOT EXISTS order_lines ("
    " order_id uuid NOT NULL, line_number integer NOT NULL, sku text NOT NULL,"
    " quantity integer NOT NULL, unit_price numeric NOT NULL, currency text NOT NULL,"
    " channel text NOT NULL, ship_to jsonb NOT NULL, PRIMARY KEY (order_id, line_number))",
    "CREATE TABLE IF NOT EXISTS line_units ("
    " order_id uuid NOT NULL, line_number integer NOT NULL, serial text NOT NULL,"
    " sku text NOT NULL, shipment_id uuid NOT NULL, location text NOT NULL,"
    " PRIMARY KEY (order_id, line_number, serial))",
    "CREATE TABLE IF NOT EXISTS line_shipments ("
    " order_id uuid NOT NULL, line_number integer NOT NULL, shipment_id uuid NOT NULL,"
    " sku text NOT NULL, location text NOT NULL, quantity integer NOT NULL,"
    " PRIMARY KEY (order_id, line_number, shipment_id))",
    "CREATE TABLE IF NOT EXISTS shipment_deliveries ("
    " shipment_id uuid PRIMARY KEY, order_id uuid NOT NULL, delivered_at timestamptz NOT NULL)",
    "CREATE TABLE IF NOT EXISTS product_warranties ("
    " sku text PRIMARY KEY, warranty_months integer NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rmas_by_order ("
    " rma_id uuid PRIMARY KEY, order_id uuid NOT NULL, line_number integer NOT NULL,"
    " request_number integer NOT NULL, status text NOT NULL)",
    "CREATE INDEX IF NOT EXISTS rmas_by_order_line ON rmas_by_order (order_id, line_number)",
    "CREATE TABLE IF NOT EXISTS return_labels ("
    " rma_id uuid PRIMARY KEY, carrier text NOT NULL, service text NOT NULL,"
    " tracking_number text NOT NULL, return_to text NOT NULL, cost numeric NOT NULL)",
)


# -- facts from other services ---------------------------------------------------------------


@read_models.on_event(CustomerForgotten, producer="order")
def customer_forgotten(event: CustomerForgotten, _: Envelope) -> list[ReadModelChange]:
    """A customer was forgotten: their order lines keep the country of the address (sealed
    until now, its key deleted) and nothing else of it."""
    prefix = sealed_prefix(event.customer_id)
    return [
        (
            "UPDATE order_lines SET ship_to = jsonb_build_object('name', %s::text, 'line1',"
            " %s::text, 'line2', NULL, 'city', %s::text, 'region', NULL, 'postal_code', %s::text,"
            " 'country', ship_to->'country') WHERE left(ship_to->>'line1', %s) = %s",
            (ERASED, ERASED, ERASED, ERASED, len(prefix), prefix),
        )
    ]


@read_models.on_event(OrderPlaced, producer="order")
def order_placed(event: OrderPlaced, _: Envelope) -> list[ReadModelChange]:
    """An order was placed: what a return of one of its lines needs."""
    ship_to = json.dumps(asdict(Address(**event.shipping_address.model_dump())))
    return [
        (
            "INSERT INTO order_lines (order_id, line_number, sku, quantity, unit_price,"
            " currency, channel, ship_to) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb)"
            " ON CONFLICT DO NOTHING",
            (
                event.order_id,
                line.line_number,
                line.sku,
                line.quantity,
                line.unit_price,
                event.currency,
                event.channel,
                ship_to,
            ),
        )
        for line in event.lines
    ]


@read_models.on_event(OrderShipmentDelivered, producer="order")
@read_models.on_event(OrderDelivered, producer="order")
def parcel_delivered(
    event: OrderShipmentDelivered | OrderDelivered, _: Envelope
) -> list[ReadModelChange]:
    """A parcel was delivered (the order's last, or one before): the return window and warranty
    of its units count from then."""
    return [
        (
            "INSERT INTO shipment_deliveries (shipment_id, order_id, delivered_at)"
            " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (event.shipment_id, event.order_id, event.delivered_at),
        )
    ]


@read_models.on_event(UnitSerialCaptured, producer="warehouse_adapter")
def serial_captured(event: UnitSerialCaptured, _: Envelope) -> list[ReadModelChange]:
    """A serial went into a parcel of an order line (the unit's birth certificate)."""
    return [
        (
            "INSERT INTO line_units (order_id, line_number, serial, sku, shipment_id,"
            " location) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (
                event.order_id,
                event.line_number,
                event.serial,
                event.sku,
                event.shipment_id,
                event.location,
            ),
        )
    ]


def units_per_line(event: ShipmentConfirmed) -> list[tuple[int, str, int]]:
    """How many units of each order line (number, SKU) a parcel holds, serialized or not."""
    units = Counter((unit.line_number, unit.sku) for unit in event.units)
    return [(number, sku, quantity) for (number, sku), quantity in sorted(units.items())]


@read_models.on_event(ShipmentConfirmed, producer="warehouse_adapter")
def shipment_confirmed(event: ShipmentConfirmed, _: Envelope) -> list[ReadModelChange]:
    """A parcel left the warehouse: how many units of each order line it holds (a product whose
    units carry no serial is known by this count alone)."""
    return [
        (
            "INSERT INTO line_shipments (order_id, line_number, shipment_id, sku,"
            " location, quantity) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (event.order_id, number, event.shipment_id, sku, event.location, quantity),
        )
        for number, sku, quantity in units_per_line(event)
    ]


@read_models.on_event(ProductRegistered, producer="pim")
@read_models.on_event(ProductChanged, producer="pim")
def warranty(event: ProductRegistered | ProductChanged, _: Envelope) -> list[ReadModelChange]:
    """The PIM's warranty of a product, as it is now."""
    return [
        (
            "INSERT INTO product_warranties (sku, warranty_months) VALUES (%s, %s)"
            " ON CONFLICT (sku) DO UPDATE SET warranty_months = excluded.warranty_months",
            (event.sku, event.warranty_months),
        )
    ]


@read_models.on_event(ReturnLabelPurchased, producer="shipping")
def return_label(event: ReturnLabelPurchased, _: Envelope) -> list[ReadModelChange]:
    """Shipping bought the return label; the customer sees carrier and tracking on the RMA.

    Not an RMA event: no public returns event says "label recorded", and every RMA event must be
    one. A label bought again replaces the one before.
    """
    return [
        (
            "INSERT INTO return_labels (rma_id, carrier, service, tracking_number,"
            " return_to, cost) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (rma_id)"
            " DO UPDATE SET carrier = excluded.carrier, service = excluded.service,"
            " tracking_number = excluded.tracking_number,"
            " return_to = excluded.return_to, cost = excluded.cost",
            (
                event.rma_id,
                event.carrier,
                event.service,
                event.tracking_number,
                event.return_to,
                event.cost,
            ),
        )
    ]


# -- returns' own RMAs -----------------------------------------------------------------------


@read_models.on_own_aggregates(Rma)
def rmas_by_order(rmas: Sequence[Rma]) -> list[ReadModelChange]:
    """Each RMA under its order line, with its status. A new one is numbered after the line's
    RMAs so far: its request's number on the line, from which its id was derived."""
    return [
        (
            "INSERT INTO rmas_by_order (rma_id, order_id, line_number, request_number, status)"
            " SELECT %s, %s, %s, count(*) + 1, %s FROM rmas_by_order"
            " WHERE order_id = %s AND line_number = %s"
            " ON CONFLICT (rma_id) DO UPDATE SET status = excluded.status",
            (
                rma.id,
                rma.order_id,
                rma.line_number,
                str(rma.status),
                rma.order_id,
                rma.line_number,
            ),
        )
        for rma in rmas
    ]
