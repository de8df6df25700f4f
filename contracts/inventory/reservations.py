"""What inventory decided for one paid order (keyed by its reservation), and its verdicts on a
parcel's pack scans.
"""

from __future__ import annotations

import uuid

from pydantic import Field

from contracts.base import ContractModel, IntegrationEvent, Sku
from contracts.order import LocationQuantity


class ReservedComponent(ContractModel):
    """A component of a kit (bundle) line, reserved under the kit's order line."""

    sku: Sku
    quantity_per_kit: int = Field(ge=1, description="Units of the component in one kit.")
    quantity_reserved: int = Field(
        ge=0,
        description="Units of it reserved for the line: `quantity_per_kit` times the kits reserved.",
    )


class ReservationLine(ContractModel):
    """The reservation outcome for one order line.

    For a kit (bundle) SKU the quantities and allocations count whole kits: each kit is reserved
    at one location with all its components (`components`), or not at all; kits short wait whole.
    """

    line_number: int = Field(ge=1, description="The order line.")
    sku: Sku
    quantity_requested: int = Field(ge=1, description="Units the line asked for.")
    quantity_reserved: int = Field(ge=0, description="Units reserved.")
    quantity_short: int = Field(ge=0, description="Units that could not be reserved.")
    allocations: list[LocationQuantity] = Field(description="Where the reserved units are.")
    components: list[ReservedComponent] = Field(
        default_factory=list,
        description="For a kit (bundle) line, its components as reserved; empty otherwise.",
    )


class ReservationDecision(IntegrationEvent):
    """What inventory decided for one paid order; published as one of the two events below."""

    aggregate_type = "reservation"

    reservation_id: uuid.UUID = Field(description="The reservation (one per order).")
    order_id: uuid.UUID = Field(description="The order.")
    lines: list[ReservationLine] = Field(
        description="Every order line: what was reserved, where, and what is short."
    )


class StockReserved(ReservationDecision):
    """Every unit of a paid order is reserved."""

    event_type = "StockReserved"


class StockShortage(ReservationDecision):
    """A paid order could be reserved only in part (or not at all); the rest is short."""

    event_type = "StockShortage"


class BackorderFilled(ReservationDecision):
    """Units that arrived were reserved for an order's backordered lines.

    `lines` is the order's whole reservation after the fill; the order ships the newly reserved
    units as a later shipment.
    """

    event_type = "BackorderFilled"

    fill: int = Field(ge=1, description="Which fill of this order's backorders (1, 2, …).")


class ReservationReleased(IntegrationEvent):
    """Everything reserved for an order is available again."""

    event_type = "ReservationReleased"
    aggregate_type = "reservation"

    reservation_id: uuid.UUID = Field(description="The reservation.")
    order_id: uuid.UUID = Field(description="The order.")
    reason: str = Field(description="Why, e.g. `order cancelled`.")


class SerialCheckVerdict(IntegrationEvent):
    """Inventory's answer to a pack scan (`UnitsScanned`); published as one of the two below."""

    aggregate_type = "serial-check"

    shipment_id: uuid.UUID = Field(description="The shipment scanned.")
    order_id: uuid.UUID = Field(description="The order.")
    scan: int = Field(ge=1, description="Which scan of the shipment this answers.")


class SerialCheckPassed(SerialCheckVerdict):
    """Every serial is in stock at the location, of the right SKU, and packed nowhere else."""

    event_type = "SerialCheckPassed"


class SerialCheckFailed(SerialCheckVerdict):
    """At least one serial may not ship in this parcel."""

    event_type = "SerialCheckFailed"

    problems: list[str] = Field(description="Each unit that failed, and why.")
