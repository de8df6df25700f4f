"""Settling a returned unit: its inspection, grade, disposition and refund, all in one step, and a
technician's sign-off of a grade-A unit.

Pure: no I/O. A mixin of `Rma`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal

from services.returns.domain.case import Inspection, Refund, RmaStatus
from services.returns.domain.inspection import (
    DISPOSITIONS,
    Condition,
    Disposition,
    Grade,
    grade,
    validate_checklist,
)
from services.returns.domain.state import RmaEvent, RmaState
from services.runtime.aggregate import Conflict, DomainError


class RmaSettlement(RmaState):
    """Mixin of `Rma`: a received unit inspected, dispositioned and refunded; signed off."""

    class Inspected(RmaEvent):
        checklist: dict[str, bool]
        grade: Grade
        derived_grade: Grade
        override_reason: str | None
        inspector: str

        def apply(self, rma: RmaSettlement) -> None:
            rma.inspection = Inspection.recorded_by(self)

    class Graded(RmaEvent):
        """The grade of the inspection just recorded, with the unit's serial: the fact consumers
        act on (`Inspected` is kept, and published, for consumers of the deprecated event)."""

        serial: str | None
        grade: Grade
        derived_grade: Grade
        override_reason: str | None
        checklist: dict[str, bool]
        inspector: str

        def apply(self, rma: RmaSettlement) -> None:
            rma.inspection = Inspection.recorded_by(self)

    class Dispositioned(RmaEvent):
        serial: str | None
        location: str
        grade: Grade
        condition: Condition
        awaiting_signoff: bool

        def apply(self, rma: RmaSettlement) -> None:
            rma.disposition = Disposition(self.condition, self.awaiting_signoff)

    class SignedOff(RmaEvent):
        serial: str | None
        location: str
        technician: str

        def apply(self, rma: RmaSettlement) -> None:
            rma.signed_off_by = self.technician
            if rma.disposition is not None:  # `sign_off` allows only a unit awaiting it
                rma.disposition = replace(rma.disposition, awaiting_signoff=False)
            rma.status = RmaStatus.SIGNED_OFF

    class RefundIssued(RmaEvent):
        channel: str
        amount: Decimal
        currency: str

        def apply(self, rma: RmaSettlement) -> None:
            rma.refund = Refund(self.channel, self.amount, self.currency)
            rma.status = RmaStatus.REFUNDED

    def inspect(
        self,
        *,
        inspector: str,
        checklist: Mapping[str, bool],
        checks: Sequence[str],
        grade_override: Grade | None = None,
        override_reason: str | None = None,
    ) -> None:
        """Grade the unit by its checklist (`checks`: the category's), disposition it by the
        grade, and issue the refund: all in one step, only for a unit whose refund is allowed."""
        if self.inspection is not None:
            if (self.inspection.checklist, self.inspection.inspector) == (
                dict(checklist),
                inspector,
            ) and grade_override in (None, self.inspection.grade):
                return  # the same inspection submitted again
            raise Conflict(
                f"RMA {self.id} was already inspected by {self.inspection.inspector} "
                f"(grade {self.inspection.grade})"
            )
        if self.status is RmaStatus.UNDER_REVIEW:
            raise Conflict(
                f"RMA {self.id} is blocked ({self.block_reason}): a reviewer must decide first"
            )
        if self.status is not RmaStatus.RECEIVED or not self.refund_allowed:
            raise Conflict(f"RMA {self.id} is {self.status}: it cannot be inspected")
        if not inspector.strip():
            raise DomainError("an inspection needs the inspector")
        validate_checklist(checklist, checks)
        grading = grade(checklist, grade_override, override_reason)
        if self.receipt is None:  # received, by the state check above
            raise Conflict(f"RMA {self.id} has no receipt to inspect")
        disposition = DISPOSITIONS[grading.grade]
        self._trigger(
            self.Inspected,
            checklist=dict(checklist),
            grade=grading.grade,
            derived_grade=grading.derived,
            override_reason=grading.override_reason,
            inspector=inspector,
        )
        self._trigger(
            self.Graded,
            serial=self._unit_serial,
            grade=grading.grade,
            derived_grade=grading.derived,
            override_reason=grading.override_reason,
            checklist=dict(checklist),
            inspector=inspector,
        )
        self._trigger(
            self.Dispositioned,
            serial=self._unit_serial,
            location=self.receipt.location,
            grade=grading.grade,
            condition=disposition.condition,
            awaiting_signoff=disposition.awaiting_signoff,
        )
        self._trigger(
            self.RefundIssued, channel=self.channel, amount=self.unit_price, currency=self.currency
        )

    def sign_off(self, technician: str) -> None:
        """A technician confirms a grade-A unit is as new: it leaves quarantine as new stock."""
        if self.signed_off_by is not None:
            return  # already signed off
        if self.disposition is None or not self.disposition.awaiting_signoff:
            grade_text = f"grade {self.inspection.grade}" if self.inspection else "not inspected"
            raise Conflict(
                f"RMA {self.id} is {grade_text}: only a grade-A unit awaiting sign-off can be "
                "signed off"
            )
        if not technician.strip():
            raise DomainError("a sign-off needs the technician")
        if self.receipt is None:  # dispositioned units were received
            raise Conflict(f"RMA {self.id} has no receipt to sign off")
        self._trigger(
            self.SignedOff,
            serial=self._unit_serial,
            location=self.receipt.location,
            technician=technician,
        )
