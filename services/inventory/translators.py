"""Inventory domain ↔ public contracts. Pure functions."""

from __future__ import annotations

import functools
import math
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from contracts import inventory as contracts
from contracts.base import IntegrationEvent
from contracts.order import LocationQuantity, OrderPaid
from contracts.pim import ProductSpecified
from contracts.shipping import RateCardPublished
from contracts.warehouse import GoodsReceived, PackedUnit
from services.inventory.domain import (
    BundleAvailability,
    DeliveredLine,
    GoodsReceipt,
    PurchaseOrder,
    RequestedLine,
    Reservation,
    ReservedLine,
    ScannedUnit,
    SerialCheck,
    ShippingCost,
    SkuStock,
    StockTransfer,
)
from services.inventory.domain.counts import CYCLE_COUNT
from services.inventory.domain.purchasing import PURCHASE_RECEIPT

WRITTEN_OFF = frozenset({"damage", "write-off"})
"""Adjustment reason codes that write units off (the rest of the decreases are adjustments)."""

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


def product_volume(event: ProductSpecified) -> int | None:
    """Outer volume of one unit in cm³, from the PIM's dimensions in mm."""
    if event.dimensions is None:
        return None
    size = event.dimensions
    cubic_mm = Decimal(size.length_mm) * Decimal(size.width_mm) * Decimal(size.height_mm)
    return math.ceil(cubic_mm / 1000)


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


@functools.singledispatch
def to_contract(event: object) -> IntegrationEvent:
    """The public event for a recorded inventory event (a function per event class, registered
    below)."""
    raise TypeError(f"no contract for inventory event {type(event).__qualname__}")


@to_contract.register
def _sku_stock_received(event: SkuStock.FirstReceived | SkuStock.Received) -> IntegrationEvent:
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
        unit_cost=receipt.unit_cost,
        currency=receipt.currency,
    )


@to_contract.register
def _sku_stock_reserved(event: SkuStock.Reserved) -> IntegrationEvent:
    return contracts.StockItemReserved(
        sku=event.sku,
        location=event.location,
        order_id=event.order_id,
        line_number=event.line_number,
        quantity=event.quantity,
    )


@to_contract.register
def _reservation_reserved(event: Reservation.Reserved) -> IntegrationEvent:
    return contracts.StockReserved(
        reservation_id=event.originator_id,
        order_id=event.order_id,
        lines=_reservation_lines(event.lines),
    )


@to_contract.register
def _sku_stock_backordered(
    event: SkuStock.FirstBackordered | SkuStock.Backordered,
) -> IntegrationEvent:
    return contracts.StockItemBackordered(
        sku=event.sku,
        order_id=event.order_id,
        line_number=event.line_number,
        quantity=event.quantity,
    )


@to_contract.register
def _sku_stock_backorder_reserved(event: SkuStock.BackorderReserved) -> IntegrationEvent:
    return contracts.StockItemBackorderReserved(
        sku=event.sku,
        location=event.location,
        order_id=event.order_id,
        line_number=event.line_number,
        quantity=event.quantity,
    )


@to_contract.register
def _sku_stock_unit_returned(event: SkuStock.UnitReturned) -> IntegrationEvent:
    return contracts.StockUnitReturned(
        sku=event.sku,
        rma_id=event.rma_id,
        serial=event.serial,
        location=event.location,
        condition=event.condition,
    )


@to_contract.register
def _sku_stock_unit_condition_changed(event: SkuStock.UnitConditionChanged) -> IntegrationEvent:
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


@to_contract.register
def _bundle_availability_published(
    event: BundleAvailability.FirstPublished | BundleAvailability.Published,
) -> IntegrationEvent:
    return contracts.BundleAvailableToSellChanged(
        sku=event.sku, channel=event.channel, new=event.available
    )


@to_contract.register
def _sku_stock_available_to_sell_changed(
    event: SkuStock.AvailableToSellChanged,
) -> IntegrationEvent:
    return contracts.AvailableToSellChanged(
        sku=event.sku,
        channel=event.availability.channel,
        new=event.availability.new,
        open_box=event.availability.open_box,
        refurbished=event.availability.refurbished,
    )


