"""Messages carrier integrations publish to `carrier.tracking.v1`, keyed by tracking number.

One message per scan event the carrier reports, as plain JSON, with the carrier's own event code.
Shipping normalises the codes into in transit, delivered and exception; a code it does not know for
that carrier lands on `shipping.deadletter.v1` with the reason. Repeating a message is harmless.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from contracts.base import ContractModel, Line, Text


class CarrierTrackingEvent(ContractModel):
    """A carrier's scan event for one parcel."""

    carrier: Line = Field(min_length=1, max_length=64, description="Carrier code, e.g. `ups`.")
    tracking_number: Line = Field(min_length=1, max_length=64, description="From the label.")
    code: Line = Field(
        min_length=1,
        max_length=32,
        description="The carrier's event code (e.g. UPS `I`, `D`, `X`), or one of the generic "
        "codes `in_transit`, `out_for_delivery`, `delivered`, `exception`.",
    )
    description: Text = Field(default="", max_length=500, description="The carrier's wording.")
    at: datetime = Field(description="When the carrier scanned the parcel.")
