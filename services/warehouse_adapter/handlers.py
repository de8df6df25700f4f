"""What the warehouse adapter consumes: released and cancelled orders, the 3PLs' confirmations
and dock receipts of returns, inventory's verdicts on scanned serials, and shipping's labels."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.inventory import SerialCheckFailed, SerialCheckPassed
from contracts.order import OrderCancelled, OrderReleasedToWarehouse
from contracts.shipping import LabelPurchased
from contracts.threepl import (
    PackConfirmation,
    PickConfirmation,
    ReturnArrival,
    ShipConfirmation,
    ThreePLConfirmation,
)
from contracts.topics import THREEPL_CONFIRMATIONS, THREEPL_RECEIPTS
from services.runtime.consumer import Consumer
from services.warehouse_adapter import translators
from services.warehouse_adapter.application import WarehouseAdapterApplication


def register_handlers(consumer: Consumer, warehouse: WarehouseAdapterApplication) -> None:
    @consumer.on_event(OrderReleasedToWarehouse, producer="order")
    def order_released(event: OrderReleasedToWarehouse, _: Envelope) -> None:
        warehouse.request_fulfilment(
            event.order_id,
            translators.shipments_of(event),
            translators.destination_of(event),
            event.signature_required,
        )

    @consumer.on_event(OrderCancelled, producer="order")
    def order_cancelled(event: OrderCancelled, _: Envelope) -> None:
        warehouse.cancel_fulfilments(event.shipment_ids, reason=f"order cancelled: {event.reason}")

    @consumer.on_message(
        THREEPL_CONFIRMATIONS,
        ThreePLConfirmation,
        correlation_id=lambda message: f"shipment:{message.root.shipment_id}",
        causation_id=lambda message: f"3pl:{message.root.shipment_id}:{message.root.type}",
    )
    def confirmation_received(message: ThreePLConfirmation) -> None:
        confirmation = message.root
        if isinstance(confirmation, PickConfirmation):
            warehouse.confirm_picked(confirmation.shipment_id, confirmation.at)
        elif isinstance(confirmation, PackConfirmation):
            warehouse.record_pack_scan(
                confirmation.shipment_id, translators.scanned_units(confirmation), confirmation.at
            )
        elif isinstance(confirmation, ShipConfirmation):
            warehouse.confirm_shipped(
                confirmation.shipment_id,
                carrier=confirmation.carrier,
                service=confirmation.service,
                tracking_number=confirmation.tracking_number,
                at=confirmation.at,
            )

    @consumer.on_message(
        THREEPL_RECEIPTS,
        ReturnArrival,
        correlation_id=lambda message: f"rma:{message.rma_id}",
        causation_id=lambda message: f"3pl:{message.rma_id}:return_received",
    )
    def return_arrived(message: ReturnArrival) -> None:
        warehouse.receive_return(
            rma_id=message.rma_id,
            location=message.location,
            sku=message.sku,
            serial=message.serial,
            received_at=message.at,
        )

    @consumer.on_event(SerialCheckPassed, producer="inventory")
    def serials_verified(event: SerialCheckPassed, _: Envelope) -> None:
        warehouse.serials_verified(event.shipment_id, event.scan)

    @consumer.on_event(SerialCheckFailed, producer="inventory")
    def serials_refused(event: SerialCheckFailed, _: Envelope) -> None:
        warehouse.serials_refused(event.shipment_id, event.scan, tuple(event.problems))

    @consumer.on_event(LabelPurchased, producer="shipping")
    def label_purchased(event: LabelPurchased, _: Envelope) -> None:
        warehouse.attach_label(
            event.shipment_id,
            carrier=event.carrier,
            service=event.service,
            tracking_number=event.tracking_number,
        )
