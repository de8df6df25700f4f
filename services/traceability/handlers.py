"""What traceability consumes: every event of every service. Each one is kept in the audit log;
those about serialized units, their parcels, orders and returns also make history and holder rows
(`projections.py`)."""

from __future__ import annotations

from collections.abc import Callable

from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from contracts.order import CustomerForgotten
from contracts.registry import EVENT_MODELS
from services.runtime.consumer import Consumer
from services.traceability.application import TraceabilityApplication
from services.traceability.projections import producer_of


def register_handlers(consumer: Consumer, traceability: TraceabilityApplication) -> None:
    # One handler per published contract, registered from the registry rather than written out:
    # the audit log must not miss an event type added later.
    for model in EVENT_MODELS:
        if model is not CustomerForgotten:
            consumer.on_event(model, producer=producer_of(model))(_project(traceability))
    consumer.on_event(CustomerForgotten, producer="order")(_forget(traceability))


def _project(
    traceability: TraceabilityApplication,
) -> Callable[[IntegrationEvent, Envelope], None]:
    def project(event: IntegrationEvent, envelope: Envelope) -> None:
        traceability.project(event, envelope)

    return project


def _forget(
    traceability: TraceabilityApplication,
) -> Callable[[CustomerForgotten, Envelope], None]:
    def forget(event: CustomerForgotten, envelope: Envelope) -> None:
        traceability.forget_customer(event, envelope)

    return forget
