"""Adjustments: on hand changed by hand, with a reason code and an actor; no silent edits.

Pure: no I/O. A mixin of `SkuStock`: the `Adjusted` event and the rules an adjustment must keep.
An adjustment changes the new (sellable) units on hand at one location; returned units held in
other conditions move only by their own events.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from services.inventory.domain.state import StockState
from services.runtime.aggregate import Aggregate, DomainError

ReasonCode = Literal["cycle-count", "damage", "loss", "found", "correction", "write-off"]

REASON_CODES: dict[str, str] = {
    "cycle-count": "a physical count differed from the books; recorded only by a count",
    "damage": "units found damaged and taken out of sellable stock (a decrease)",
    "loss": "units missing: lost, stolen, or short on a transfer receipt (a decrease)",
    "found": "units found that were not on the books (an increase)",
    "correction": "a booking error put right (either way)",
    "write-off": "units written off: obsolete, expired, unsellable (a decrease)",
}
"""The closed set of reasons stock may be adjusted for, and what each means."""

DECREASES_ONLY = frozenset({"damage", "loss", "write-off"})
INCREASES_ONLY = frozenset({"found"})
COUNT_ONLY = frozenset({"cycle-count"})
"""Reasons an adjustment request may not give itself: a count records them, with its variance."""


class StockAdjustments(StockState):
    """Mixin of `SkuStock`: reason-coded adjustments of the units on hand at a location."""

    class Adjusted(Aggregate.Event):
        """New units on hand at a location changed by hand (or by a count, or a short transfer
        receipt), with who and why, and the figure before and after."""

        sku: str
        location: str
        quantity_delta: int
        reason_code: str
        actor: str
        note: str | None
        serials: tuple[str, ...]
        """The units that left (a decrease) or came in (an increase), for serialized products."""
        reference: str | None
        """The count or transfer the adjustment comes from, if any."""
        on_hand_before: int
        on_hand_after: int
        unit_cost: Decimal | None = None
        """The average cost of one unit at the time; None: unknown."""
        currency: str | None = None

        def apply(self, stock: StockAdjustments) -> None:
            stock.on_hand[self.location] = self.on_hand_after
            for serial in self.serials:
                if self.quantity_delta < 0:
                    del stock.serials[serial]
                    stock.packed.pop(serial, None)
                else:
                    stock.serials[serial] = self.location

    def adjust(
        self,
        *,
        location: str,
        quantity_delta: int,
        reason_code: str,
        actor: str,
        note: str | None = None,
        serials: Sequence[str] = (),
    ) -> None:
        """Change the units on hand at a location, for a reason of the closed set, by an actor.

        Never below what is reserved there (so never below zero); a serialized product's
        adjustment names the units that leave or come in.
        """
        if reason_code in COUNT_ONLY:
            raise DomainError(
                f"{reason_code} adjustments come from a count (POST /stock/counts), "
                "which keeps the variance on record"
            )
        self.record_adjustment(
            location=location,
            quantity_delta=quantity_delta,
            reason_code=reason_code,
            actor=actor,
            note=note,
            serials=tuple(serials),
        )

    def record_adjustment(
        self,
        *,
        location: str,
        quantity_delta: int,
        reason_code: str,
        actor: str,
        note: str | None = None,
        serials: tuple[str, ...] = (),
        reference: str | None = None,
        by_serial: bool = True,
    ) -> None:
        """Check and record an adjustment (also one a count or a transfer receipt decided).

        `by_serial=False` only for a count's rest: units of a serialized product that were
        received without serials.
        """
        _check_reason(reason_code, quantity_delta)
        if not actor.strip():
            raise DomainError("every adjustment needs an actor")
        before = self.on_hand_at(location)
        after = before + quantity_delta
        reserved = self.reserved_at(location)
        if after < 0:
            raise DomainError(
                f"{self.sku} at {location}: {before} on hand, so {quantity_delta:+d} would make "
                "on hand negative"
            )
        if after < reserved:
            raise DomainError(
                f"{self.sku} at {location}: {quantity_delta:+d} would leave {after} on hand for "
                f"{reserved} reserved; release or ship the reserved units first"
            )
        if by_serial:
            self.check_unit_serials(location, quantity_delta, serials, "an adjustment")
        booked = self.cost_now()
        self.trigger_event(
            self.Adjusted,
            sku=self.sku,
            location=location,
            quantity_delta=quantity_delta,
            reason_code=reason_code,
            actor=actor,
            note=note,
            serials=serials,
            reference=reference,
            on_hand_before=before,
            on_hand_after=after,
            unit_cost=booked.unit_cost,
            currency=booked.currency,
        )

    def check_unit_serials(
        self, location: str, quantity_delta: int, serials: Sequence[str], what: str
    ) -> None:
        """A serialized product's units are named one by one: those leaving must be in stock at
        the location (and not packed into a parcel); those coming in must be unknown."""
        if not self.serialized:
            if serials:
                raise DomainError(f"{self.sku} units carry no serials, so {what} names none")
            return
        if len(serials) != abs(quantity_delta):
            raise DomainError(
                f"{self.sku} units carry serials: {what} of {abs(quantity_delta)} units names "
                f"{abs(quantity_delta)} serials, {len(serials)} given"
            )
        repeated = sorted({serial for serial in serials if serials.count(serial) > 1})
        if repeated:
            raise DomainError(f"serials given twice: {', '.join(repeated)}")
        if quantity_delta < 0:
            self.check_serials_leave(location, serials)
            return
        known = [(serial, where) for serial in serials if (where := self.where_is(serial))]
        if known:
            raise DomainError(
                f"{self.sku} serials already known: "
                + ", ".join(f"{serial} ({where})" for serial, where in known)
            )

    def check_serials_leave(self, location: str, serials: Sequence[str]) -> None:
        """These units may leave the location: in stock there and not packed into a parcel."""
        elsewhere = [serial for serial in serials if self.serials.get(serial) != location]
        if elsewhere:
            raise DomainError(
                f"{self.sku} serials not in stock at {location}: "
                + ", ".join(
                    f"{serial} ({self.where_is(serial) or 'unknown'})" for serial in elsewhere
                )
            )
        packed = [serial for serial in serials if serial in self.packed]
        if packed:
            raise DomainError(
                f"{self.sku} serials packed into a parcel, so they cannot leave stock here: "
                + ", ".join(f"{serial} (shipment {self.packed[serial]})" for serial in packed)
            )


def _check_reason(reason_code: str, quantity_delta: int) -> None:
    if not reason_code.strip():
        raise DomainError("every adjustment needs a reason code: " + ", ".join(REASON_CODES))
    if reason_code not in REASON_CODES:
        raise DomainError(
            f"{reason_code!r} is not a reason code; one of: " + ", ".join(REASON_CODES)
        )
    if quantity_delta == 0:
        raise DomainError("an adjustment changes at least one unit")
    if reason_code in DECREASES_ONLY and quantity_delta > 0:
        raise DomainError(f"{reason_code} only decreases stock; {quantity_delta:+d} given")
    if reason_code in INCREASES_ONLY and quantity_delta < 0:
        raise DomainError(f"{reason_code} only increases stock; {quantity_delta:+d} given")
