"""Events the `order` service publishes on `order.events.v1`, keyed by order id, and the
`ChannelOrderFeedback` of its feed to channel connectors on `channel.feedback.v1`."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import Field

from contracts.base import ContractModel, IntegrationEvent, LocationCode, Money, ServiceLevel, Sku
from contracts.channel import ChannelCode, CountryCode, CurrencyCode
from contracts.personal import AddressOnRecord, CustomerOnRecord


class OrderLine(ContractModel):
    """A line of an order."""

    line_number: int = Field(ge=1, description="Position of the line in the order, from 1.")
    sku: Sku
    quantity: int = Field(ge=1, description="Units ordered.")
    unit_price: Money = Field(description="Price of one unit in the order currency.")


class LocationQuantity(ContractModel):
    """Units of a line assigned to one stock location."""

    location: LocationCode
    quantity: int = Field(ge=1, description="Units taken from this location.")


class AllocatedLine(ContractModel):
    """How one order line is covered by stock."""

    line_number: int = Field(ge=1, description="The order line.")
    sku: Sku
    quantity_ordered: int = Field(ge=1, description="Units ordered on the line.")
    quantity_allocated: int = Field(ge=0, description="Units reserved in stock for the line.")
    quantity_backordered: int = Field(ge=0, description="Units waiting for stock.")
    allocations: list[LocationQuantity] = Field(description="Where the allocated units are.")


class KitComponent(ContractModel):
    """A component of a kit (bundle) SKU."""

    sku: Sku
    quantity_per_kit: int = Field(ge=1, description="Units of the component in one kit.")


class ShipmentLine(ContractModel):
    """Units of one order line that one location ships.

    A kit (bundle) is shipped as its components: in `OrderReleasedToWarehouse` a kit's line names
    the kit, counts whole kits and lists its `components`; in `FulfilmentRequested` the warehouse
    gets one line per component instead (same `line_number`, the component's SKU and units), each
    naming the kit in `kit_sku`, and scans each component's serial under that line number.
    """

    line_number: int = Field(ge=1, description="The order line.")
    sku: Sku
    quantity: int = Field(ge=1, description="Units to ship from this location.")
    components: list[KitComponent] = Field(
        default_factory=list,
        description="For a kit (bundle) line of an order: the kit's components; empty otherwise.",
    )
    kit_sku: Sku | None = Field(
        default=None,
        description="For a component line of a fulfilment: the kit (bundle) it is part of.",
    )


class Shipment(ContractModel):
    """What one location is asked to pick, pack and ship for an order."""

    shipment_id: uuid.UUID = Field(description="Stable id of this shipment of the order.")
    location: LocationCode
    lines: list[ShipmentLine] = Field(description="The units to ship.")
    declared_value: Money = Field(description="Value of the units in this shipment.")


class OrderPlaced(IntegrationEvent):
    """A channel order was accepted and recorded as a Unitrail order."""

    event_type = "OrderPlaced"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="Unitrail order id, derived from channel and id.")
    channel: ChannelCode
    channel_order_id: str = Field(description="The order's id in the channel.")
    placed_at: datetime = Field(description="When the customer placed the order.")
    customer: CustomerOnRecord = Field(description="The customer who placed the order.")
    shipping_address: AddressOnRecord = Field(description="Where the order is shipped to.")
    lines: list[OrderLine] = Field(description="The order lines.")
    currency: CurrencyCode
    order_total: Money = Field(description="Sum of quantity times unit price over all lines.")
    fraud_score: float = Field(ge=0, le=100, description="The channel's fraud risk score.")
    service_level: ServiceLevel = Field(
        default="standard", description="How fast the customer asked for the order."
    )
    deliver_by: date | None = Field(
        default=None, description="A delivery date promised to the customer, if any."
    )


class OrderPaid(IntegrationEvent):
    """Payment for the order was captured; its stock can be reserved."""

    event_type = "OrderPaid"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    lines: list[OrderLine] = Field(description="The order lines to reserve stock for.")
    shipping_country: CountryCode
    currency: CurrencyCode
    order_total: Money = Field(description="Amount paid.")


class OrderAllocated(IntegrationEvent):
    """Stock is reserved for the order, as far as stock allowed; the rest is backordered."""

    event_type = "OrderAllocated"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    lines: list[AllocatedLine] = Field(description="How every line is covered.")
    fully_allocated: bool = Field(description="True when no line has a backordered quantity.")


class OrderBackordered(IntegrationEvent):
    """No unit of the order could be reserved; every line waits for stock."""

    event_type = "OrderBackordered"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    lines: list[AllocatedLine] = Field(description="Every line, with its backordered quantity.")


class OrderBackorderAllocated(IntegrationEvent):
    """Stock arrived for backordered lines and is now reserved for the order; it ships as a later
    shipment (`OrderReleasedToWarehouse` follows unless the order is on hold)."""

    event_type = "OrderBackorderAllocated"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    fill: int = Field(ge=1, description="Which fill of the order's backorders (1, 2, …).")
    lines: list[AllocatedLine] = Field(description="How every line is covered after the fill.")
    fully_allocated: bool = Field(description="True when no line has a backordered quantity.")


class OrderDelivered(IntegrationEvent):
    """Every parcel of the order was delivered: the order is closed."""

    event_type = "OrderDelivered"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    shipment_id: uuid.UUID = Field(description="The last parcel delivered.")
    delivered_at: datetime = Field(description="When the carrier delivered it.")


class OrderShipmentInTransit(IntegrationEvent):
    """A carrier reported one of the order's parcels moving."""

    event_type = "OrderShipmentInTransit"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    shipment_id: uuid.UUID = Field(description="The parcel.")
    description: str = Field(description="The carrier's wording.")
    at: datetime = Field(description="When the carrier scanned the parcel.")


class OrderShipmentDelivered(IntegrationEvent):
    """One parcel of the order was delivered; others are still on their way."""

    event_type = "OrderShipmentDelivered"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    shipment_id: uuid.UUID = Field(description="The parcel delivered.")
    delivered_at: datetime = Field(description="When the carrier delivered it.")


class OrderDeliveryException(IntegrationEvent):
    """A carrier reported a problem with one of the order's parcels."""

    event_type = "OrderDeliveryException"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    shipment_id: uuid.UUID = Field(description="The parcel.")
    description: str = Field(description="The carrier's wording of the problem.")
    at: datetime = Field(description="When the carrier reported it.")


class OrderHeld(IntegrationEvent):
    """The order is on hold: it is not released to a warehouse and gets no shipping label."""

    event_type = "OrderHeld"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    reason: str = Field(description="Why, e.g. the fraud score rule or a reviewer's note.")
    actor: str = Field(description="Who or which rule put the order on hold.")


class OrderHoldReleased(IntegrationEvent):
    """The hold is lifted; the order continues where it stopped."""

    event_type = "OrderHoldReleased"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    actor: str = Field(description="Who released it.")
    note: str = Field(description="The reviewer's note.")


class OrderReleasedToWarehouse(IntegrationEvent):
    """Allocated units go to their warehouses: one shipment per location.

    This is what warehouse adapters act on. Backordered units follow in a later release.
    """

    event_type = "OrderReleasedToWarehouse"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    shipments: list[Shipment] = Field(description="One shipment per shipping location.")
    ship_to: AddressOnRecord = Field(description="Where the shipments go.")
    signature_required: bool = Field(description="Delivery needs the recipient's signature.")
    declared_value: Money = Field(description="Value of the units released, for insurance.")
    currency: CurrencyCode
    service_level: ServiceLevel = Field(
        default="standard",
        description="How fast the customer asked for the order: shipping buys the cheapest service "
        "that arrives within it.",
    )
    deliver_by: date | None = Field(
        default=None,
        description="A delivery date promised to the customer; when given, it decides instead of "
        "the service level.",
    )


class OrderCancelled(IntegrationEvent):
    """The order is cancelled; inventory releases its reservation."""

    event_type = "OrderCancelled"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    reason: str = Field(description="Why it was cancelled.")
    actor: str = Field(description="Who cancelled it (a person, or `channel:<code>`).")
    shipment_ids: list[uuid.UUID] = Field(
        default_factory=list,
        description="Shipments already released to warehouses; their fulfilment is withdrawn.",
    )


class OrderShipmentDispatched(IntegrationEvent):
    """One of the order's shipments left its warehouse."""

    event_type = "OrderShipmentDispatched"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    shipment_id: uuid.UUID = Field(description="The shipment.")
    location: LocationCode
    carrier: str = Field(description="Carrier code.")
    service: str = Field(description="Carrier service.")
    tracking_number: str = Field(description="The carrier's tracking number.")
    serials: list[str] = Field(description="Serial numbers in the parcel.")
    fully_shipped: bool = Field(description="True when nothing of the order is left to ship.")


class OrderChange(ContractModel):
    """One difference between an order as recorded and as its channel re-sent it."""

    field: str = Field(
        description="What differs: `placed_at`, `currency`, `fraud_score`, `customer.<name>`, "
        "`shipping_address.<name>`, `lines[<n>].<sku|quantity|unit_price>`, or `lines[<n>]` for "
        "a line added or removed (lines numbered from 1 in the order the channel sent them)."
    )
    recorded: str = Field(
        description="The value on the order, as text (`(none)`: the order has no such line)."
    )
    received: str = Field(
        description="The value re-sent, as text (`(none)`: the re-send has no such line)."
    )


class OrderAmended(IntegrationEvent):
    """The channel re-sent the order with changes its state still allowed; the order is now as
    re-sent. Lines, currency, fraud score, country and the placing time change only before payment
    (so `OrderPaid` carries the amended lines); the rest of the address, the customer and the
    delivery promise until the order is released to a warehouse."""

    event_type = "OrderAmended"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    channel: ChannelCode
    channel_order_id: str = Field(description="The order's id in the channel.")
    changes: list[OrderChange] = Field(description="What changed, field by field.")
    placed_at: datetime = Field(description="When the customer placed the order, as amended.")
    customer: CustomerOnRecord = Field(description="The customer, as amended.")
    shipping_address: AddressOnRecord = Field(description="Where the order goes, as amended.")
    lines: list[OrderLine] = Field(description="The order lines, as amended.")
    currency: CurrencyCode
    order_total: Money = Field(description="Sum of quantity times unit price, as amended.")
    fraud_score: float = Field(ge=0, le=100, description="The channel's fraud risk score.")
    service_level: ServiceLevel = Field(default="standard", description="As amended.")
    deliver_by: date | None = Field(default=None, description="As amended.")


class OrderAmendmentRefused(IntegrationEvent):
    """The channel re-sent the order with changes its state no longer allowed; nothing of that
    message was applied (it is also in the order dead-letter topic, with the reason)."""

    event_type = "OrderAmendmentRefused"
    aggregate_type = "order"

    order_id: uuid.UUID = Field(description="The order.")
    channel: ChannelCode
    channel_order_id: str = Field(description="The order's id in the channel.")
    changes: list[OrderChange] = Field(description="Every difference the re-send had.")
    reason: str = Field(description="Which differences may not change now, and why.")


class ChannelOrderFeedback(IntegrationEvent):
    """What became of a channel's order message, for its connector: published on
    `channel.feedback.v1` (not on `order.events.v1`) in an envelope, keyed
    `channel:channel_order_id` like the message, once per outcome that changed something.

    An exact repeat of a message changes nothing and has no feedback; nor has a message that only
    reports the payment or a cancellation (follow those on `order.events.v1`). Consumers
    deduplicate on the envelope's `event_id` (or `aggregate_id` and `aggregate_version`, which
    rise but are not consecutive).
    """

    event_type = "ChannelOrderFeedback"
    aggregate_type = "order"

    channel: ChannelCode
    channel_order_id: str = Field(description="The order's id in the channel.")
    order_id: uuid.UUID = Field(description="The Unitrail order id.")
    outcome: Literal["accepted", "amended", "rejected"] = Field(
        description="`accepted`: the first message of the order was recorded as an order; "
        "`amended`: a re-send changed the order (`changes`); `rejected`: a re-send changed what "
        "the order's state no longer allows, and nothing of it was applied (`reason`)."
    )
    changes: list[OrderChange] = Field(
        default_factory=list,
        description="For `amended` and `rejected`: every difference between the order and the "
        "re-send.",
    )
    reason: str | None = Field(
        default=None, description="For `rejected`: which differences may not change now, and why."
    )


class CustomerForgotten(IntegrationEvent):
    """A customer was forgotten (an erasure request, GDPR Art. 17): their key is deleted, so every
    sealed value of theirs in any event or copy reads as "erased". A service holding their
    personal data in any form drops it; order ids and everything else stay."""

    event_type = "CustomerForgotten"
    aggregate_type = "customer-erasure"

    customer_id: str = Field(
        min_length=1, max_length=128, description="The customer id in the channel."
    )
    actor: str = Field(description="Who asked for it (an admin, from the token).")
