"""Inventory's recorded events → the public events of `inventory.events.v1`. Pure functions."""

from __future__ import annotations

import functools

from contracts import inventory as contracts
from contracts.base import IntegrationEvent
from contracts.order import LocationQuantity
from services.inventory.domain import (
    BundleAvailability,
    KitBackorders,
    Reservation,
    ReservedLine,
    SerialCheck,
    SkuStock,
    StockTransfer,
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
            components=[
                contracts.ReservedComponent(
                    sku=component.sku,
                    quantity_per_kit=component.quantity_per_kit,
                    quantity_reserved=component.quantity_per_kit * line.quantity_reserved,
                )
                for component in line.components
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
def _kits_owed(event: KitBackorders.FirstOwed | KitBackorders.Owed) -> IntegrationEvent:
    return contracts.StockItemBackordered(
        sku=event.sku,
        order_id=event.order_id,
        line_number=event.line_number,
        quantity=event.quantity,
    )


@to_contract.register
def _kits_reserved(event: KitBackorders.Reserved) -> IntegrationEvent:
    return contracts.StockItemBackorderReserved(
        sku=event.sku,
        location=event.location,
        order_id=event.order_id,
        line_number=event.line_number,
        quantity=event.quantity,
    )


@to_contract.register
def _kits_withdrawn(event: KitBackorders.Withdrawn) -> IntegrationEvent:
    return contracts.StockItemBackorderWithdrawn(
        sku=event.sku,
        order_id=event.order_id,
        line_number=event.line_number,
        quantity=event.quantity,
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
