"""Warehouse adapter domain ↔ public contracts. Pure functions."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from contracts import threepl
from contracts import warehouse as contracts
from contracts.base import IntegrationEvent
from contracts.inventory import AdvanceShippingNoticeRecorded, DeliveredUnits, PurchaseOrderLine
from contracts.order import OrderReleasedToWarehouse, ShipmentLine
from contracts.personal import AddressOnRecord
from contracts.threepl import GoodsReceipt, GoodsReceiptLine, PackConfirmation
from services.runtime.privacy import CustomerKeyClient, customer_of, is_sealed, reveal_optional
from services.warehouse_adapter.application import ShipmentToFulfil
from services.warehouse_adapter.domain import (
    CycleCount,
    Damage,
    Destination,
    Fulfilment,
    FulfilmentLine,
    Inbound,
    InboundLine,
    InboundReceipt,
    PackedUnit,
    ReturnReceipt,
    ShelfReport,
    Transfer,
    TransferArrival,
)


def shipments_of(event: OrderReleasedToWarehouse) -> list[ShipmentToFulfil]:
    return [
        ShipmentToFulfil(
            shipment_id=shipment.shipment_id,
            location=shipment.location,
            lines=tuple(
                fulfilment_line for line in shipment.lines for fulfilment_line in _to_pick(line)
            ),
        )
        for shipment in event.shipments
    ]


def _to_pick(line: ShipmentLine) -> tuple[FulfilmentLine, ...]:
    """What the warehouse picks for an order line: the line, or a kit's components (each naming
    the kit), since the 3PL stocks components, not kits."""
    if not line.components:
        return (FulfilmentLine(line_number=line.line_number, sku=line.sku, quantity=line.quantity),)
    return tuple(
        FulfilmentLine(
            line_number=line.line_number,
            sku=component.sku,
            quantity=component.quantity_per_kit * line.quantity,
            kit_sku=line.sku,
        )
        for component in line.components
    )


def destination_of(event: OrderReleasedToWarehouse) -> Destination:
    return Destination(**event.ship_to.model_dump())


def scanned_units(message: PackConfirmation) -> tuple[PackedUnit, ...]:
    return tuple(
        PackedUnit(line_number=unit.line_number, sku=unit.sku, serial=unit.serial)
        for unit in message.units
    )


def transfer_arrival(message: threepl.TransferArrival) -> TransferArrival:
    return TransferArrival(
        location=message.location,
        quantity=message.quantity,
        serials=tuple(message.serials),
        received_at=message.at,
        received_by=message.received_by or "3pl",
    )


def shelf_finding(message: threepl.CycleCount | threepl.ShelfDamage) -> CycleCount | Damage:
    if isinstance(message, threepl.CycleCount):
        serials = None if message.serials is None else tuple(message.serials)
        return CycleCount(counted=message.counted, serials=serials)
    return Damage(quantity=message.quantity, serials=tuple(message.serials), note=message.note)


def ordered_lines(lines: list[PurchaseOrderLine]) -> tuple[InboundLine, ...]:
    """A confirmed purchase order's lines, as units to expect."""
    return tuple(InboundLine(sku=line.sku, quantity=line.quantity) for line in lines)


def asn_lines(event: AdvanceShippingNoticeRecorded) -> tuple[InboundLine, ...]:
    return _inbound_lines(event.lines)


def received_lines(message: GoodsReceipt) -> tuple[InboundLine, ...]:
    return _inbound_lines(message.lines)


def _inbound_lines(
    lines: Sequence[DeliveredUnits] | Sequence[GoodsReceiptLine],
) -> tuple[InboundLine, ...]:
    return tuple(
        InboundLine(
            sku=line.sku, quantity=line.quantity, serials=tuple(line.serials), batch=line.batch
        )
        for line in lines
    )


def _inbound_units(lines: tuple[InboundLine, ...]) -> list[contracts.InboundUnits]:
    return [
        contracts.InboundUnits(
            sku=line.sku, quantity=line.quantity, serials=list(line.serials), batch=line.batch
        )
        for line in lines
    ]


def _units(units: tuple[PackedUnit, ...]) -> list[contracts.PackedUnit]:
    return [
        contracts.PackedUnit(line_number=unit.line_number, sku=unit.sku, serial=unit.serial)
        for unit in units
    ]


@functools.singledispatch
def to_contract(event: object) -> IntegrationEvent:
    """The public event for a recorded warehouse adapter event (a function per event class,
    registered below)."""
    raise TypeError(f"no contract for warehouse adapter event {type(event).__qualname__}")


