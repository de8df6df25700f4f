"""Returns' read models: what other services' events say that a return request is decided on,
and an index of the RMAs by order line.

From other services' public events (applied by the handlers, rebuilt from the topics or the
producers' stores): the order lines (price, channel, currency, address), the units shipped per
line and parcel (how many, and where from), the serials shipped per line, when each parcel was
delivered, each SKU's warranty, and the return labels shipping bought.

From returns' own RMAs (applied when an RMA is saved, `save_projected`; rebuilt from returns' own
store whatever the replay's source): `rmas_by_order`, each RMA's line, its request's number on the
line, its status, what a person must do for it next (if anything) and when it was requested.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict

from contracts.envelope import Envelope
from contracts.order import (
    CustomerForgotten,
    OrderDelivered,
    OrderPlaced,
    OrderReleasedToWarehouse,
    OrderShipmentDelivered,
)
from contracts.pim import ProductChanged, ProductRegistered
from contracts.shipping import ReturnLabelPurchased
from contracts.warehouse import ShipmentConfirmed, UnitSerialCaptured
from services.returns.domain import Address, Rma
from services.runtime.privacy import ERASED, sealed_prefix
from services.runtime.projections import (
    Change,
    Exists,
    Index,
    Insert,
    JsonPatch,
    Ordinal,
    Prefix,
    ReadModels,
    Table,
    Update,
    Upsert,
)

FORGOTTEN_CUSTOMERS = Table("forgotten_customers", {"customer_id": "text"}, key=("customer_id",))
"""The customers forgotten: an order of theirs that arrives after the forgetting (its event on
another partition) is erased as it is kept. Declared before `order_lines`, which it guards."""
ORDER_LINES = Table(
    "order_lines",
    {
        "order_id": "uuid",
        "line_number": "integer",
        "sku": "text",
        "quantity": "integer",
        "unit_price": "numeric",
        "currency": "text",
        "channel": "text",
        "ship_to": "jsonb",
    },
    key=("order_id", "line_number"),
)
LINE_UNITS = Table(
    "line_units",
    {
        "order_id": "uuid",
        "line_number": "integer",
        "serial": "text",
        "sku": "text",
        "shipment_id": "uuid",
        "location": "text",
    },
    key=("order_id", "line_number", "serial"),
)
LINE_SHIPMENTS = Table(
    "line_shipments",
    {
        "order_id": "uuid",
        "line_number": "integer",
        "shipment_id": "uuid",
        "sku": "text",
        "location": "text",
        "quantity": "integer",
    },
    key=("order_id", "line_number", "shipment_id", "sku"),  # a kit's line: one per component
)
KIT_LINES = Table(
    "kit_lines",
    {
        "order_id": "uuid",
        "line_number": "integer",
        "component_sku": "text",
        "quantity_per_kit": "integer",
    },
    key=("order_id", "line_number", "component_sku"),
)
SHIPMENT_DELIVERIES = Table(
    "shipment_deliveries",
    {"shipment_id": "uuid", "order_id": "uuid", "delivered_at": "timestamptz"},
    key=("shipment_id",),
)
PRODUCT_WARRANTIES = Table(
    "product_warranties", {"sku": "text", "warranty_months": "integer"}, key=("sku",)
)
RMAS_BY_ORDER = Table(
    "rmas_by_order",
    {
        "rma_id": "uuid",
        "order_id": "uuid",
        "line_number": "integer",
        "request_number": "integer",
        "status": "text",
        "waiting_for": "text?",
        "requested_at": "timestamptz",
    },
    key=("rma_id",),
    indexes=(
        Index("rmas_by_order_line", ("order_id", "line_number")),
        # The queue of RMAs a person must act on: a few rows, however long the history.
        Index("rmas_waiting", ("requested_at", "rma_id"), where="waiting_for IS NOT NULL"),
    ),
)
RETURN_LABELS = Table(
    "return_labels",
    {
        "rma_id": "uuid",
        "carrier": "text",
        "service": "text",
        "tracking_number": "text",
        "return_to": "text",
        "cost": "numeric",
    },
    key=("rma_id",),
)

read_models = ReadModels(
    FORGOTTEN_CUSTOMERS,
    ORDER_LINES,
    LINE_UNITS,
    LINE_SHIPMENTS,
    KIT_LINES,
    SHIPMENT_DELIVERIES,
    PRODUCT_WARRANTIES,
    RMAS_BY_ORDER,
    RETURN_LABELS,
)


# -- facts from other services ---------------------------------------------------------------


_ERASED_ADDRESS = JsonPatch(
    {"name": ERASED, "line1": ERASED, "line2": None, "city": ERASED}
    | {"region": None, "postal_code": ERASED}
)
"""A forgotten customer's address as kept: the country, and nothing else of it."""


@read_models.on_event(CustomerForgotten, producer="order")
def customer_forgotten(event: CustomerForgotten, _: Envelope) -> list[Change]:
    """A customer was forgotten: their order lines keep the country of the address (sealed
    until now, its key deleted) and nothing else of it."""
    where = {"ship_to": Prefix(sealed_prefix(event.customer_id), json_key="line1")}
    return [
        Insert(FORGOTTEN_CUSTOMERS.name, {"customer_id": event.customer_id}),
        Update(ORDER_LINES.name, where, {"ship_to": _ERASED_ADDRESS}),
    ]


