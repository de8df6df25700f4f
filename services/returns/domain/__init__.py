"""The returns domain: the RMA aggregate, eligibility, inspection grades and dispositions.

Pure: no I/O.
"""

from services.returns.domain.case import (
    OPEN_STATES,
    Decision,
    Inspection,
    Receipt,
    Refund,
    Review,
    RmaStatus,
)
from services.returns.domain.eligibility import (
    DEFAULT_RETURN_WINDOW_DAYS,
    Basis,
    Eligibility,
    ReturnPolicy,
    add_months,
    decide_eligibility,
)
from services.returns.domain.inspection import (
    DEFAULT_CATEGORY,
    DEFAULT_CHECKS,
    DISPOSITIONS,
    GRADES,
    Condition,
    Disposition,
    Grade,
    Grading,
    InspectionPolicy,
    InvalidInspection,
    derive_grade,
    grade,
    validate_checklist,
)
from services.returns.domain.order_facts import (
    Address,
    DeliveredUnits,
    ReturnLine,
    kit_unit_share,
)
from services.returns.domain.rma import Rma, rma_id_for
from services.returns.domain.state import RmaEvent

__all__ = [
    "DEFAULT_CATEGORY",
    "DEFAULT_CHECKS",
    "DEFAULT_RETURN_WINDOW_DAYS",
    "DISPOSITIONS",
    "GRADES",
    "OPEN_STATES",
    "Address",
    "Basis",
    "Condition",
    "Decision",
    "DeliveredUnits",
    "Disposition",
    "Eligibility",
    "Grade",
    "Grading",
    "Inspection",
    "InspectionPolicy",
    "InvalidInspection",
    "Receipt",
    "Refund",
    "ReturnLine",
    "ReturnPolicy",
    "Review",
    "Rma",
    "RmaEvent",
    "RmaStatus",
    "add_months",
    "decide_eligibility",
    "derive_grade",
    "grade",
    "kit_unit_share",
    "rma_id_for",
    "validate_checklist",
]