@to_contract.register
def _return_received(event: ReturnReceipt.Received) -> contracts.ReturnReceived:
    return contracts.ReturnReceived(
        rma_id=event.rma_id,
        location=event.location,
        sku=event.sku,
        serial=event.serial,
        received_at=event.received_at,
    )


@to_contract.register
def _requested(event: Fulfilment.Requested) -> contracts.FulfilmentRequested:
    return contracts.FulfilmentRequested(
        shipment_id=event.originator_id,
        order_id=event.order_id,
        location=event.location,
        lines=[
            ShipmentLine(
                line_number=line.line_number,
                sku=line.sku,
                quantity=line.quantity,
                kit_sku=line.kit_sku,
            )
            for line in event.lines
        ],
        ship_to=asdict(event.ship_to),
        signature_required=event.signature_required,
    )


@to_contract.register
def _cancelled(event: Fulfilment.Cancelled) -> contracts.FulfilmentCancelled:
    return contracts.FulfilmentCancelled(
        shipment_id=event.originator_id, order_id=event.order_id, reason=event.reason
    )


@to_contract.register
def _picked(event: Fulfilment.Picked) -> contracts.FulfilmentPicked:
    return contracts.FulfilmentPicked(
        shipment_id=event.originator_id, order_id=event.order_id, picked_at=event.at
    )


@to_contract.register
def _units_scanned(event: Fulfilment.UnitsScanned) -> contracts.UnitsScanned:
    return contracts.UnitsScanned(
        shipment_id=event.originator_id,
        order_id=event.order_id,
        location=event.location,
        scan=event.scan,
        units=_units(event.units),
    )


@to_contract.register
def _serial_captured(event: Fulfilment.UnitSerialCaptured) -> contracts.UnitSerialCaptured:
    return contracts.UnitSerialCaptured(
        shipment_id=event.originator_id,
        order_id=event.order_id,
        line_number=event.line_number,
        sku=event.sku,
        serial=event.serial,
        location=event.location,
        captured_at=event.captured_at,
    )


@to_contract.register
def _packed(event: Fulfilment.Packed) -> contracts.FulfilmentPacked:
    return contracts.FulfilmentPacked(
        shipment_id=event.originator_id, order_id=event.order_id, units=_units(event.units)
    )


@to_contract.register
def _pack_rejected(event: Fulfilment.PackRejected) -> contracts.PackScanRejected:
    return contracts.PackScanRejected(
        shipment_id=event.originator_id, order_id=event.order_id, problems=list(event.problems)
    )


@to_contract.register
def _labelled(event: Fulfilment.Labelled) -> contracts.FulfilmentLabelled:
    return contracts.FulfilmentLabelled(
        shipment_id=event.originator_id,
        order_id=event.order_id,
        carrier=event.carrier,
        service=event.service,
        tracking_number=event.tracking_number,
    )


@to_contract.register
def _shipped(event: Fulfilment.Shipped) -> contracts.ShipmentConfirmed:
    return contracts.ShipmentConfirmed(
        shipment_id=event.originator_id,
        order_id=event.order_id,
        location=event.location,
        units=_units(event.units),
        carrier=event.carrier,
        service=event.service,
        tracking_number=event.tracking_number,
        shipped_at=event.at,
    )


@to_contract.register
def _expected(event: Inbound.Expected) -> contracts.InboundExpected:
    return _inbound_expected(event, asn_id=None)


@to_contract.register
def _advised(event: Inbound.Advised) -> contracts.InboundExpected:
    return _inbound_expected(event, asn_id=event.asn_id)


def _inbound_expected(
    event: Inbound.Expected | Inbound.Advised, asn_id: str | None
) -> contracts.InboundExpected:
    return contracts.InboundExpected(
        purchase_order_id=event.purchase_order_id,
        asn_id=asn_id,
        supplier=event.supplier,
        location=event.location,
        expected_on=event.expected_on,
        lines=_inbound_units(tuple(event.lines)),
    )


@to_contract.register
def _inbound_cancelled(event: Inbound.Cancelled) -> contracts.InboundCancelled:
    return contracts.InboundCancelled(
        purchase_order_id=event.purchase_order_id, location=event.location, reason=event.reason
    )


