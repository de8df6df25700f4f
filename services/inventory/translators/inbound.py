"""What inventory reads from other services' events: the lines to reserve, the rate card's cost,
a product's bundle, scanned units, goods received. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from contracts.order import OrderPaid
from contracts.pim import ProductSpecified
from contracts.shipping import RateCardPublished
from contracts.warehouse import GoodsReceived, PackedUnit
from services.inventory.domain import (
    DeliveredLine,
    GoodsReceipt,
    RequestedLine,
    ScannedUnit,
    ShippingCost,
)

UNSHIPPABLE = Decimal("Infinity")
"""The cost of a parcel no carrier service may carry: any other location is better."""


def requested_lines(event: OrderPaid) -> tuple[RequestedLine, ...]:
    return tuple(
        RequestedLine(line_number=line.line_number, sku=line.sku, quantity=line.quantity)
        for line in event.lines
    )


ProductFacts = tuple[int, bool, int | None]
"""Weight in grams, lithium-ion, and outer volume in cm³ (None: the PIM gave no dimensions)."""

NOT_DESCRIBED: ProductFacts = (0, False, None)


def shipping_cost(rate_card: str, country: str, facts: Mapping[str, ProductFacts]) -> ShippingCost:
    """Estimate parcels with shipping's published rate card (`RateCardPublished` JSON).

    A product PIM has not described yet weighs nothing and may fly, so it does not sway the
    choice; a parcel's volume counts only when every product's is known, as shipping charges it.
    """
    card = RateCardPublished.model_validate_json(rate_card)

    def estimate(location: str, lines: Sequence[RequestedLine]) -> Decimal:
        parcel = [(facts.get(line.sku, NOT_DESCRIBED), line.quantity) for line in lines]
        volumes = [(volume, quantity) for (_, _, volume), quantity in parcel]
        cost = card.estimate(
            location=location,
            country=country,
            weight_grams=sum(weight * quantity for (weight, _, _), quantity in parcel),
            ground_only=any(lithium for (_, lithium, _), _ in parcel),
            volume_cm3=(
                sum(v * quantity for v, quantity in volumes if v is not None)
                if all(v is not None for v, _ in volumes)
                else None
            ),
        )
        return UNSHIPPABLE if cost is None else cost

    return estimate


def scanned_units(units: list[PackedUnit]) -> tuple[ScannedUnit, ...]:
    return tuple(
        ScannedUnit(line_number=unit.line_number, sku=unit.sku, serial=unit.serial)
        for unit in units
    )


def goods_receipt(event: GoodsReceived) -> GoodsReceipt:
    """What a 3PL received, as a receipt against the purchase order it names."""
    return GoodsReceipt(
        receipt_id=event.receipt_id,
        location=event.location,
        received_at=event.received_at,
        actor=event.received_by,
        lines=tuple(
            DeliveredLine(
                sku=line.sku,
                quantity=line.quantity,
                serials=tuple(line.serials),
                batch=line.batch,
            )
            for line in event.lines
        ),
        asn_id=event.asn_id,
    )


def bundle_components(event: ProductSpecified) -> dict[str, int]:
    """A bundle's components as the PIM specified them (empty for a product that is no bundle)."""
    return {component.sku: component.quantity for component in event.components}
