"""Transfers of units between two locations, keyed by the transfer."""

from __future__ import annotations

import uuid

from pydantic import Field

from contracts.base import IntegrationEvent, LocationCode, Sku


class TransferDispatched(IntegrationEvent):
    """A transfer of units between two locations left its origin; they are in transit."""

    event_type = "TransferDispatched"
    aggregate_type = "stock-transfer"

    transfer_id: uuid.UUID = Field(description="The transfer.")
    sku: Sku
    from_location: LocationCode
    to_location: LocationCode
    quantity: int = Field(ge=1, description="Units dispatched.")
    serials: list[str] = Field(
        default_factory=list, description="Serial numbers of the units, for serialized products."
    )
    actor: str = Field(description="Who dispatched the units.")
    reason: str | None = Field(default=None, description="Why they were moved, if given.")


class TransferReceived(IntegrationEvent):
    """A transfer arrived at its destination: what arrived, and what was short (written off)."""

    event_type = "TransferReceived"
    aggregate_type = "stock-transfer"

    transfer_id: uuid.UUID = Field(description="The transfer.")
    sku: Sku
    quantity_received: int = Field(ge=0, description="Units that arrived.")
    shortfall: int = Field(ge=0, description="Units dispatched that did not arrive (lost).")
    serials_received: list[str] = Field(
        default_factory=list, description="Serial numbers of the units that arrived."
    )
    serials_missing: list[str] = Field(
        default_factory=list, description="Serial numbers of the units that did not arrive."
    )
    actor: str = Field(description="Who received the transfer.")
