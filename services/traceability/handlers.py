"""What traceability consumes: every event of every service. Each one is kept in the audit log;
those about serialized units, their parcels, orders and returns also make history and holder rows
(`projections.py`, which declares every published event type: the consumer subscribes them from
there). A forgotten customer is also dropped from the read models and the key cache."""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.order import CustomerForgotten
from services.runtime.consumer import Consumer
from services.traceability.application import TraceabilityApplication


def register_handlers(consumer: Consumer, traceability: TraceabilityApplication) -> None:
    @consumer.on_event(CustomerForgotten, producer="order")
    def forget(event: CustomerForgotten, envelope: Envelope) -> None:
        traceability.forget_customer(event, envelope)