@to_contract.register
def _sku_stock_backorder_withdrawn(event: SkuStock.BackorderWithdrawn) -> IntegrationEvent:
    return contracts.StockItemBackorderWithdrawn(
        sku=event.sku,
        order_id=event.order_id,
        line_number=event.line_number,
        quantity=event.quantity,
    )


@to_contract.register
def _reservation_backorder_filled(event: Reservation.BackorderFilled) -> IntegrationEvent:
    return contracts.BackorderFilled(
        reservation_id=event.originator_id,
        order_id=event.order_id,
        fill=event.fill,
        lines=_reservation_lines(event.lines),
    )


@to_contract.register
def _reservation_short_of_stock(event: Reservation.ShortOfStock) -> IntegrationEvent:
    return contracts.StockShortage(
        reservation_id=event.originator_id,
        order_id=event.order_id,
        lines=_reservation_lines(event.lines),
    )


@to_contract.register
def _sku_stock_reservation_released(event: SkuStock.ReservationReleased) -> IntegrationEvent:
    return contracts.StockItemReservationReleased(
        sku=event.sku,
        location=event.location,
        order_id=event.order_id,
        line_number=event.line_number,
        quantity=event.quantity,
    )


@to_contract.register
def _reservation_released(event: Reservation.Released) -> IntegrationEvent:
    return contracts.ReservationReleased(
        reservation_id=event.originator_id, order_id=event.order_id, reason=event.reason
    )


@to_contract.register
def _sku_stock_serial_packed(event: SkuStock.SerialPacked) -> IntegrationEvent:
    return contracts.StockSerialPacked(
        sku=event.sku,
        serial=event.serial,
        location=event.location,
        shipment_id=event.shipment_id,
        order_id=event.order_id,
    )


@to_contract.register
def _sku_stock_shipped(event: SkuStock.Shipped) -> IntegrationEvent:
    return contracts.StockShipped(
        sku=event.sku,
        location=event.location,
        order_id=event.order_id,
        line_number=event.line_number,
        quantity=event.quantity,
        serials=list(event.serials),
        shipment_id=event.shipment_id,
    )


@to_contract.register
def _serial_check_passed(event: SerialCheck.Passed) -> IntegrationEvent:
    return contracts.SerialCheckPassed(
        shipment_id=event.shipment_id, order_id=event.order_id, scan=event.scan
    )


@to_contract.register
def _serial_check_failed(event: SerialCheck.Failed) -> IntegrationEvent:
    return contracts.SerialCheckFailed(
        shipment_id=event.shipment_id,
        order_id=event.order_id,
        scan=event.scan,
        problems=list(event.problems),
    )


@to_contract.register
def _sku_stock_adjusted(event: SkuStock.Adjusted) -> IntegrationEvent:
    return contracts.StockAdjusted(
        sku=event.sku,
        location=event.location,
        quantity_delta=event.quantity_delta,
        reason_code=event.reason_code,
        actor=event.actor,
        note=event.note,
        serials=list(event.serials),
        reference=event.reference,
        on_hand_before=event.on_hand_before,
        on_hand_after=event.on_hand_after,
    )


@to_contract.register
def _sku_stock_counted(event: SkuStock.Counted) -> IntegrationEvent:
    return contracts.StockCounted(
        sku=event.sku,
        location=event.location,
        count_id=event.count_id,
        expected=event.expected,
        counted=event.counted,
        variance=event.variance,
        actor=event.actor,
        serials_missing=list(event.serials_missing),
        serials_unexpected=list(event.serials_unexpected),
    )


@to_contract.register
def _sku_stock_transferred_out(event: SkuStock.TransferredOut) -> IntegrationEvent:
    return contracts.StockTransferredOut(
        sku=event.sku,
        transfer_id=event.transfer_id,
        from_location=event.from_location,
        to_location=event.to_location,
        quantity=event.quantity,
        serials=list(event.serials),
        actor=event.actor,
        reason=event.reason,
    )


