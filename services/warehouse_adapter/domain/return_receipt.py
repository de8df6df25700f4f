"""A returned unit received at a 3PL's dock. Pure: no I/O."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Self

from services.runtime.aggregate import Aggregate, DomainError

RETURN_RECEIPT_NAMESPACE = uuid.UUID("0e6d9a57-3c1b-4f2e-b8a4-6f5d2c9e1b73")


def return_receipt_id_for(rma_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(RETURN_RECEIPT_NAMESPACE, str(rma_id))


class ReturnReceipt(Aggregate):
    """What arrived at the dock under one RMA, as the 3PL scanned it: recorded once.

    The warehouse is the physical truth: the receipt records what was scanned, whatever it is;
    whether it is the unit that was shipped is for returns to judge.
    """

    class Received(Aggregate.Created):
        rma_id: uuid.UUID
        location: str
        sku: str
        serial: str | None
        received_at: datetime

        def apply(self, receipt: ReturnReceipt) -> None:
            receipt.rma_id = self.rma_id
            receipt.location = self.location
            receipt.sku = self.sku
            receipt.serial = self.serial
            receipt.received_at = self.received_at

    if TYPE_CHECKING:
        rma_id: uuid.UUID
        location: str
        sku: str
        serial: str | None
        received_at: datetime

    @classmethod
    def record(
        cls,
        *,
        rma_id: uuid.UUID,
        location: str,
        sku: str,
        serial: str | None,
        received_at: datetime,
    ) -> Self:
        if not location.strip() or not sku.strip():
            raise DomainError("a dock receipt needs a location and a SKU")
        return cls._create(
            cls.Received,
            id=return_receipt_id_for(rma_id),
            rma_id=rma_id,
            location=location,
            sku=sku,
            serial=serial,
            received_at=received_at,
        )

    def conflicts_with(self, location: str, sku: str, serial: str | None) -> str | None:
        """Why a second receipt under the same RMA is not a repeat of this one, if it is not."""
        if (location, sku, serial) == (self.location, self.sku, self.serial):
            return None
        return (
            f"RMA {self.rma_id} was already received at {self.location} as {self.sku} "
            f"serial {self.serial}; a second unit under one RMA is refused"
        )
