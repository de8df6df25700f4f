"""The order rules that are configuration, not code."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class FulfilmentPolicy:
    """The configurable order rules (documented defaults in the service's settings)."""

    fraud_hold_score: float = 80.0
    """A fraud score at or above this puts a paid order on hold until someone releases it."""

    signature_over: Decimal = Decimal("500")
    """An order worth more than this (in its currency) needs a signature on delivery."""
