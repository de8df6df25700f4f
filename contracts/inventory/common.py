"""What the inventory contracts share: purchase order numbers, unit costs and stock conditions."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, PlainSerializer

PurchaseOrderId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description="The purchase order's number, e.g. `PO-2026-0042`; unique.",
    ),
]

UnitCost = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=4),
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
]
"""What one unit costs, at most four decimals; travels as a JSON string to keep it exact."""


StockCondition = Literal["new", "open-box", "refurbished", "quarantined", "damaged"]
"""A condition units are held in; `damaged` units are on the books at no value."""
