"""What returns consumes: placed orders and their deliveries, the units and serials shipped, the
products' warranties, return labels, and the dock receipts of returned units.

Other services' facts are read models only, consumed from their declaration (`projections.py`);
a returned unit at the dock is a use case."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.warehouse import ReturnReceived
from services.returns.application import ReturnsApplication
from services.runtime.consumer import Consumer


def register_handlers(consumer: Consumer, returns: ReturnsApplication) -> None:
    @consumer.on_event(ReturnReceived, producer="warehouse_adapter")
    def return_received(event: ReturnReceived, _: Envelope) -> None:
        returns.record_receipt(
            event.rma_id,
            location=event.location,
            sku=event.sku,
            serial=event.serial,
            received_at=event.received_at,
        )