@to_contract.register
def _sku_stock_transferred_in(event: SkuStock.TransferredIn) -> IntegrationEvent:
    return contracts.StockTransferredIn(
        sku=event.sku,
        transfer_id=event.transfer_id,
        from_location=event.from_location,
        to_location=event.to_location,
        quantity=event.quantity,
        serials=list(event.serials),
        actor=event.actor,
    )


@to_contract.register
def _stock_transfer_dispatched(event: StockTransfer.Dispatched) -> IntegrationEvent:
    return contracts.TransferDispatched(
        transfer_id=event.originator_id,
        sku=event.sku,
        from_location=event.from_location,
        to_location=event.to_location,
        quantity=event.quantity,
        serials=list(event.serials),
        actor=event.actor,
        reason=event.reason,
    )


@to_contract.register
def _stock_transfer_received(event: StockTransfer.Received) -> IntegrationEvent:
    return contracts.TransferReceived(
        transfer_id=event.originator_id,
        sku=event.sku,
        quantity_received=event.quantity_received,
        shortfall=event.shortfall,
        serials_received=list(event.serials_received),
        serials_missing=list(event.serials_missing),
        actor=event.actor,
    )


@to_contract.register
def _sku_stock_reorder_policy_set(
    event: SkuStock.FirstReorderPolicySet | SkuStock.ReorderPolicySet,
) -> IntegrationEvent:
    return contracts.ReorderPolicySet(
        sku=event.sku,
        location=event.location,
        reorder_point=event.policy.reorder_point,
        reorder_quantity=event.policy.reorder_quantity,
        lead_time_days=event.policy.lead_time_days,
        actor=event.actor,
    )


@to_contract.register
def _sku_stock_low_stock_detected(event: SkuStock.LowStockDetected) -> IntegrationEvent:
    return contracts.LowStockDetected(
        sku=event.sku,
        location=event.location,
        available=event.available,
        inbound=event.inbound,
        reorder_point=event.reorder_point,
        suggested_purchase_order=contracts.SuggestedPurchaseOrder(
            sku=event.sku,
            location=event.location,
            quantity=event.suggestion.quantity,
            expected_by=event.suggestion.expected_by,
        ),
    )


@to_contract.register
def _sku_stock_low_stock_resolved(event: SkuStock.LowStockResolved) -> IntegrationEvent:
    return contracts.LowStockResolved(
        sku=event.sku,
        location=event.location,
        available=event.available,
        inbound=event.inbound,
        reorder_point=event.reorder_point,
    )


def _delivered(lines: tuple[DeliveredLine, ...]) -> list[contracts.DeliveredUnits]:
    return [
        contracts.DeliveredUnits(
            sku=line.sku, quantity=line.quantity, serials=list(line.serials), batch=line.batch
        )
        for line in lines
    ]


@to_contract.register
def _sku_stock_inbound_changed(
    event: SkuStock.FirstInboundExpected | SkuStock.InboundChanged,
) -> IntegrationEvent:
    return contracts.StockInboundChanged(
        sku=event.sku,
        location=event.location,
        purchase_order_id=event.purchase_order_id,
        quantity=event.quantity,
        location_inbound=event.location_inbound,
    )


def _purchase_order_fields(
    event: PurchaseOrder.Raised | PurchaseOrder.Confirmed,
) -> dict[str, Any]:
    return {
        "purchase_order_id": event.purchase_order_id,
        "supplier": event.supplier,
        "location": event.location,
        "expected_on": event.expected_on,
        "lines": [
            contracts.PurchaseOrderLine(
                sku=line.sku,
                quantity=line.quantity,
                unit_cost=line.unit_cost,
                currency=line.currency,
            )
            for line in event.lines
        ],
        "actor": event.actor,
    }


@to_contract.register
def _purchase_order_raised(event: PurchaseOrder.Raised) -> IntegrationEvent:
    return contracts.PurchaseOrderRaised(**_purchase_order_fields(event))


