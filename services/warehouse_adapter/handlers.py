"""What the warehouse adapter consumes: released and cancelled orders, the 3PLs' confirmations,
dock receipts (returns, goods from suppliers, transfers from other warehouses) and shelf reports
(cycle counts, damages), inventory's verdicts on scanned serials and goods receipts, inventory's
confirmed and cancelled purchase orders and their ASNs, its dispatched transfers, and shipping's
labels."""

from __future__ import annotations

from collections.abc import Callable

from contracts.envelope import Envelope
from contracts.inventory import (
    AdvanceShippingNoticeRecorded,
    PurchaseOrderCancelled,
    PurchaseOrderConfirmed,
    PurchaseOrderReceiptRejected,
    SerialCheckFailed,
    SerialCheckPassed,
    TransferDispatched,
)
from contracts.order import CustomerForgotten, OrderCancelled, OrderReleasedToWarehouse
from contracts.shipping import LabelPurchased
from contracts.threepl import (
    CycleCount,
    GoodsReceipt,
    PackConfirmation,
    PickConfirmation,
    ReturnArrival,
    ShipConfirmation,
    ThreePLConfirmation,
    ThreePLReceipt,
    ThreePLStockReport,
    TransferArrival,
)
from contracts.topics import THREEPL_CONFIRMATIONS, THREEPL_RECEIPTS, THREEPL_STOCK
from services.runtime.consumer import Consumer
from services.warehouse_adapter import translators
from services.warehouse_adapter.application import WarehouseAdapterApplication


def register_handlers(
    consumer: Consumer,
    warehouse: WarehouseAdapterApplication,
    forget_customer: Callable[[str], None] | None = None,
) -> None:
    """`forget_customer`: what to do when the order service forgets a customer (drop the key the
    partner feed keeps)."""
    if forget_customer is not None:
        forget = forget_customer

        @consumer.on_event(CustomerForgotten, producer="order")
        def customer_forgotten(event: CustomerForgotten, _: Envelope) -> None:
            forget(event.customer_id)

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
        ThreePLReceipt,
        correlation_id=lambda message: _receipt_flow(message.root),
        causation_id=lambda message: _receipt_cause(message.root),
    )
    def arrived(message: ThreePLReceipt) -> None:
        arrival = message.root
        if isinstance(arrival, ReturnArrival):
            warehouse.receive_return(
                rma_id=arrival.rma_id,
                location=arrival.location,
                sku=arrival.sku,
                serial=arrival.serial,
                received_at=arrival.at,
            )
        elif isinstance(arrival, TransferArrival):
            warehouse.receive_transfer(
                arrival.transfer_id, arrival.sku, translators.transfer_arrival(arrival)
            )
        else:
            warehouse.receive_goods(
                receipt_id=arrival.receipt_id,
                purchase_order_id=arrival.purchase_order_id,
                asn_id=arrival.asn_id,
                location=arrival.location,
                received_at=arrival.at,
                received_by=arrival.received_by or "3pl",
                lines=translators.received_lines(arrival),
            )

    @consumer.on_message(
        THREEPL_STOCK,
        ThreePLStockReport,
        correlation_id=lambda message: f"stock:{message.root.location}:{message.root.sku}",
        causation_id=lambda message: f"3pl:{message.root.report_id}:{message.root.type}",
    )
    def shelf_reported(message: ThreePLStockReport) -> None:
        report = message.root
        warehouse.record_shelf_report(
            report_id=report.report_id,
            location=report.location,
            sku=report.sku,
            reported_at=report.at,
            reported_by=(report.counted_by if isinstance(report, CycleCount) else report.found_by)
            or "3pl",
            finding=translators.shelf_finding(report),
        )

    @consumer.on_event(TransferDispatched, producer="inventory")
    def transfer_dispatched(event: TransferDispatched, _: Envelope) -> None:
        warehouse.request_transfer(
            transfer_id=event.transfer_id,
            sku=event.sku,
            from_location=event.from_location,
            to_location=event.to_location,
            quantity=event.quantity,
            serials=tuple(event.serials),
            reason=event.reason,
        )

    @consumer.on_event(PurchaseOrderConfirmed, producer="inventory")
    def purchase_order_confirmed(event: PurchaseOrderConfirmed, _: Envelope) -> None:
        warehouse.expect_inbound(
            purchase_order_id=event.purchase_order_id,
            supplier=event.supplier,
            location=event.location,
            expected_on=event.expected_on,
            lines=translators.ordered_lines(event.lines),
        )

    @consumer.on_event(AdvanceShippingNoticeRecorded, producer="inventory")
    def asn_recorded(event: AdvanceShippingNoticeRecorded, _: Envelope) -> None:
        warehouse.advise_inbound(
            purchase_order_id=event.purchase_order_id,
            asn_id=event.asn_id,
            expected_on=event.expected_on,
            lines=translators.asn_lines(event),
        )

    @consumer.on_event(PurchaseOrderCancelled, producer="inventory")
    def purchase_order_cancelled(event: PurchaseOrderCancelled, _: Envelope) -> None:
        warehouse.cancel_inbound(event.purchase_order_id, reason=event.reason)

    @consumer.on_event(PurchaseOrderReceiptRejected, producer="inventory")
    def goods_receipt_rejected(event: PurchaseOrderReceiptRejected, _: Envelope) -> None:
        warehouse.goods_receipt_rejected(event.receipt_id, tuple(event.problems))

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


def _receipt_flow(arrival: ReturnArrival | GoodsReceipt | TransferArrival) -> str:
    if isinstance(arrival, ReturnArrival):
        return f"rma:{arrival.rma_id}"
    if isinstance(arrival, TransferArrival):
        return f"transfer:{arrival.transfer_id}"
    return f"purchase-order:{arrival.purchase_order_id}"


def _receipt_cause(arrival: ReturnArrival | GoodsReceipt | TransferArrival) -> str:
    if isinstance(arrival, ReturnArrival):
        return f"3pl:{arrival.rma_id}:return_received"
    if isinstance(arrival, TransferArrival):
        return f"3pl:{arrival.transfer_id}:transfer_received"
    return f"3pl:{arrival.receipt_id}:goods_received"
