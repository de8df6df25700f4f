"""The stock of one SKU: on hand and reserved per location, serials in stock, backorders owed.

Pure: no I/O. The aggregate is one class; its state and queries are in `state`, and its stock
operations in their own modules as mixins (`adjustments`, `counts`, `transfer`, `reorder`), each with
its events and rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Self

from services.inventory.domain.adjustments import StockAdjustments
from services.inventory.domain.availability import ChannelAvailability, SalesChannels
from services.inventory.domain.counts import StockCounts
from services.inventory.domain.holdings import Backorder, ReorderPolicy, ReturnedUnit
from services.inventory.domain.inbound import StockInbound
from services.inventory.domain.reorder import ReorderPoints, check_policy
from services.inventory.domain.reservation import LocationQuantity, take_from
from services.inventory.domain.state import (
    CONDITIONS,
    NEW,
    OPEN_BOX,
    REFURBISHED,
    RETURN_CONDITIONS,
)
from services.inventory.domain.transfer import StockTransfers
from services.inventory.domain.valuation import BookedCost, averaged
from services.runtime.aggregate import Aggregate, DomainError

STOCK_NAMESPACE = uuid.UUID("a3f0b7f2-5e1c-4d84-b1a9-8c2e7d6f4b30")


def stock_id_for(sku: str) -> uuid.UUID:
    return uuid.uuid5(STOCK_NAMESPACE, sku)


class InsufficientStock(DomainError):
    """Fewer units are available than asked for."""


@dataclass(frozen=True)
class Receipt:
    """Units put into stock at a location, with why, who, and, for serialized products, which."""

    location: str
    quantity: int
    reason: str
    actor: str
    reference: str | None = None
    serials: tuple[str, ...] = ()
    batch: str | None = None
    """Production batch of the received units, when the supplier states it (recall tracing)."""
    unit_cost: Decimal | None = None
    """What one unit cost, for a receipt against a purchase order (its line's unit cost)."""
    currency: str | None = None
    """Currency of `unit_cost`."""


@dataclass(frozen=True)
class BackorderFill:
    """Units just reserved for a backordered line, and where."""

    order_id: uuid.UUID
    line_number: int
    allocations: tuple[LocationQuantity, ...]


class SkuStock(
    StockCounts, StockTransfers, StockAdjustments, ReorderPoints, StockInbound, Aggregate
):
    """The stock of one SKU at every location: on hand, reserved, available, serials in stock,
    units in transit between locations, units inbound on purchase orders, and reorder points.

    The operation mixins stay direct bases: the library redefines the events of direct bases as
    `SkuStock.<Event>`, which is the topic they are stored under, wherever they are written.
    """

    class_version = 4
    """2: returned units keyed by the RMA id as text (snapshots are JSON), transfers in transit,
    reorder policies and low-stock alerts; 3: units inbound on purchase orders; 4: the average
    unit cost."""

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A snapshot taken before version 2 has none of the new state."""
        state["returns"] = {str(rma): unit for rma, unit in state.get("returns", {}).items()}
        state.setdefault("in_transit", {})
        state.setdefault("policies", {})
        state.setdefault("low_stock", {})

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """A snapshot taken before version 3 knew of no purchase orders."""
        state.setdefault("inbound", {})

    @staticmethod
    def upcast_v3_v4(state: dict[str, Any]) -> None:
        """A snapshot taken before version 4 kept no average: unknown until the next costed
        receipt sets it."""
        state.setdefault("average_cost", None)

    class FirstReceived(Aggregate.Created):
        sku: str
        receipt: Receipt
        unit_cost: Decimal | None = None
        """What one unit is booked at (see `valuation.py`); None: unknown, also in events recorded
        before stock was valued."""
        currency: str | None = None

        def apply(self, stock: SkuStock) -> None:
            stock.start(self.sku)
            stock.put_away(self.receipt)

    class FirstBackordered(Aggregate.Created):
        """An order wants units of a SKU that was never received."""

        sku: str
        order_id: uuid.UUID
        line_number: int
        quantity: int

        def apply(self, stock: SkuStock) -> None:
            stock.start(self.sku)
            stock.backorders.append(Backorder(self.order_id, self.line_number, self.quantity))

    class Backordered(Aggregate.Event):
        sku: str
        order_id: uuid.UUID
        line_number: int
        quantity: int

        def apply(self, stock: SkuStock) -> None:
            stock.backorders.append(Backorder(self.order_id, self.line_number, self.quantity))

    class BackorderReserved(Aggregate.Event):
        """Units that arrived were reserved for a backordered line."""

        sku: str
        order_id: uuid.UUID
        line_number: int
        location: str
        quantity: int

        def apply(self, stock: SkuStock) -> None:
            stock.reserved[self.location] = stock.reserved.get(self.location, 0) + self.quantity
            stock.reduce_backorder(self.order_id, self.line_number, self.quantity)

    class UnitReturned(Aggregate.Event):
        """A returned unit re-entered stock at a location, in the condition its grade gave it."""

        sku: str
        rma_id: uuid.UUID
        serial: str | None
        location: str
        condition: str
        unit_cost: Decimal | None = None
        """The average, or zero in a condition without value; None: unknown."""
        currency: str | None = None

        def apply(self, stock: SkuStock) -> None:
            stock.returns[str(self.rma_id)] = ReturnedUnit(
                self.serial, self.location, self.condition
            )
            if self.serial is not None:
                stock.shipped.pop(self.serial, None)

    class UnitConditionChanged(Aggregate.Event):
        """A returned unit moved to another condition; to `new`, it is sellable stock again."""

        sku: str
        rma_id: uuid.UUID
        serial: str | None
        location: str
        from_condition: str
        to_condition: str
        reason: str
        actor: str
        unit_cost: Decimal | None = None
        """The average the unit is valued at (it leaves value to `damaged`, regains it from
        there); None: unknown."""
        currency: str | None = None

        def apply(self, stock: SkuStock) -> None:
            if self.to_condition == NEW:
                del stock.returns[str(self.rma_id)]
                stock.on_hand[self.location] = stock.on_hand.get(self.location, 0) + 1
                if self.serial is not None:
                    stock.serials[self.serial] = self.location
            else:
                stock.returns[str(self.rma_id)] = ReturnedUnit(
                    self.serial, self.location, self.to_condition
                )

    class AvailableToSellChanged(Aggregate.Event):
        """What a channel may sell of the SKU changed."""

        sku: str
        availability: ChannelAvailability

        def apply(self, stock: SkuStock) -> None:
            stock.published[self.availability.channel] = self.availability

    class BackorderWithdrawn(Aggregate.Event):
        """The order no longer waits for these units (it was cancelled)."""

        sku: str
        order_id: uuid.UUID
        line_number: int
        quantity: int

        def apply(self, stock: SkuStock) -> None:
            stock.reduce_backorder(self.order_id, self.line_number, self.quantity)

    class Received(Aggregate.Event):
        sku: str
        receipt: Receipt
        unit_cost: Decimal | None = None
        """What one unit is booked at: the receipt's own cost, else the average; None: unknown."""
        currency: str | None = None

        def apply(self, stock: SkuStock) -> None:
            stock.put_away(self.receipt)

    class Reserved(Aggregate.Event):
        sku: str
        order_id: uuid.UUID
        line_number: int
        location: str
        quantity: int

        def apply(self, stock: SkuStock) -> None:
            stock.reserved[self.location] = stock.reserved.get(self.location, 0) + self.quantity

    class ReservationReleased(Aggregate.Event):
        sku: str
        order_id: uuid.UUID
        line_number: int
        location: str
        quantity: int

        def apply(self, stock: SkuStock) -> None:
            stock.reserved[self.location] = stock.reserved.get(self.location, 0) - self.quantity

    class SerialPacked(Aggregate.Event):
        sku: str
        serial: str
        location: str
        shipment_id: uuid.UUID
        order_id: uuid.UUID

        def apply(self, stock: SkuStock) -> None:
            stock.packed[self.serial] = self.shipment_id

    class Shipped(Aggregate.Event):
        sku: str
        order_id: uuid.UUID
        shipment_id: uuid.UUID
        line_number: int
        location: str
        quantity: int
        serials: tuple[str, ...]
        unit_cost: Decimal | None = None
        """The average cost of one unit when it shipped; None: unknown."""
        currency: str | None = None

        def apply(self, stock: SkuStock) -> None:
            stock.on_hand[self.location] -= self.quantity
            stock.reserved[self.location] -= self.quantity
            for serial in self.serials:
                del stock.serials[serial]
                stock.packed.pop(serial, None)
                stock.shipped[serial] = self.order_id

    @classmethod
    def receive_first(cls, *, sku: str, receipt: Receipt) -> Self:
        _check_receipt(sku, receipt, known={})
        return cls._create(
            cls.FirstReceived,
            id=stock_id_for(sku),
            sku=sku,
            receipt=receipt,
            unit_cost=receipt.unit_cost,
            currency=receipt.currency if receipt.unit_cost is not None else None,
        )

    @classmethod
    def reorder_first(
        cls, *, sku: str, location: str, policy: ReorderPolicy, actor: str | None = None
    ) -> Self:
        """A reorder policy for a SKU that has no stock yet (it alerts at once: none is there)."""
        check_policy(policy)
        return cls._create(
            cls.FirstReorderPolicySet,
            id=stock_id_for(sku),
            sku=sku,
            location=location,
            policy=policy,
            actor=actor,
        )

    @classmethod
    def expect_first(
        cls, *, sku: str, purchase_order_id: str, location: str, quantity: int
    ) -> Self:
        """Units of a SKU that has no stock yet are due on a confirmed purchase order."""
        if quantity < 1:
            raise DomainError("inbound units of a new SKU are at least one")
        return cls._create(
            cls.FirstInboundExpected,
            id=stock_id_for(sku),
            sku=sku,
            purchase_order_id=purchase_order_id,
            location=location,
            quantity=quantity,
            location_inbound=quantity,
        )

    def receive(self, receipt: Receipt) -> None:
        _check_receipt(self.sku, receipt, known=self.stocked_serials)
        booked = (
            BookedCost(receipt.unit_cost, receipt.currency)
            if receipt.unit_cost is not None
            else self.cost_now()
        )
        self.trigger_event(
            self.Received,
            sku=self.sku,
            receipt=receipt,
            unit_cost=booked.unit_cost,
            currency=booked.currency,
        )

    @classmethod
    def backorder_first(
        cls, *, sku: str, order_id: uuid.UUID, line_number: int, quantity: int
    ) -> Self:
        """Owe units of a SKU never received to an order line."""
        _check_backorder(quantity)
        return cls._create(
            cls.FirstBackordered,
            id=stock_id_for(sku),
            sku=sku,
            order_id=order_id,
            line_number=line_number,
            quantity=quantity,
        )

    def backorder(self, *, order_id: uuid.UUID, line_number: int, quantity: int) -> None:
        """Owe units to an order line; they are reserved for it as soon as they arrive."""
        _check_backorder(quantity)
        self.trigger_event(
            self.Backordered,
            sku=self.sku,
            order_id=order_id,
            line_number=line_number,
            quantity=quantity,
        )

    def fill_backorders(self) -> list[BackorderFill]:
        """Reserve available units for the oldest backorders first; what each line got.

        A line takes what there is (a partial fill) and keeps its place for the rest.
        """
        available = {location: self.available_at(location) for location in self.locations}
        fills = []
        for owed in list(self.backorders):
            taken = take_from(available, owed.quantity)
            for item in taken:
                self.trigger_event(
                    self.BackorderReserved,
                    sku=self.sku,
                    order_id=owed.order_id,
                    line_number=owed.line_number,
                    location=item.location,
                    quantity=item.quantity,
                )
            if taken:
                fills.append(BackorderFill(owed.order_id, owed.line_number, taken))
        return fills

    def withdraw_backorder(self, *, order_id: uuid.UUID, line_number: int) -> None:
        """Stop owing units to an order line; nothing to do when none are owed."""
        for owed in self.backorders:
            if owed.order_id == order_id and owed.line_number == line_number:
                self.trigger_event(
                    self.BackorderWithdrawn,
                    sku=self.sku,
                    order_id=order_id,
                    line_number=line_number,
                    quantity=owed.quantity,
                )
                return

    def reduce_backorder(self, order_id: uuid.UUID, line_number: int, quantity: int) -> None:
        for index, owed in enumerate(self.backorders):
            if owed.order_id == order_id and owed.line_number == line_number:
                rest = owed.quantity - quantity
                if rest > 0:
                    self.backorders[index] = Backorder(order_id, line_number, rest)
                else:
                    del self.backorders[index]
                return

    def take_back(
        self, *, rma_id: uuid.UUID, serial: str | None, location: str, condition: str
    ) -> None:
        """A returned unit re-enters stock in a condition other than new; once per RMA."""
        if str(rma_id) in self.returns:
            return
        if condition not in RETURN_CONDITIONS:
            raise DomainError(
                f"a returned unit enters stock as {', '.join(RETURN_CONDITIONS)}, not {condition}"
            )
        if serial is not None and (serial in self.serials or self.in_transit_serials.get(serial)):
            raise DomainError(f"serial {serial} of {self.sku} is in stock, so it cannot return")
        booked = self.cost_now(condition)
        self.trigger_event(
            self.UnitReturned,
            sku=self.sku,
            rma_id=rma_id,
            serial=serial,
            location=location,
            condition=condition,
            unit_cost=booked.unit_cost,
            currency=booked.currency,
        )

    def change_condition(
        self, *, rma_id: uuid.UUID, to_condition: str, reason: str, actor: str
    ) -> None:
        """Move a returned unit to another condition (to `new`: sellable again; a refurbished unit
        is sold as refurbished, never as new); a repeat of a move already made changes nothing."""
        unit = self.returns.get(str(rma_id))
        if unit is None:
            if to_condition == NEW:
                return  # already back in new stock
            raise DomainError(f"no returned {self.sku} is held under RMA {rma_id}")
        if unit.condition == to_condition:
            return
        if to_condition not in CONDITIONS:
            raise DomainError(f"{to_condition} is not a stock condition")
        if unit.condition == REFURBISHED and to_condition == NEW:
            raise DomainError(
                f"a refurbished {self.sku} is sold as refurbished, never as new (RMA {rma_id})"
            )
        if not reason.strip() or not actor.strip():
            raise DomainError("every stock change needs a reason and an actor")
        booked = self.cost_now()
        self.trigger_event(
            self.UnitConditionChanged,
            sku=self.sku,
            rma_id=rma_id,
            serial=unit.serial,
            location=unit.location,
            from_condition=unit.condition,
            to_condition=to_condition,
            reason=reason,
            actor=actor,
            unit_cost=booked.unit_cost,
            currency=booked.currency,
        )

    def publish_availability(self, channels: SalesChannels) -> None:
        """Tell each channel what it may sell now, when that differs from what it was told.

        New is what is available at every location (on hand less reserved); open-box is returned
        units graded B; refurbished is returned units refurbished. Reservations count at once, so a
        channel never sells a reserved unit; units in transit are available nowhere.
        """
        new = sum(max(0, self.available_at(location)) for location in self.locations)
        open_box = self.held_count(OPEN_BOX)
        refurbished = self.held_count(REFURBISHED)
        for availability in channels.availability(new, open_box, refurbished):
            if self.published.get(availability.channel) != availability:
                self.trigger_event(
                    self.AvailableToSellChanged, sku=self.sku, availability=availability
                )

    def reserve(
        self, *, order_id: uuid.UUID, line_number: int, location: str, quantity: int
    ) -> None:
        if quantity < 1:
            raise DomainError("a reservation needs at least one unit")
        if quantity > self.available_at(location):
            raise InsufficientStock(
                f"{self.sku} at {location}: {quantity} asked, {self.available_at(location)} available"
            )
        self.trigger_event(
            self.Reserved,
            sku=self.sku,
            order_id=order_id,
            line_number=line_number,
            location=location,
            quantity=quantity,
        )

    def release(
        self, *, order_id: uuid.UUID, line_number: int, location: str, quantity: int
    ) -> None:
        """Make units reserved for an order line available again."""
        if not 1 <= quantity <= self.reserved_at(location):
            raise DomainError(
                f"{self.sku} at {location}: cannot release {quantity}, "
                f"{self.reserved_at(location)} reserved"
            )
        self.trigger_event(
            self.ReservationReleased,
            sku=self.sku,
            order_id=order_id,
            line_number=line_number,
            location=location,
            quantity=quantity,
        )

    def put_away(self, receipt: Receipt) -> None:
        # Averaged over the units on the books before these arrive, so it comes first.
        self.average_cost = averaged(
            self.average_cost,
            self.valued_units,
            receipt.quantity,
            receipt.unit_cost,
            receipt.currency,
        )
        self.on_hand[receipt.location] = self.on_hand.get(receipt.location, 0) + receipt.quantity
        for serial in receipt.serials:
            self.serials[serial] = receipt.location

    def pack_serial(
        self, serial: str, location: str, shipment_id: uuid.UUID, order_id: uuid.UUID
    ) -> None:
        problem = self.problem_with_serial(serial, location, shipment_id)
        if problem is not None:
            raise DomainError(problem)
        if self.packed.get(serial) == shipment_id:
            return
        self.trigger_event(
            self.SerialPacked,
            sku=self.sku,
            serial=serial,
            location=location,
            shipment_id=shipment_id,
            order_id=order_id,
        )

    def ship(
        self,
        *,
        order_id: uuid.UUID,
        shipment_id: uuid.UUID,
        line_number: int,
        location: str,
        quantity: int,
        serials: tuple[str, ...],
    ) -> None:
        """Units reserved for an order line leave the location."""
        if not 1 <= quantity <= self.reserved_at(location):
            raise DomainError(
                f"{self.sku} at {location}: {quantity} shipped, {self.reserved_at(location)} reserved"
            )
        unknown = [serial for serial in serials if self.serials.get(serial) != location]
        if unknown:
            raise DomainError(
                f"{self.sku} serials not in stock at {location}: {', '.join(unknown)}"
            )
        booked = self.cost_now()
        self.trigger_event(
            self.Shipped,
            sku=self.sku,
            order_id=order_id,
            shipment_id=shipment_id,
            line_number=line_number,
            location=location,
            quantity=quantity,
            serials=serials,
            unit_cost=booked.unit_cost,
            currency=booked.currency,
        )


def _check_receipt(sku: str, receipt: Receipt, known: Mapping[str, str]) -> None:
    if receipt.quantity < 1:
        raise DomainError("a receipt needs at least one unit")
    if not receipt.reason.strip():
        raise DomainError("every stock change needs a reason")
    if not receipt.actor.strip():
        raise DomainError("every stock change needs an actor")
    if receipt.unit_cost is not None and not (receipt.currency or "").strip():
        raise DomainError("a unit cost needs a currency")
    if not receipt.serials:
        return
    if len(receipt.serials) != receipt.quantity:
        raise DomainError(
            f"{receipt.quantity} units need {receipt.quantity} serials, {len(receipt.serials)} given"
        )
    repeated = sorted({s for s in receipt.serials if receipt.serials.count(s) > 1})
    if repeated:
        raise DomainError(f"serials given twice in one receipt: {', '.join(repeated)}")
    already = sorted(serial for serial in receipt.serials if serial in known)
    if already:
        raise DomainError(
            f"{sku} serials already in stock: "
            + ", ".join(f"{serial} ({known[serial]})" for serial in already)
        )


def _check_backorder(quantity: int) -> None:
    if quantity < 1:
        raise DomainError("a backorder needs at least one unit")
