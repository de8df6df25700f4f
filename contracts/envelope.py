"""The envelope every integration event travels in."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from contracts.base import ContractModel, IntegrationEvent

EVENT_ID_NAMESPACE = uuid.UUID("6f1c2f55-0d1e-4f5e-9a57-2d7c3b8e4a10")


def event_id_for(
    aggregate_id: uuid.UUID, aggregate_version: int, feed: str | None = None
) -> uuid.UUID:
    """The identity of the event recorded at this aggregate version.

    Derived, not random: an event published twice (a relay that crashed after sending) carries the same
    id both times, so any consumer can recognise the repeat. A feed (another topic that publishes
    the same stored events translated otherwise, e.g. `inventory.movements.v1`) names itself, so
    its message is not mistaken for the event on the events topic.
    """
    if feed is not None:
        return uuid.uuid5(EVENT_ID_NAMESPACE, f"{feed}:{aggregate_id}:{aggregate_version}")
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{aggregate_id}:{aggregate_version}")


class Envelope(ContractModel):
    """Metadata around an integration event payload.

    Consumers deduplicate on (`producer`, `aggregate_id`, `aggregate_version`) and expect versions of
    one aggregate to arrive in order on its partition; a missing version is a gap, never applied.
    """

    event_id: uuid.UUID = Field(description="Stable id of the event; equal on re-publication.")
    event_type: str = Field(description="Name of the payload contract, e.g. `OrderAllocated`.")
    schema_version: int = Field(ge=1, description="Version of the payload contract.")
    occurred_at: datetime = Field(
        description="When the producing service recorded the event (UTC)."
    )
    producer: str = Field(description="Name of the producing service, e.g. `order`.")
    aggregate_type: str = Field(description="Kind of aggregate that recorded the event.")
    aggregate_id: uuid.UUID = Field(description="Id of that aggregate; also the Kafka message key.")
    aggregate_version: int = Field(ge=1, description="Version of the aggregate after this event.")
    correlation_id: str = Field(
        description="Id of the originating request or channel message, carried through every event "
        "it causes, for tracing one business flow across services."
    )
    causation_id: str | None = Field(
        default=None, description="Id of the message or event that directly caused this one."
    )
    payload: dict[str, Any] = Field(description="The event itself, as its contract model defines.")

    @classmethod
    def of(
        cls,
        payload: IntegrationEvent,
        *,
        producer: str,
        aggregate_id: uuid.UUID,
        aggregate_version: int,
        occurred_at: datetime,
        correlation_id: str,
        causation_id: str | None = None,
        feed: str | None = None,
    ) -> Envelope:
        """Wrap an event recorded at `aggregate_version` of `aggregate_id` for publication (on
        `feed`, when it is not the producer's events topic)."""
        return cls(
            event_id=event_id_for(aggregate_id, aggregate_version, feed),
            event_type=payload.event_type,
            schema_version=payload.schema_version,
            occurred_at=occurred_at,
            producer=producer,
            aggregate_type=payload.aggregate_type,
            aggregate_id=aggregate_id,
            aggregate_version=aggregate_version,
            correlation_id=correlation_id,
            causation_id=causation_id,
            payload=payload.model_dump(mode="json"),
        )
