"""What returns consumes: placed orders and their deliveries, the units and serials shipped, the
products' warranties, return labels, and the dock receipts of returned units."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.order import OrderDelivered, OrderPlaced, OrderShipmentDelivered
from contracts.pim import ProductChanged, ProductRegistered
from contracts.shipping import ReturnLabelPurchased
from contracts.warehouse import ReturnReceived, ShipmentConfirmed, UnitSerialCaptured
from services.returns import translators
from services.returns.application import ReturnsApplication
from services.runtime.consumer import Consumer


def register_handlers(consumer: Consumer, returns: ReturnsApplication) -> None:
    @consumer.on_event(OrderPlaced, producer="order")
    def order_placed(event: OrderPlaced, _: Envelope) -> None:
        returns.record_order(
            event.order_id,
            channel=event.channel,
            currency=event.currency,
            ship_to=translators.address_of(event.shipping_address),
            lines=translators.placed_lines(event),
        )

    @consumer.on_event(OrderShipmentDelivered, producer="order")
    def parcel_delivered(event: OrderShipmentDelivered, _: Envelope) -> None:
        returns.record_delivery(event.order_id, event.shipment_id, event.delivered_at)

    @consumer.on_event(OrderDelivered, producer="order")
    def last_parcel_delivered(event: OrderDelivered, _: Envelope) -> None:
        returns.record_delivery(event.order_id, event.shipment_id, event.delivered_at)

    @consumer.on_event(UnitSerialCaptured, producer="warehouse_adapter")
    def serial_captured(event: UnitSerialCaptured, _: Envelope) -> None:
        returns.record_unit_shipped(
            event.order_id,
            event.line_number,
            sku=event.sku,
            serial=event.serial,
            shipment_id=event.shipment_id,
            location=event.location,
        )

    @consumer.on_event(ShipmentConfirmed, producer="warehouse_adapter")
    def shipment_confirmed(event: ShipmentConfirmed, _: Envelope) -> None:
        returns.record_shipment(
            event.order_id,
            event.shipment_id,
            location=event.location,
            lines=translators.shipped_lines(event),
        )

    @consumer.on_event(ProductRegistered, producer="pim")
    def product_registered(event: ProductRegistered, _: Envelope) -> None:
        returns.record_warranty(event.sku, event.warranty_months)

    @consumer.on_event(ProductChanged, producer="pim")
    def product_changed(event: ProductChanged, _: Envelope) -> None:
        returns.record_warranty(event.sku, event.warranty_months)

    @consumer.on_event(ReturnLabelPurchased, producer="shipping")
    def return_label_purchased(event: ReturnLabelPurchased, _: Envelope) -> None:
        returns.record_return_label(
            event.rma_id,
            carrier=event.carrier,
            service=event.service,
            tracking_number=event.tracking_number,
            return_to=event.return_to,
            cost=event.cost,
        )

    @consumer.on_event(ReturnReceived, producer="warehouse_adapter")
    def return_received(event: ReturnReceived, _: Envelope) -> None:
        returns.record_receipt(
            event.rma_id,
            location=event.location,
            sku=event.sku,
            serial=event.serial,
            received_at=event.received_at,
        )
