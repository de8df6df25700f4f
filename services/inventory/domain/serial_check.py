"""Inventory's verdict on the serials scanned into a parcel. Pure: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Self

from services.runtime.aggregate import Aggregate


def serial_check_id_for(shipment_id: uuid.UUID, scan: int) -> uuid.UUID:
    return uuid.uuid5(shipment_id, f"serial-check:{scan}")


@dataclass(frozen=True)
class ScannedUnit:
    line_number: int
    sku: str
    serial: str | None


class SerialCheck(Aggregate):
    """Inventory's verdict on one pack scan of a shipment: may these serials ship in it?"""

    class Passed(Aggregate.Created):
        shipment_id: uuid.UUID
        order_id: uuid.UUID
        scan: int

    class Failed(Aggregate.Created):
        shipment_id: uuid.UUID
        order_id: uuid.UUID
        scan: int
        problems: tuple[str, ...]

    @classmethod
    def decide(
        cls,
        *,
        shipment_id: uuid.UUID,
        order_id: uuid.UUID,
        scan: int,
        problems: tuple[str, ...],
    ) -> Self:
        common = {"shipment_id": shipment_id, "order_id": order_id, "scan": scan}
        if problems:
            return cls._create(
                cls.Failed, id=serial_check_id_for(shipment_id, scan), problems=problems, **common
            )
        return cls._create(cls.Passed, id=serial_check_id_for(shipment_id, scan), **common)
