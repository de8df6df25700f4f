"""What an RMA is, and the questions asked of it; the base of `Rma`.

Pure: no I/O. The state changes only through `Rma`'s events (`rma.py`, `settlement.py`); this
module only reads it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from services.returns.domain.case import Inspection, Receipt, Refund, Review, RmaStatus
from services.returns.domain.eligibility import Basis
from services.returns.domain.inspection import Disposition
from services.returns.domain.order_facts import Address
from services.runtime.aggregate import Aggregate


class RmaEvent(Aggregate.Event):
    """Every RMA event names its order line and SKU, as every public RMA event does."""

    order_id: uuid.UUID
    line_number: int
    sku: str


class RmaState:
    """The state of `Rma` and its queries. Subclassed only by the aggregate and its mixins."""

    if TYPE_CHECKING:
        id: uuid.UUID
        order_id: uuid.UUID
        line_number: int
        sku: str
        channel: str
        unit_price: Decimal
        currency: str
        reason: str
        customer_note: str
        requested_at: datetime
        kit_sku: str | None
        status: RmaStatus
        basis: Basis | None
        eligibility: str | None
        expected_serials: tuple[str, ...]
        return_from: Address | None
        return_to: str | None
        receipt: Receipt | None
        block_reason: str | None
        review: Review | None
        inspection: Inspection | None
        disposition: Disposition | None
        signed_off_by: str | None
        refund: Refund | None

        def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None: ...

    @property
    def serialized(self) -> bool:
        """The line's units carry serials (those shipped for it): the unit back must be one."""
        return bool(self.expected_serials)

    @property
    def refund_allowed(self) -> bool:
        """The unit is the one shipped, or a reviewer decided to refund it anyway."""
        if self.receipt is None:
            return False
        if self.receipt.serial_matches and self.block_reason is None:
            return True
        return self.review is not None and self.review.decision == "refund"

    @property
    def waiting_for(self) -> str | None:
        """What a person must do next, if anything: `inspection` of a received unit, a
        `review` of a blocked refund, or a technician's `sign-off` of a grade-A unit."""
        if self.status is RmaStatus.RECEIVED:
            return "inspection"
        if self.status is RmaStatus.UNDER_REVIEW:
            return "review"
        awaiting = self.disposition is not None and self.disposition.awaiting_signoff
        return "sign-off" if awaiting and self.signed_off_by is None else None

    @property
    def _unit_serial(self) -> str | None:
        """The serial the unit re-enters stock with: the one received, for a serialized line; none
        for a product whose units carry none (whatever the dock scanned is no unit's identity)."""
        return self.receipt.serial if self.receipt is not None and self.serialized else None

    def _trigger(self, event_class: type[Any], **kwargs: Any) -> None:
        """Every RMA event names its order line and SKU, as every public RMA event does."""
        self.trigger_event(
            event_class,
            order_id=self.order_id,
            line_number=self.line_number,
            sku=self.sku,
            **kwargs,
        )
