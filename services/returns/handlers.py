"""What returns consumes: placed orders and their deliveries, the units and serials shipped, the
products' warranties, return labels, and the dock receipts of returned units."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.order import (
    CustomerForgotten,
    OrderDelivered,
    OrderPlaced,
    OrderShipmentDelivered,
)
from contracts.pim import ProductChanged, ProductRegistered
from contracts.shipping import ReturnLabelPurchased
from contracts.warehouse import ReturnReceived, ShipmentConfirmed, UnitSerialCaptured
from services.returns.application import ReturnsApplication
from services.runtime.consumer import Consumer


def register_handlers(consumer: Consumer, returns: ReturnsApplication) -> None:
    # Other services' facts: read models only (`projections.py`).
    @consumer.on_event(OrderPlaced, producer="order")
    def order_placed(event: OrderPlaced, envelope: Envelope) -> None:
        returns.project(event, envelope)

    @consumer.on_event(OrderShipmentDelivered, producer="order")
    def parcel_delivered(event: OrderShipmentDelivered, envelope: Envelope) -> None:
        returns.project(event, envelope)

    @consumer.on_event(OrderDelivered, producer="order")
    def last_parcel_delivered(event: OrderDelivered, envelope: Envelope) -> None:
        returns.project(event, envelope)

    @consumer.on_event(UnitSerialCaptured, producer="warehouse_adapter")
    def serial_captured(event: UnitSerialCaptured, envelope: Envelope) -> None:
        returns.project(event, envelope)

    @consumer.on_event(ShipmentConfirmed, producer="warehouse_adapter")
    def shipment_confirmed(event: ShipmentConfirmed, envelope: Envelope) -> None:
        returns.project(event, envelope)

    @consumer.on_event(CustomerForgotten, producer="order")
    def customer_forgotten(event: CustomerForgotten, envelope: Envelope) -> None:
        returns.project(event, envelope)

    @consumer.on_event(ProductRegistered, producer="pim")
    def product_registered(event: ProductRegistered, envelope: Envelope) -> None:
        returns.project(event, envelope)

    @consumer.on_event(ProductChanged, producer="pim")
    def product_changed(event: ProductChanged, envelope: Envelope) -> None:
        returns.project(event, envelope)

    @consumer.on_event(ReturnLabelPurchased, producer="shipping")
    def return_label_purchased(event: ReturnLabelPurchased, envelope: Envelope) -> None:
        returns.project(event, envelope)

    @consumer.on_event(ReturnReceived, producer="warehouse_adapter")
    def return_received(event: ReturnReceived, _: Envelope) -> None:
        returns.record_receipt(
            event.rma_id,
            location=event.location,
            sku=event.sku,
            serial=event.serial,
            received_at=event.received_at,
        )
