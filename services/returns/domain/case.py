"""What an RMA holds as its case goes on: where it stands, what arrived at the dock, a reviewer's
decision, the inspection, and the refund.

```
requested ─┬─► rejected                       (outside the return window and the warranty)
           └─► authorised ─► received ─┬─ serial matches ───────────────► refunded (inspected,
                                       │                                  dispositioned, refund)
                                       └─ mismatch ─► under-review ─┬─ refund ─► received ─► …
                                                                   └─ reject ─► refused (closed)
 refunded, grade A (quarantined, awaiting sign-off) ─► signed-off
```

Pure: no I/O. The RMA's state, set only by its events (`rma.py`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from services.returns.domain.inspection import Grade

Decision = Literal["refund", "reject"]


class RmaStatus(enum.StrEnum):
    """Where an RMA stands; see the module's diagram."""

    REQUESTED = "requested"
    REJECTED = "rejected"
    AUTHORISED = "authorised"
    RECEIVED = "received"
    UNDER_REVIEW = "under-review"
    REFUSED = "refused"
    REFUNDED = "refunded"
    SIGNED_OFF = "signed-off"


OPEN_STATES = (RmaStatus.AUTHORISED, RmaStatus.RECEIVED, RmaStatus.UNDER_REVIEW)
"""A unit under an open RMA is on its way back or being handled: no second RMA for it."""


@dataclass(frozen=True)
class Receipt:
    """What arrived at the dock, and whether it is a unit shipped for the line."""

    serial: str | None
    location: str
    sku: str
    received_at: datetime
    serial_matches: bool


@dataclass(frozen=True)
class Review:
    """A reviewer's decision on a blocked refund."""

    decision: Decision
    reviewer: str
    note: str


@dataclass(frozen=True)
class Inspection:
    """The checklist as answered, the derived grade and the one the unit goes by."""

    checklist: dict[str, bool]
    grade: Grade
    derived_grade: Grade
    override_reason: str | None
    inspector: str

    @classmethod
    def recorded_by(cls, event: Any) -> Inspection:
        """The inspection an `Inspected` or `Graded` event records (both carry all of it)."""
        return cls(
            checklist=dict(event.checklist),
            grade=event.grade,
            derived_grade=event.derived_grade,
            override_reason=event.override_reason,
            inspector=event.inspector,
        )


@dataclass(frozen=True)
class Refund:
    """The refund issued: the line's unit price, in the order's currency, through its channel."""

    channel: str
    amount: Decimal
    currency: str
