"""Cycle counts: what was physically counted at a location, kept on record with its variance.

Pure: no I/O. A mixin of `SkuStock`. Every count is recorded (`Counted`: expected, counted,
variance), also one that matched the books; a variance is booked as adjustments with the reason
`cycle-count` that refer to the count. Serialized products are counted by serial: units not found
leave, units found that the books did not have come in.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from services.inventory.domain.adjustments import StockAdjustments
from services.runtime.aggregate import Aggregate, DomainError

CYCLE_COUNT = "cycle-count"


class StockCounts(StockAdjustments):
    """Mixin of `SkuStock`: counts of the new units on hand at a location."""

    class Counted(Aggregate.Event):
        """A count of the units at a location; stock changes only by the adjustments after it."""

        sku: str
        count_id: uuid.UUID
        location: str
        expected: int
        counted: int
        variance: int
        actor: str
        serials_missing: tuple[str, ...]
        """Serials on the books at the location that were not counted."""
        serials_unexpected: tuple[str, ...]
        """Serials counted that the books did not have at the location."""

        def apply(self, stock: StockCounts) -> None:
            pass  # a record; the adjustments that follow change the stock

    def count(
        self,
        *,
        count_id: uuid.UUID,
        location: str,
        counted: int,
        actor: str,
        serials_counted: Sequence[str] | None = None,
    ) -> int:
        """Record a count of the new units at a location and book its variance; the variance.

        A count below what is reserved there is refused: the reserved units must be released (or
        shipped) first, so that no order is left holding units that are not there.
        """
        if counted < 0:
            raise DomainError("a count cannot be negative")
        if not actor.strip():
            raise DomainError("every count needs an actor")
        reserved = self.reserved_at(location)
        if counted < reserved:
            raise DomainError(
                f"{self.sku} at {location}: {counted} counted but {reserved} reserved for orders; "
                "release or ship the reserved units first"
            )
        expected = self.on_hand_at(location)
        missing, unexpected = self._compare_serials(location, counted, serials_counted)
        variance = counted - expected
        self.trigger_event(
            self.Counted,
            sku=self.sku,
            count_id=count_id,
            location=location,
            expected=expected,
            counted=counted,
            variance=variance,
            actor=actor,
            serials_missing=missing,
            serials_unexpected=unexpected,
        )
        # Increases first, so that no step on the way dips below what is reserved.
        rest = variance - len(unexpected) + len(missing)
        note = f"count {count_id}: {expected} expected, {counted} counted"
        steps: list[tuple[int, tuple[str, ...], bool]] = [
            (len(unexpected), unexpected, True),
            (rest, (), False),
            (-len(missing), missing, True),
        ]
        for delta, serials, by_serial in sorted(steps, key=lambda step: -step[0]):
            if delta:
                self.record_adjustment(
                    location=location,
                    quantity_delta=delta,
                    reason_code=CYCLE_COUNT,
                    actor=actor,
                    note=note,
                    serials=serials,
                    reference=str(count_id),
                    by_serial=by_serial,
                )
        return variance

    def _compare_serials(
        self, location: str, counted: int, serials_counted: Sequence[str] | None
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The serials on the books that were not counted, and those counted that were not."""
        if not self.serialized:
            if serials_counted:
                raise DomainError(f"{self.sku} units carry no serials, so a count names none")
            return (), ()
        found = tuple(serials_counted or ())
        if len(found) != counted:
            raise DomainError(
                f"{self.sku} units carry serials: a count of {counted} names {counted} serials, "
                f"{len(found)} given"
            )
        repeated = sorted({serial for serial in found if found.count(serial) > 1})
        if repeated:
            raise DomainError(f"serials counted twice: {', '.join(repeated)}")
        on_books = set(self.serials_at(location))
        missing = tuple(sorted(on_books - set(found)))
        unexpected = tuple(sorted(set(found) - on_books))
        self.check_serials_leave(location, missing)
        elsewhere = [(serial, where) for serial in unexpected if (where := self.where_is(serial))]
        if elsewhere:
            raise DomainError(
                f"{self.sku} serials counted at {location} are on the books elsewhere: "
                + ", ".join(f"{serial} ({where})" for serial, where in elsewhere)
                + "; count them where they are booked, or transfer them"
            )
        return missing, unexpected