@read_models.on_event(OrderPlaced, producer="order")
def order_placed(event: OrderPlaced, _: Envelope) -> list[Change]:
    """An order was placed: what a return of one of its lines needs (the address erased at once
    if its customer was forgotten already: the forgetting can arrive first)."""
    ship_to = asdict(Address(**event.shipping_address.model_dump()))
    lines: list[Change] = [
        Insert(
            ORDER_LINES.name,
            {
                "order_id": event.order_id,
                "line_number": line.line_number,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "currency": event.currency,
                "channel": event.channel,
                "ship_to": ship_to,
            },
        )
        for line in event.lines
    ]
    forgotten = Exists(FORGOTTEN_CUSTOMERS.name, {"customer_id": event.customer.customer_id})
    where = {"order_id": event.order_id}
    return [*lines, Update(ORDER_LINES.name, where, {"ship_to": _ERASED_ADDRESS}, forgotten)]


@read_models.on_event(OrderReleasedToWarehouse, producer="order")
def kit_lines(event: OrderReleasedToWarehouse, _: Envelope) -> list[Change]:
    """The kits released for an order, as they were sold: a returned unit of one is a component,
    refunded its share of the kit (`kit_unit_share`)."""
    return [
        Upsert(
            KIT_LINES.name,
            {
                "order_id": event.order_id,
                "line_number": line.line_number,
                "component_sku": component.sku,
                "quantity_per_kit": component.quantity_per_kit,
            },
        )
        for shipment in event.shipments
        for line in shipment.lines
        for component in line.components
    ]


@read_models.on_event(OrderShipmentDelivered, producer="order")
@read_models.on_event(OrderDelivered, producer="order")
def parcel_delivered(event: OrderShipmentDelivered | OrderDelivered, _: Envelope) -> list[Change]:
    """A parcel was delivered (the order's last, or one before): the return window and warranty
    of its units count from then."""
    row = {
        "shipment_id": event.shipment_id,
        "order_id": event.order_id,
        "delivered_at": event.delivered_at,
    }
    return [Insert(SHIPMENT_DELIVERIES.name, row)]


@read_models.on_event(UnitSerialCaptured, producer="warehouse_adapter")
def serial_captured(event: UnitSerialCaptured, _: Envelope) -> list[Change]:
    """A serial went into a parcel of an order line (the unit's birth certificate)."""
    row = {
        "order_id": event.order_id,
        "line_number": event.line_number,
        "serial": event.serial,
        "sku": event.sku,
        "shipment_id": event.shipment_id,
        "location": event.location,
    }
    return [Insert(LINE_UNITS.name, row)]


def units_per_line(event: ShipmentConfirmed) -> list[tuple[int, str, int]]:
    """How many units of each order line (number, SKU) a parcel holds, serialized or not."""
    units = Counter((unit.line_number, unit.sku) for unit in event.units)
    return [(number, sku, quantity) for (number, sku), quantity in sorted(units.items())]


@read_models.on_event(ShipmentConfirmed, producer="warehouse_adapter")
def shipment_confirmed(event: ShipmentConfirmed, _: Envelope) -> list[Change]:
    """A parcel left the warehouse: how many units of each order line it holds (a product whose
    units carry no serial is known by this count alone)."""
    return [
        Insert(
            LINE_SHIPMENTS.name,
            {
                "order_id": event.order_id,
                "line_number": number,
                "shipment_id": event.shipment_id,
                "sku": sku,
                "location": event.location,
                "quantity": quantity,
            },
        )
        for number, sku, quantity in units_per_line(event)
    ]


@read_models.on_event(ProductRegistered, producer="pim")
@read_models.on_event(ProductChanged, producer="pim")
def warranty(event: ProductRegistered | ProductChanged, _: Envelope) -> list[Change]:
    """The PIM's warranty of a product, as it is now."""
    row = {"sku": event.sku, "warranty_months": event.warranty_months}
    return [Upsert(PRODUCT_WARRANTIES.name, row)]


@read_models.on_event(ReturnLabelPurchased, producer="shipping")
def return_label(event: ReturnLabelPurchased, _: Envelope) -> list[Change]:
    """Shipping bought the return label; the customer sees carrier and tracking on the RMA.

    Not an RMA event: no public returns event says "label recorded", and every RMA event must be
    one. A label bought again replaces the one before.
    """
    row = {
        "rma_id": event.rma_id,
        "carrier": event.carrier,
        "service": event.service,
        "tracking_number": event.tracking_number,
        "return_to": event.return_to,
        "cost": event.cost,
    }
    return [Upsert(RETURN_LABELS.name, row)]


# -- returns' own RMAs -----------------------------------------------------------------------


@read_models.on_own_aggregates(Rma)
def rmas_by_order(rmas: Sequence[Rma]) -> list[Change]:
    """Each RMA under its order line, with its status. A new one is numbered after the line's
    RMAs so far: its request's number on the line, from which its id was derived."""
    return [
        Upsert(
            RMAS_BY_ORDER.name,
            {
                "rma_id": rma.id,
                "order_id": rma.order_id,
                "line_number": rma.line_number,
                "request_number": Ordinal(within=("order_id", "line_number")),
                "status": str(rma.status),
                "waiting_for": rma.waiting_for,
                "requested_at": rma.requested_at,
            },
            update=("status", "waiting_for"),
        )
        for rma in rmas
    ]