@to_contract.register
def _purchase_order_confirmed(event: PurchaseOrder.Confirmed) -> IntegrationEvent:
    return contracts.PurchaseOrderConfirmed(**_purchase_order_fields(event))


@to_contract.register
def _purchase_order_asn_recorded(event: PurchaseOrder.AsnRecorded) -> IntegrationEvent:
    return contracts.AdvanceShippingNoticeRecorded(
        purchase_order_id=event.purchase_order_id,
        asn_id=event.asn.asn_id,
        supplier=event.supplier,
        location=event.location,
        expected_on=event.asn.expected_on,
        lines=_delivered(event.asn.lines),
        actor=event.actor,
    )


@to_contract.register
def _purchase_order_received(event: PurchaseOrder.Received) -> IntegrationEvent:
    receipt = event.receipt
    return contracts.PurchaseOrderReceived(
        purchase_order_id=event.purchase_order_id,
        receipt_id=receipt.receipt_id,
        asn_id=receipt.asn_id,
        location=receipt.location,
        received_at=receipt.received_at,
        lines=_delivered(receipt.lines),
        actor=receipt.actor,
        fully_received=event.fully_received,
    )


@to_contract.register
def _purchase_order_receipt_rejected(event: PurchaseOrder.ReceiptRejected) -> IntegrationEvent:
    receipt = event.receipt
    return contracts.PurchaseOrderReceiptRejected(
        purchase_order_id=event.purchase_order_id,
        receipt_id=receipt.receipt_id,
        asn_id=receipt.asn_id,
        location=receipt.location,
        received_at=receipt.received_at,
        lines=_delivered(receipt.lines),
        problems=list(event.problems),
    )


@to_contract.register
def _purchase_order_cancelled(event: PurchaseOrder.Cancelled) -> IntegrationEvent:
    return contracts.PurchaseOrderCancelled(
        purchase_order_id=event.purchase_order_id,
        location=event.location,
        reason=event.reason,
        actor=event.actor,
        cancelled=[
            contracts.CancelledUnits(sku=sku, quantity=quantity)
            for sku, quantity in sorted(event.units_cancelled.items())
        ],
    )


VALUELESS = "damaged"
"""The condition whose units have no value: entering it writes a unit off."""


@functools.singledispatch
def to_movement(event: object) -> contracts.StockMovement | None:
    """The finance movement a recorded inventory event makes, for `inventory.movements.v1`; None
    for an event that moves no units into or out of stock (reservations, counts, other aggregates).

    The costs are those the event recorded (`valuation.py`), so the feed needs no state.
    """
    return None


@to_movement.register
def _movement_of_sku_stock_received(
    event: SkuStock.FirstReceived | SkuStock.Received,
) -> contracts.StockMovement:
    receipt = event.receipt
    purchase = receipt.reason == PURCHASE_RECEIPT and receipt.reference is not None
    return _movement(
        event,
        "receipt",
        location=receipt.location,
        quantity=receipt.quantity,
        reason=receipt.reason,
        actor=receipt.actor,
        reference=("purchase-order" if purchase else None, receipt.reference),
        serials=receipt.serials,
        batch=receipt.batch,
    )


@to_movement.register
def _movement_of_sku_stock_shipped(event: SkuStock.Shipped) -> contracts.StockMovement:
    return _movement(
        event,
        "shipment",
        location=event.location,
        quantity=-event.quantity,
        reason="customer-order",
        reference=("shipment", str(event.shipment_id)),
        serials=event.serials,
        order_id=event.order_id,
    )


@to_movement.register
def _movement_of_sku_stock_adjusted(event: SkuStock.Adjusted) -> contracts.StockMovement:
    return _adjustment(event)


@to_movement.register
def _movement_of_sku_stock_transferred_out(
    event: SkuStock.TransferredOut,
) -> contracts.StockMovement:
    return _movement(
        event,
        "transfer-out",
        location=event.from_location,
        quantity=-event.quantity,
        reason=event.reason or "transfer",
        actor=event.actor,
        reference=("transfer", str(event.transfer_id)),
        serials=event.serials,
    )


