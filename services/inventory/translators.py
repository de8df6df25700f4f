"""Inventory domain ↔ public contracts. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from contracts import inventory as contracts
from contracts.base import IntegrationEvent
from contracts.order import LocationQuantity, OrderPaid
from contracts.shipping import RateCardPublished
from contracts.warehouse import PackedUnit
from services.inventory.domain import (
    RequestedLine,
    Reservation,
    ReservedLine,
    ScannedUnit,
    SerialCheck,
    ShippingCost,
    SkuStock,
)

UNSHIPPABLE = Decimal("Infinity")
"""The cost of a parcel no carrier service may carry: any other location is better."""


def requested_lines(event: OrderPaid) -> tuple[RequestedLine, ...]:
    return tuple(
        RequestedLine(line_number=line.line_number, sku=line.sku, quantity=line.quantity)
        for line in event.lines
    )


def shipping_cost(
    rate_card: str, country: str, facts: Mapping[str, tuple[int, bool]]
) -> ShippingCost:
    """Estimate parcels with shipping's published rate card (`RateCardPublished` JSON).

    `facts` maps SKU → (weight in grams, lithium-ion); a product PIM has not described yet weighs
    nothing and may fly, so it does not sway the choice.
    """
    card = RateCardPublished.model_validate_json(rate_card)

    def estimate(location: str, lines: Sequence[RequestedLine]) -> Decimal:
        weight = sum(facts.get(line.sku, (0, False))[0] * line.quantity for line in lines)
        ground_only = any(facts.get(line.sku, (0, False))[1] for line in lines)
        cost = card.estimate(
            location=location, country=country, weight_grams=weight, ground_only=ground_only
        )
        return UNSHIPPABLE if cost is None else cost

    return estimate


def scanned_units(units: list[PackedUnit]) -> tuple[ScannedUnit, ...]:
    return tuple(
        ScannedUnit(line_number=unit.line_number, sku=unit.sku, serial=unit.serial)
        for unit in units
    )


def _reservation_lines(lines: tuple[ReservedLine, ...]) -> list[contracts.ReservationLine]:
    return [
        contracts.ReservationLine(
            line_number=line.line_number,
            sku=line.sku,
            quantity_requested=line.quantity_requested,
            quantity_reserved=line.quantity_reserved,
            quantity_short=line.quantity_short,
            allocations=[
                LocationQuantity(location=item.location, quantity=item.quantity)
                for item in line.allocations
            ],
        )
        for line in lines
    ]


def to_contract(event: Any) -> IntegrationEvent:
    """The public event for a recorded inventory event."""
    if isinstance(event, SkuStock.FirstReceived | SkuStock.Received):
        receipt = event.receipt
        return contracts.StockReceived(
            sku=event.sku,
            location=receipt.location,
            quantity=receipt.quantity,
            reason=receipt.reason,
            actor=receipt.actor,
            reference=receipt.reference,
            serials=list(receipt.serials),
            batch=receipt.batch,
        )
    if isinstance(event, SkuStock.Reserved):
        return contracts.StockItemReserved(
            sku=event.sku,
            location=event.location,
            order_id=event.order_id,
            line_number=event.line_number,
            quantity=event.quantity,
        )
    if isinstance(event, Reservation.Reserved):
        return contracts.StockReserved(
            reservation_id=event.originator_id,
            order_id=event.order_id,
            lines=_reservation_lines(event.lines),
        )
    if isinstance(event, SkuStock.FirstBackordered | SkuStock.Backordered):
        return contracts.StockItemBackordered(
            sku=event.sku,
            order_id=event.order_id,
            line_number=event.line_number,
            quantity=event.quantity,
        )
    if isinstance(event, SkuStock.BackorderReserved):
        return contracts.StockItemBackorderReserved(
            sku=event.sku,
            location=event.location,
            order_id=event.order_id,
            line_number=event.line_number,
            quantity=event.quantity,
        )
    if isinstance(event, SkuStock.UnitReturned):
        return contracts.StockUnitReturned(
            sku=event.sku,
            rma_id=event.rma_id,
            serial=event.serial,
            location=event.location,
            condition=event.condition,
        )
    if isinstance(event, SkuStock.UnitConditionChanged):
        return contracts.StockUnitConditionChanged(
            sku=event.sku,
            rma_id=event.rma_id,
            serial=event.serial,
            location=event.location,
            from_condition=event.from_condition,
            to_condition=event.to_condition,
            reason=event.reason,
            actor=event.actor,
        )
    if isinstance(event, SkuStock.AvailableToSellChanged):
        return contracts.AvailableToSellChanged(
            sku=event.sku,
            channel=event.availability.channel,
            new=event.availability.new,
            open_box=event.availability.open_box,
        )
    if isinstance(event, SkuStock.BackorderWithdrawn):
        return contracts.StockItemBackorderWithdrawn(
            sku=event.sku,
            order_id=event.order_id,
            line_number=event.line_number,
            quantity=event.quantity,
        )
    if isinstance(event, Reservation.BackorderFilled):
        return contracts.BackorderFilled(
            reservation_id=event.originator_id,
            order_id=event.order_id,
            fill=event.fill,
            lines=_reservation_lines(event.lines),
        )
    if isinstance(event, Reservation.ShortOfStock):
        return contracts.StockShortage(
            reservation_id=event.originator_id,
            order_id=event.order_id,
            lines=_reservation_lines(event.lines),
        )
    if isinstance(event, SkuStock.ReservationReleased):
        return contracts.StockItemReservationReleased(
            sku=event.sku,
            location=event.location,
            order_id=event.order_id,
            line_number=event.line_number,
            quantity=event.quantity,
        )
    if isinstance(event, Reservation.Released):
        return contracts.ReservationReleased(
            reservation_id=event.originator_id, order_id=event.order_id, reason=event.reason
        )
    if isinstance(event, SkuStock.SerialPacked):
        return contracts.StockSerialPacked(
            sku=event.sku,
            serial=event.serial,
            location=event.location,
            shipment_id=event.shipment_id,
            order_id=event.order_id,
        )
    if isinstance(event, SkuStock.Shipped):
        return contracts.StockShipped(
            sku=event.sku,
            location=event.location,
            order_id=event.order_id,
            line_number=event.line_number,
            quantity=event.quantity,
            serials=list(event.serials),
            shipment_id=event.shipment_id,
        )
    if isinstance(event, SerialCheck.Passed):
        return contracts.SerialCheckPassed(
            shipment_id=event.shipment_id, order_id=event.order_id, scan=event.scan
        )
    if isinstance(event, SerialCheck.Failed):
        return contracts.SerialCheckFailed(
            shipment_id=event.shipment_id,
            order_id=event.order_id,
            scan=event.scan,
            problems=list(event.problems),
        )
    raise TypeError(f"no contract for inventory event {type(event).__qualname__}")
