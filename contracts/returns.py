"""Events the `returns` service publishes on `returns.events.v1`, keyed by RMA id.

An RMA is one returned unit of one order line. Shipping buys the return label when an RMA is
authorised; the warehouse's dock receipt of the unit comes back through `warehouse_adapter`
(`ReturnReceived`); inventory puts the graded unit back into stock in the condition of its
disposition; channels and finance act on `RefundIssued`.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from contracts.base import IntegrationEvent, LocationCode, Money, Sku
from contracts.personal import AddressOnRecord

Grade = Literal["A", "B", "C", "scrap"]
"""A: unopened, sells as new (after a technician's sign-off); B: opened and works (open-box);
C: damaged or defective (repair or refurbish); scrap: written off."""

ReturnedCondition = Literal["quarantined", "open-box", "damaged"]
"""The condition a returned unit re-enters stock in: A (awaiting sign-off) and C are quarantined."""


class RmaEvent(IntegrationEvent):
    """Common to every RMA event."""

    aggregate_type = "rma"

    rma_id: uuid.UUID = Field(description="The RMA.")
    order_id: uuid.UUID = Field(description="The order the unit was bought with.")
    line_number: int = Field(ge=1, description="The order line.")
    sku: Sku


class ReturnRequested(RmaEvent):
    """A customer asked to return a unit of an order line."""

    event_type = "ReturnRequested"

    reason: str = Field(description="Why, in the customer's or support's words.")
    customer_note: str = Field(default="", description="Free text from the customer.")
    kit_sku: Sku | None = Field(
        default=None,
        description="When the line is a kit (bundle): the kit; `sku` is then the component "
        "returned, refunded its share of the kit's price.",
    )


class ReturnAuthorised(RmaEvent):
    """The return is allowed; shipping buys the return label from the customer to `return_to`."""

    event_type = "ReturnAuthorised"

    basis: Literal["return-window", "warranty"] = Field(description="Why it is eligible.")
    eligibility: str = Field(description="The eligibility decision in words, with its dates.")
    expected_serials: list[str] = Field(
        description="Serials packed for this order line: the unit that comes back must be one. "
        "Empty for a product whose units carry no serial: the unit is checked by SKU only."
    )
    return_from: AddressOnRecord = Field(description="The customer's address.")
    return_to: LocationCode


class ReturnRejected(RmaEvent):
    """The return is not allowed, with the reason (outside the return window and warranty)."""

    event_type = "ReturnRejected"

    reason: str = Field(description="Why not, with the dates that decided it.")


class ReturnReceiptRecorded(RmaEvent):
    """The unit arrived at the dock and its serial was compared with what was shipped."""

    event_type = "ReturnReceiptRecorded"

    serial: str | None = Field(description="The serial scanned at the dock.")
    location: LocationCode
    serial_matches: bool = Field(
        description="True when it is a serial packed for this line, or when the line's product "
        "carries no serial (nothing to compare)."
    )


class RefundBlocked(RmaEvent):
    """No refund until a reviewer decides: e.g. `serial mismatch`."""

    event_type = "RefundBlocked"

    reason: str = Field(description="Why the refund is blocked.")


class ReviewResolved(RmaEvent):
    """A reviewer decided a flagged RMA."""

    event_type = "ReviewResolved"

    decision: Literal["refund", "reject"] = Field(description="What the reviewer decided.")
    reviewer: str = Field(description="Who decided.")
    note: str = Field(description="Why.")


class ReturnInspected(RmaEvent):
    """The inspection checklist and the grade derived from it (or overridden, with a reason).

    Deprecated from the next contracts release on (CHANGELOG.md, "Unreleased"; 1.0.0 is the last
    release): read `ReturnGraded`, published right after it for the same inspection with the
    unit's serial as well. Published until contracts 2.0.
    """

    event_type = "ReturnInspected"
    replaced_by = "ReturnGraded"

    checklist: dict[str, bool] = Field(description="Each check and whether it passed.")
    grade: Grade = Field(description="A, B, C or scrap: the grade the unit is dispositioned by.")
    derived_grade: Grade = Field(description="The grade the documented rules give.")
    override_reason: str | None = Field(default=None, description="Why the grade differs.")
    inspector: str = Field(description="Who inspected.")


class ReturnGraded(RmaEvent):
    """A returned unit was graded at inspection: A, B, C or scrap, from its checklist (or
    overridden by the inspector, with a reason). Its disposition follows (`ReturnDispositioned`)."""

    event_type = "ReturnGraded"

    serial: str | None = Field(
        description="The graded unit's serial, as received at the dock; null for a product whose "
        "units carry none."
    )
    grade: Grade = Field(description="The unit's grade: what it is dispositioned and sold as.")
    checklist: dict[str, bool] = Field(description="Each check of the inspection and its result.")
    derived_grade: Grade = Field(description="The grade the documented checklist rules give.")
    override_reason: str | None = Field(
        default=None, description="Why the inspector's grade differs from the derived one."
    )
    inspector: str = Field(description="Who inspected and graded the unit.")


class ReturnDispositioned(RmaEvent):
    """Where the unit goes: inventory puts it back into stock at `location` in `condition`."""

    event_type = "ReturnDispositioned"

    serial: str | None = Field(
        description="The returned unit's serial; null for a product whose units carry none."
    )
    location: LocationCode
    grade: Grade = Field(description="The unit's grade.")
    condition: ReturnedCondition = Field(
        description="`quarantined` (grade A until signed off, or C for refurbishment), "
        "`open-box` (B) or `damaged` (scrap, written off)."
    )
    awaiting_signoff: bool = Field(
        description="Grade A: quarantined until a technician signs it off as new."
    )


class ReturnSignedOff(RmaEvent):
    """A technician signed off a grade-A unit: inventory moves it from quarantined to new."""

    event_type = "ReturnSignedOff"

    serial: str | None = Field(description="The unit's serial.")
    location: LocationCode
    technician: str = Field(description="Who signed off.")


class RefundIssued(RmaEvent):
    """Refund approved: channels and finance pay it back."""

    event_type = "RefundIssued"

    channel: str = Field(description="The channel the order came from.")
    amount: Money = Field(description="Amount refunded.")
    currency: str = Field(description="ISO 4217.")