@to_movement.register
def _movement_of_sku_stock_transferred_in(event: SkuStock.TransferredIn) -> contracts.StockMovement:
    return _movement(
        event,
        "transfer-in",
        location=event.to_location,
        quantity=event.quantity,
        reason="transfer",
        actor=event.actor,
        reference=("transfer", str(event.transfer_id)),
        serials=event.serials,
    )


@to_movement.register
def _movement_of_sku_stock_unit_returned(event: SkuStock.UnitReturned) -> contracts.StockMovement:
    return _movement(
        event,
        "return",
        location=event.location,
        quantity=1,
        condition=event.condition,
        reason="customer-return",
        reference=("rma", str(event.rma_id)),
        serials=() if event.serial is None else (event.serial,),
    )


@to_movement.register
def _movement_of_sku_stock_unit_condition_changed(
    event: SkuStock.UnitConditionChanged,
) -> contracts.StockMovement:
    return _condition_change(event)


def _adjustment(event: Any) -> contracts.StockMovement:
    if event.reason_code in WRITTEN_OFF:
        kind: contracts.MovementType = "write-off"
    else:
        kind = "adjustment-in" if event.quantity_delta > 0 else "adjustment-out"
    if event.reason_code == CYCLE_COUNT:
        reference_type: str | None = "count"
    else:
        # Besides a count's, only a short transfer receipt's loss names what it comes from.
        reference_type = "transfer" if event.reference is not None else None
    return _movement(
        event,
        kind,
        location=event.location,
        quantity=event.quantity_delta,
        reason=event.reason_code,
        actor=event.actor,
        reference=(reference_type, event.reference),
        serials=event.serials,
        note=event.note,
    )


def _condition_change(event: Any) -> contracts.StockMovement:
    """A returned unit's new condition: a write-off when it becomes damaged (it leaves valued
    stock), back into valued stock from damaged, otherwise a reclassification at the same value."""
    if event.to_condition == VALUELESS:
        kind: contracts.MovementType = "write-off"
        condition, quantity = event.from_condition, -1
    else:
        kind = "adjustment-in" if event.from_condition == VALUELESS else "condition-change"
        condition, quantity = event.to_condition, 1
    return _movement(
        event,
        kind,
        location=event.location,
        quantity=quantity,
        condition=condition,
        reason=event.reason,
        actor=event.actor,
        reference=("rma", str(event.rma_id)),
        serials=() if event.serial is None else (event.serial,),
        conditions=(event.from_condition, event.to_condition),
    )


def _movement(
    event: Any,
    kind: contracts.MovementType,
    *,
    location: str,
    quantity: int,
    reason: str,
    reference: tuple[str | None, str | None],
    condition: str = "new",
    actor: str | None = None,
    serials: Sequence[str] = (),
    order_id: uuid.UUID | None = None,
    batch: str | None = None,
    note: str | None = None,
    conditions: tuple[str, str] | None = None,
) -> contracts.StockMovement:
    # Events recorded before stock was valued have no cost: the class-level None.
    unit_cost: Decimal | None = event.unit_cost
    currency = event.currency if unit_cost is not None else None
    reference_type, reference_id = reference
    return contracts.StockMovement.model_validate(
        {
            "movement_type": kind,
            "sku": event.sku,
            "location": location,
            "condition": condition,
            "from_condition": conditions[0] if conditions else None,
            "to_condition": conditions[1] if conditions else None,
            "quantity": quantity,
            "unit_cost": unit_cost,
            "currency": currency,
            "extended_value": None if unit_cost is None else unit_cost * quantity,
            "reason": reason,
            "actor": actor,
            "reference_type": reference_type if reference_id is not None else None,
            "reference": reference_id,
            "order_id": order_id,
            "serials": list(serials),
            "batch": batch,
            "note": note,
        }
    )


def bundle_components(event: ProductSpecified) -> dict[str, int]:
    """A bundle's components as the PIM specified them (empty for a product that is no bundle)."""
    return {component.sku: component.quantity for component in event.components}
