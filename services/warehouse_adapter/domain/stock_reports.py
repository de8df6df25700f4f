"""Transfers between warehouses and what 3PLs find on their shelves. Pure: no I/O.

Inventory is the authority on stock; the adapter passes its transfers on to the 3PLs (`Transfer`:
the origin sends, the destination expects) and records, once each, what the 3PLs report back: a
transfer's arrival, their own cycle counts and units found damaged (`ShelfReport`). A report is
recorded under the 3PL's id: a repeat changes nothing, a different report under a known id is
refused with the reason (it would otherwise be lost or applied twice).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Self

from services.runtime.aggregate import Aggregate, DomainError

TRANSFER_NAMESPACE = uuid.UUID("5b0e7c21-8d4a-4f6b-a3e9-1c7d2f0b8e54")
SHELF_REPORT_NAMESPACE = uuid.UUID("a4f1d8e3-6c2b-4d97-b05e-3e8a9c1f7d26")


def warehouse_transfer_id_for(transfer_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(TRANSFER_NAMESPACE, str(transfer_id))


def shelf_report_id_for(report_id: str) -> uuid.UUID:
    return uuid.uuid5(SHELF_REPORT_NAMESPACE, report_id)


@dataclass(frozen=True)
class TransferArrival:
    """What the destination's 3PL counted in from a transfer."""

    location: str
    quantity: int
    serials: tuple[str, ...]
    received_at: datetime
    received_by: str


class Transfer(Aggregate):
    """A transfer inventory dispatched, as the 3PLs were told of it; then its arrival, once."""

    class Requested(Aggregate.Created):
        transfer_id: uuid.UUID
        sku: str
        from_location: str
        to_location: str
        quantity: int
        serials: tuple[str, ...]
        reason: str | None

        def apply(self, transfer: Transfer) -> None:
            transfer.transfer_id = self.transfer_id
            transfer.sku = self.sku
            transfer.from_location = self.from_location
            transfer.to_location = self.to_location
            transfer.quantity = self.quantity
            transfer.serials = tuple(self.serials)
            transfer.arrival = None

    class Arrived(Aggregate.Event):
        transfer_id: uuid.UUID
        sku: str
        arrival: TransferArrival

        def apply(self, transfer: Transfer) -> None:
            transfer.arrival = self.arrival

    if TYPE_CHECKING:
        transfer_id: uuid.UUID
        sku: str
        from_location: str
        to_location: str
        quantity: int
        serials: tuple[str, ...]
        arrival: TransferArrival | None

    @classmethod
    def request(
        cls,
        *,
        transfer_id: uuid.UUID,
        sku: str,
        from_location: str,
        to_location: str,
        quantity: int,
        serials: tuple[str, ...],
        reason: str | None,
    ) -> Self:
        return cls._create(
            cls.Requested,
            id=warehouse_transfer_id_for(transfer_id),
            transfer_id=transfer_id,
            sku=sku,
            from_location=from_location,
            to_location=to_location,
            quantity=quantity,
            serials=serials,
            reason=reason,
        )

    def arrive(self, sku: str, arrival: TransferArrival) -> None:
        """Record what arrived at the destination; a repeat of the recorded arrival changes
        nothing. Refused: another SKU or dock than the transfer's, more units than were sent,
        serials that were not sent, or a second, different arrival."""
        if self.arrival is not None:
            if _same_arrival(self.arrival, arrival):
                return
            raise DomainError(
                f"transfer {self.transfer_id} was already received at {self.arrival.location} "
                f"({self.arrival.quantity} units); a second, different arrival is refused"
            )
        problems = []
        if sku != self.sku:
            problems.append(f"transfer {self.transfer_id} moves {self.sku}, not {sku}")
        if arrival.location != self.to_location:
            problems.append(
                f"transfer {self.transfer_id} goes to {self.to_location}, not {arrival.location}"
            )
        if arrival.quantity > self.quantity:
            problems.append(
                f"{arrival.quantity} units reported, {self.quantity} were sent "
                f"under transfer {self.transfer_id}"
            )
        if arrival.serials and len(arrival.serials) != arrival.quantity:
            problems.append(
                f"{len(arrival.serials)} serials for {arrival.quantity} units: one per unit"
            )
        unsent = sorted(set(arrival.serials) - set(self.serials))
        if unsent:
            problems.append(f"serials not sent under transfer {self.transfer_id}: {unsent}")
        if problems:
            raise DomainError("; ".join(problems))
        self.trigger_event(self.Arrived, transfer_id=self.transfer_id, sku=sku, arrival=arrival)


def _same_arrival(recorded: TransferArrival, again: TransferArrival) -> bool:
    """The time and who received are left out: an adapter re-sending after a restart may stamp
    them anew."""
    return (recorded.location, recorded.quantity, sorted(recorded.serials)) == (
        again.location,
        again.quantity,
        sorted(again.serials),
    )


@dataclass(frozen=True)
class CycleCount:
    """New units a 3PL counted; `serials` None when it did not count serials."""

    counted: int
    serials: tuple[str, ...] | None


@dataclass(frozen=True)
class Damage:
    """Units a 3PL found damaged."""

    quantity: int
    serials: tuple[str, ...]
    note: str | None


class ShelfReport(Aggregate):
    """A 3PL's report from its shelves, recorded once under its report id."""

    class CountReported(Aggregate.Created):
        report_id: str
        location: str
        sku: str
        reported_at: datetime
        reported_by: str
        count: CycleCount

        def apply(self, report: ShelfReport) -> None:
            report.start(self)
            report.finding = self.count

    class DamageReported(Aggregate.Created):
        report_id: str
        location: str
        sku: str
        reported_at: datetime
        reported_by: str
        damage: Damage

        def apply(self, report: ShelfReport) -> None:
            report.start(self)
            report.finding = self.damage

    if TYPE_CHECKING:
        report_id: str
        location: str
        sku: str
        finding: CycleCount | Damage

    def start(self, event: CountReported | DamageReported) -> None:
        self.report_id = event.report_id
        self.location = event.location
        self.sku = event.sku

    @classmethod
    def record(
        cls,
        *,
        report_id: str,
        location: str,
        sku: str,
        reported_at: datetime,
        reported_by: str,
        finding: CycleCount | Damage,
    ) -> Self:
        if not report_id.strip() or not location.strip() or not sku.strip():
            raise DomainError("a shelf report needs a report id, a location and a SKU")
        if (
            isinstance(finding, Damage)
            and finding.serials
            and (len(finding.serials) != finding.quantity)
        ):
            raise DomainError(
                f"{len(finding.serials)} serials for {finding.quantity} damaged units: one per unit"
            )
        common: dict[str, Any] = {
            "id": shelf_report_id_for(report_id),
            "report_id": report_id,
            "location": location,
            "sku": sku,
            "reported_at": reported_at,
            "reported_by": reported_by,
        }
        if isinstance(finding, CycleCount):
            return cls._create(cls.CountReported, count=finding, **common)
        return cls._create(cls.DamageReported, damage=finding, **common)

    def conflicts_with(
        self, *, location: str, sku: str, finding: CycleCount | Damage
    ) -> str | None:
        """Why a second report under this id is not a repeat of this one, if it is not."""
        if (location, sku, finding) == (self.location, self.sku, self.finding):
            return None
        return (
            f"report {self.report_id} was already recorded for {self.sku} at {self.location} "
            "with other findings; send a corrected report under a new id"
        )