def _receipt(
    event: InboundReceipt.Recorded | InboundReceipt.Refused | InboundReceipt.Rejected,
) -> dict[str, Any]:
    return {
        "receipt_id": event.receipt_id,
        "purchase_order_id": event.purchase_order_id,
        "asn_id": event.asn_id,
        "location": event.location,
        "received_at": event.received_at,
        "lines": _inbound_units(tuple(event.lines)),
    }


@to_contract.register
def _goods_received(event: InboundReceipt.Recorded) -> contracts.GoodsReceived:
    return contracts.GoodsReceived(**_receipt(event), received_by=event.received_by)


@to_contract.register
def _receipt_refused(
    event: InboundReceipt.Refused | InboundReceipt.Rejected,
) -> contracts.GoodsReceiptRejected:
    return contracts.GoodsReceiptRejected(**_receipt(event), problems=list(event.problems))


@to_contract.register
def _transfer_requested(event: Transfer.Requested) -> contracts.TransferRequested:
    return contracts.TransferRequested(
        transfer_id=event.transfer_id,
        sku=event.sku,
        from_location=event.from_location,
        to_location=event.to_location,
        quantity=event.quantity,
        serials=list(event.serials),
        reason=event.reason,
    )


@to_contract.register
def _transfer_arrived(event: Transfer.Arrived) -> contracts.TransferArrived:
    return contracts.TransferArrived(
        transfer_id=event.transfer_id,
        sku=event.sku,
        location=event.arrival.location,
        quantity_received=event.arrival.quantity,
        serials_received=list(event.arrival.serials),
        received_at=event.arrival.received_at,
        received_by=event.arrival.received_by,
    )


def _shelf_report(event: ShelfReport.CountReported | ShelfReport.DamageReported) -> dict[str, Any]:
    return {
        "report_id": event.report_id,
        "location": event.location,
        "sku": event.sku,
        "reported_at": event.reported_at,
        "reported_by": event.reported_by,
    }


@to_contract.register
def _count_reported(event: ShelfReport.CountReported) -> contracts.CycleCountReported:
    serials = None if event.count.serials is None else list(event.count.serials)
    return contracts.CycleCountReported(
        **_shelf_report(event), counted=event.count.counted, serials=serials
    )


@to_contract.register
def _damage_reported(event: ShelfReport.DamageReported) -> contracts.DamageReported:
    return contracts.DamageReported(
        **_shelf_report(event),
        quantity=event.damage.quantity,
        serials=list(event.damage.serials),
        note=event.damage.note,
    )


class PartnerFeed:
    """What 3PL adapters read on `threepl.fulfilment-requests.v1`: each fulfilment request with
    its ship-to opened with the customer's key ("erased" once the customer is forgotten: such a
    request should not be shipped), and each cancellation. The events topic keeps it sealed.

    The relay calls `prepare` with each batch before translating it: the keys of the batch's
    customers are asked for then, asynchronously (`CustomerKeyClient.prefetch`), so translating
    never waits on the network on the relay's event loop. While the key lookup is away, `prepare`
    raises an outage and the relay publishes the batch later: a request is delayed, never
    dropped nor sent with a ship-to it could not open."""

    def __init__(self, keys: CustomerKeyClient) -> None:
        self._keys = keys
        at_hand = keys.at_hand()

        @functools.singledispatch
        def translate(event: object) -> IntegrationEvent | None:
            return None

        @translate.register
        def _request(event: Fulfilment.Requested) -> contracts.FulfilmentRequested:
            sealed = _requested(event)
            ship_to = {
                field: reveal_optional(value, at_hand) if isinstance(value, str) else value
                for field, value in asdict(event.ship_to).items()
            }
            return sealed.model_copy(update={"ship_to": AddressOnRecord(**ship_to)})

        translate.register(Fulfilment.Cancelled, _cancelled)
        self._translate = translate
        # `services.runtime.relay.translates` reads which classes it publishes from these.
        self.registry = translate.registry
        self.dispatch = translate.dispatch

    def __call__(self, event: object) -> IntegrationEvent | None:
        return self._translate(event)

    async def prepare(self, events: Sequence[object]) -> None:
        """Fetch the keys the batch's fulfilment requests need (`KeyLookupUnavailable` while the
        lookup is away)."""
        await self._keys.prefetch(
            customer_of(value)
            for event in events
            if isinstance(event, Fulfilment.Requested)
            for value in asdict(event.ship_to).values()
            if isinstance(value, str) and is_sealed(value)
        )

    def forget(self, customer_id: str) -> None:
        """`CustomerForgotten`: the customer's key is gone; never ask for it again."""
        self._keys.forget(customer_id)
