"""What shipping consumes: product facts, released and held orders, packed parcels, and the
carriers' tracking events. The products' dimensions are a read model only, consumed from its
declaration (`projections.py`)."""

from __future__ import annotations

from contracts.carrier import CarrierTrackingEvent
from contracts.envelope import Envelope
from contracts.order import OrderHeld, OrderHoldReleased, OrderReleasedToWarehouse
from contracts.pim import ProductChanged, ProductRegistered
from contracts.returns import ReturnAuthorised
from contracts.topics import CARRIER_TRACKING
from contracts.warehouse import FulfilmentPacked
from services.runtime.aggregate import NotYet
from services.runtime.consumer import Consumer
from services.shipping import translators
from services.shipping.application import ShippingApplication, UnknownConsignment


def register_handlers(consumer: Consumer, shipping: ShippingApplication) -> None:
    @consumer.on_event(ProductRegistered, producer="pim")
    def product_registered(event: ProductRegistered, envelope: Envelope) -> None:
        shipping.record_product_facts(event, envelope)

    @consumer.on_event(ProductChanged, producer="pim")
    def product_changed(event: ProductChanged, envelope: Envelope) -> None:
        shipping.record_product_facts(event, envelope)

    @consumer.on_event(OrderReleasedToWarehouse, producer="order")
    def order_released(event: OrderReleasedToWarehouse, _: Envelope) -> None:
        shipping.plan_consignments(
            event.order_id,
            translators.parcels_of(event),
            country=event.ship_to.country,
            currency=event.currency,
            signature_required=event.signature_required,
            promise=translators.promise_of(event),
        )

    @consumer.on_event(ReturnAuthorised, producer="returns")
    def return_authorised(event: ReturnAuthorised, _: Envelope) -> None:
        shipping.label_return(
            rma_id=event.rma_id,
            order_id=event.order_id,
            sku=event.sku,
            from_country=event.return_from.country,
            return_to=event.return_to,
        )

    @consumer.on_event(OrderHeld, producer="order")
    def order_held(event: OrderHeld, _: Envelope) -> None:
        shipping.hold_order(event.order_id, event.reason)

    @consumer.on_event(OrderHoldReleased, producer="order")
    def order_hold_released(event: OrderHoldReleased, _: Envelope) -> None:
        shipping.release_order(event.order_id)

    @consumer.on_event(FulfilmentPacked, producer="warehouse_adapter")
    def parcel_packed(event: FulfilmentPacked, _: Envelope) -> None:
        try:
            shipping.label_packed_parcel(event.shipment_id)
        except UnknownConsignment as unknown:
            # The warehouse's topic can be ahead of the order's: the release that plans this
            # parcel has not been consumed yet.
            raise NotYet(f"no consignment planned yet for shipment {unknown}") from unknown

    @consumer.on_message(
        CARRIER_TRACKING,
        CarrierTrackingEvent,
        correlation_id=lambda message: f"{message.carrier}:{message.tracking_number}",
        causation_id=lambda message: (
            f"{message.carrier}:{message.tracking_number}:{message.code}:{message.at.isoformat()}"
        ),
    )
    def carrier_scan(message: CarrierTrackingEvent) -> None:
        shipping.record_tracking(
            message.carrier, message.tracking_number, message.code, message.description, message.at
        )
