"""What the inventory service consumes: paid orders to reserve for, cancelled ones to release,
pack scans to check, shipments to take out of stock, goods received against purchase orders,
transfers arrived and the 3PLs' own cycle counts and damages found, returned units graded and
dispositioned; and, to route orders by shipping cost, the PIM's product facts and shipping's rate
card."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.order import OrderCancelled, OrderPaid
from contracts.pim import ProductSpecified
from contracts.returns import ReturnDispositioned, ReturnSignedOff
from contracts.warehouse import (
    CycleCountReported,
    DamageReported,
    GoodsReceived,
    ShipmentConfirmed,
    TransferArrived,
    UnitsScanned,
)
from services.inventory import translators
from services.inventory.application import InventoryApplication
from services.runtime.consumer import Consumer


def register_handlers(consumer: Consumer, inventory: InventoryApplication) -> None:
    @consumer.on_event(OrderPaid, producer="order")
    def order_paid(event: OrderPaid, _: Envelope) -> None:
        inventory.reserve_for_order(
            event.order_id, translators.requested_lines(event), event.shipping_country
        )

    # What the PIM, shipping and returns say that is only kept is consumed from the read models'
    # declaration (`projections.py`); a spec also re-decides what bundles may sell.
    @consumer.on_event(ProductSpecified, producer="pim")
    def product_specified(event: ProductSpecified, envelope: Envelope) -> None:
        inventory.record_product_spec(event, envelope)

    @consumer.on_event(OrderCancelled, producer="order")
    def order_cancelled(event: OrderCancelled, _: Envelope) -> None:
        inventory.release_for_order(event.order_id, reason=f"order cancelled: {event.reason}")

    @consumer.on_event(ReturnDispositioned, producer="returns")
    def return_dispositioned(event: ReturnDispositioned, _: Envelope) -> None:
        inventory.take_back_return(
            sku=event.sku,
            rma_id=event.rma_id,
            serial=event.serial,
            location=event.location,
            condition=event.condition,
        )

    @consumer.on_event(ReturnSignedOff, producer="returns")
    def return_signed_off(event: ReturnSignedOff, _: Envelope) -> None:
        inventory.sign_off_return(sku=event.sku, rma_id=event.rma_id, technician=event.technician)

    @consumer.on_event(UnitsScanned, producer="warehouse_adapter")
    def units_scanned(event: UnitsScanned, _: Envelope) -> None:
        inventory.check_pack_scan(
            shipment_id=event.shipment_id,
            order_id=event.order_id,
            location=event.location,
            scan=event.scan,
            units=translators.scanned_units(event.units),
        )

    @consumer.on_event(GoodsReceived, producer="warehouse_adapter")
    def goods_received(event: GoodsReceived, _: Envelope) -> None:
        inventory.receive_goods(
            event.purchase_order_id, translators.goods_receipt(event), record_rejection=True
        )

    @consumer.on_event(ShipmentConfirmed, producer="warehouse_adapter")
    def shipment_confirmed(event: ShipmentConfirmed, _: Envelope) -> None:
        inventory.ship(
            order_id=event.order_id,
            shipment_id=event.shipment_id,
            location=event.location,
            units=translators.scanned_units(event.units),
        )

    @consumer.on_event(TransferArrived, producer="warehouse_adapter")
    def transfer_arrived(event: TransferArrived, _: Envelope) -> None:
        inventory.receive_transfer(
            event.transfer_id,
            actor=event.received_by,
            quantity_received=event.quantity_received,
            serials_received=event.serials_received or None,
        )

    @consumer.on_event(CycleCountReported, producer="warehouse_adapter")
    def cycle_count_reported(event: CycleCountReported, _: Envelope) -> None:
        inventory.count_stock(
            event.sku,
            location=event.location,
            counted=event.counted,
            actor=event.reported_by,
            serials_counted=event.serials,
        )

    @consumer.on_event(DamageReported, producer="warehouse_adapter")
    def damage_reported(event: DamageReported, _: Envelope) -> None:
        inventory.adjust_stock(
            event.sku,
            location=event.location,
            quantity_delta=-event.quantity,
            reason_code="damage",
            actor=event.reported_by,
            note=event.note or f"found damaged on the shelf (report {event.report_id})",
            serials=event.serials,
        )
