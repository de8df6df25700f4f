"""Kits (bundles) ordered: reserved whole, by their components, and owed whole when short.

Pure: no I/O. A kit has no stock of its own (`bundles.py`): an order line for a kit reserves each
component, `quantity per kit` times the kits, and every kit comes from one location, so a warehouse never
waits for a kit's parts from elsewhere. Kits that no location can make whole are owed to the line
here, never as component backorders: components arriving one by one would otherwise be taken by the
line piecemeal and held while the rest is missing. Owed kits are served first come, first served as
soon as one location has whole kits.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Self

from services.inventory.domain.holdings import Backorder
from services.inventory.domain.reservation import Components, LocationQuantity, take_kits
from services.runtime.aggregate import Aggregate, DomainError

KIT_BACKORDERS_NAMESPACE = uuid.UUID("5b0e2c71-93d4-4f6a-8e2b-1c7a9d3f6e58")


def kit_backorders_id_for(kit_sku: str) -> uuid.UUID:
    return uuid.uuid5(KIT_BACKORDERS_NAMESPACE, kit_sku)


class KitBackorders(Aggregate):
    """The whole kits of one kit SKU owed to order lines, oldest first (id from the kit's SKU)."""

    class FirstOwed(Aggregate.Created):
        sku: str
        order_id: uuid.UUID
        line_number: int
        quantity: int

        def apply(self, kits: KitBackorders) -> None:
            kits.sku = self.sku
            kits.owed = [Backorder(self.order_id, self.line_number, self.quantity)]

    class Owed(Aggregate.Event):
        sku: str
        order_id: uuid.UUID
        line_number: int
        quantity: int

        def apply(self, kits: KitBackorders) -> None:
            kits.owed.append(Backorder(self.order_id, self.line_number, self.quantity))

    class Reserved(Aggregate.Event):
        """Whole kits were reserved at one location for a line that waited for them."""

        sku: str
        order_id: uuid.UUID
        line_number: int
        location: str
        quantity: int

        def apply(self, kits: KitBackorders) -> None:
            kits.reduce(self.order_id, self.line_number, self.quantity)

    class Withdrawn(Aggregate.Event):
        sku: str
        order_id: uuid.UUID
        line_number: int
        quantity: int

        def apply(self, kits: KitBackorders) -> None:
            kits.reduce(self.order_id, self.line_number, self.quantity)

    if TYPE_CHECKING:
        sku: str
        owed: list[Backorder]

    @classmethod
    def owe_first(cls, *, sku: str, order_id: uuid.UUID, line_number: int, quantity: int) -> Self:
        _check_kits(quantity)
        return cls._create(
            cls.FirstOwed,
            id=kit_backorders_id_for(sku),
            sku=sku,
            order_id=order_id,
            line_number=line_number,
            quantity=quantity,
        )

    def owe(self, *, order_id: uuid.UUID, line_number: int, quantity: int) -> None:
        _check_kits(quantity)
        self.trigger_event(
            self.Owed, sku=self.sku, order_id=order_id, line_number=line_number, quantity=quantity
        )

    def fill(
        self, components: Components, available: dict[str, dict[str, int]]
    ) -> dict[tuple[uuid.UUID, int], tuple[LocationQuantity, ...]]:
        """Reserve whole kits for the oldest lines first, each kit at one location; what each
        (order, line) got. A line takes the whole kits there are and keeps its place for the rest.
        `available` is decremented by the components taken."""
        filled = {}
        for owed in list(self.owed):
            taken = take_kits(components, available, owed.quantity)
            for item in taken:
                self.trigger_event(
                    self.Reserved,
                    sku=self.sku,
                    order_id=owed.order_id,
                    line_number=owed.line_number,
                    location=item.location,
                    quantity=item.quantity,
                )
            if taken:
                filled[(owed.order_id, owed.line_number)] = taken
        return filled

    def withdraw(self, *, order_id: uuid.UUID, line_number: int) -> None:
        """Stop owing kits to an order line; nothing to do when none are owed."""
        for owed in self.owed:
            if (owed.order_id, owed.line_number) == (order_id, line_number):
                self.trigger_event(
                    self.Withdrawn,
                    sku=self.sku,
                    order_id=order_id,
                    line_number=line_number,
                    quantity=owed.quantity,
                )
                return

    def reduce(self, order_id: uuid.UUID, line_number: int, quantity: int) -> None:
        for index, owed in enumerate(self.owed):
            if (owed.order_id, owed.line_number) == (order_id, line_number):
                rest = owed.quantity - quantity
                if rest > 0:
                    self.owed[index] = Backorder(order_id, line_number, rest)
                else:
                    del self.owed[index]
                return


def _check_kits(quantity: int) -> None:
    if quantity < 1:
        raise DomainError("a kit backorder needs at least one kit")
