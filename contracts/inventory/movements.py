"""The finance feed: every change of stock as a `StockMovement`, on `inventory.movements.v1`."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer

from contracts.base import IntegrationEvent, LocationCode, Sku
from contracts.channel import CurrencyCode
from contracts.inventory.common import StockCondition, UnitCost

MovementType = Literal[
    "receipt",
    "shipment",
    "transfer-out",
    "transfer-in",
    "adjustment-in",
    "adjustment-out",
    "write-off",
    "return",
    "condition-change",
]
"""What kind of stock movement a `StockMovement` is; see the inventory README for how to book
each."""


ExtendedValue = Annotated[
    Decimal,
    Field(max_digits=24, decimal_places=4),
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
]
"""Quantity x unit cost, signed like the quantity, unrounded; travels as a JSON string."""


class StockMovement(IntegrationEvent):
    """Units of a SKU moved into or out of stock at a location, valued for finance to book.

    Published on `inventory.movements.v1` (not on `inventory.events.v1`), keyed by the SKU's
    stock, one movement per stock event that moves units: receipts, shipments, transfers,
    adjustments (also a count's variance), returns and condition changes of returned units.
    Reservations, counts themselves and purchase-order events are not movements. Costs are the
    SKU's moving weighted average at the time of the movement (a receipt against a purchase order:
    its line's cost). Consumers deduplicate on the envelope's `aggregate_id` and
    `aggregate_version` (or `event_id`); versions of one SKU rise but are not consecutive, since
    events that move nothing are left out.
    """

    event_type = "StockMovement"
    aggregate_type = "sku-stock"

    movement_type: MovementType = Field(
        description="`receipt` (from a supplier, or an opening count), `shipment` (to a "
        "customer), `transfer-out` / `transfer-in` (between locations, through goods in transit), "
        "`adjustment-in` / `adjustment-out` (found, corrected, counted, lost), `write-off` "
        "(damaged, written off, or a returned unit scrapped), `return` (a customer's unit back), "
        "`condition-change` (a returned unit reclassified between conditions that keep value)."
    )
    sku: Sku
    location: LocationCode = Field(description="Where the units moved in or out.")
    condition: StockCondition = Field(
        description="The condition of the units whose stock `quantity` changes."
    )
    from_condition: StockCondition | None = Field(
        default=None,
        description="For a movement made by a condition change: the condition the unit left; "
        "null otherwise.",
    )
    to_condition: StockCondition | None = Field(
        default=None,
        description="For a movement made by a condition change: the condition the unit entered; "
        "null otherwise.",
    )
    quantity: int = Field(
        description="Units, signed: positive into stock at `location` in `condition`, negative "
        "out of it. Never zero."
    )
    unit_cost: UnitCost | None = Field(
        description="What one unit is booked at: a purchase receipt's order line cost, a transfer "
        "in at its dispatch cost, otherwise the SKU's moving average at the time (zero for a unit "
        "returned as damaged); null when unknown (no costed receipt yet)."
    )
    currency: CurrencyCode | None = Field(
        description="Currency of `unit_cost` and `extended_value`; null when the cost is unknown."
    )
    extended_value: ExtendedValue | None = Field(
        description="`quantity` x `unit_cost`, signed like the quantity, not rounded; null when "
        "the cost is unknown."
    )
    reason: str = Field(
        description="Why: the receipt's reason (`purchase-receipt`, `initial-count`, …), the "
        "adjustment's reason code (`cycle-count`, `damage`, `loss`, `found`, `correction`, "
        "`write-off`), `customer-order` for a shipment, `customer-return` for a return, the "
        "transfer's reason (or `transfer`), or the condition change's reason."
    )
    actor: str | None = Field(
        description="Who recorded it; null for what followed a partner's message (a 3PL's "
        "shipment, a return disposition)."
    )
    reference_type: Literal["purchase-order", "shipment", "transfer", "rma", "count"] | None = (
        Field(
            description="What `reference` names; null when there is no reference or it is a free "
            "reference given with a receipt."
        )
    )
    reference: str | None = Field(
        description="The purchase order number, shipment id, transfer id, RMA id or count id."
    )
    order_id: uuid.UUID | None = Field(
        default=None, description="For a shipment, the customer order; null otherwise."
    )
    serials: list[str] = Field(
        default_factory=list,
        description="Serial numbers of the units moved, for serialized products.",
    )
    batch: str | None = Field(
        default=None, description="Production batch of received units, when stated."
    )
    note: str | None = Field(default=None, description="A note given with an adjustment.")
