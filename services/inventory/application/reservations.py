"""Reservations for paid orders that never oversell, routed by shipping cost; pack scans checked
against them; shipments taken out of them."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence

from eventsourcing.application import AggregateNotFoundError

from services.inventory import projections, translators
from services.inventory.application.core import InventoryCore
from services.inventory.domain import (
    KitBackorders,
    RequestedLine,
    Reservation,
    ReservedLine,
    ScannedUnit,
    SerialCheck,
    ShippingCost,
    SkuStock,
    component_units,
    no_shipping_cost,
    plan_reservation,
    reservation_id_for,
    serial_check_id_for,
)
from services.runtime import product_facts
from services.runtime.aggregate import DomainError


class Reservations(InventoryCore):
    """Reserving for paid orders, releasing, checking pack scans, shipping."""

    def get_rate_card(self) -> str | None:
        """The rate card orders are routed with (shipping's published JSON), if one arrived."""
        rows = self.query(projections.THE_RATE_CARD, 1)
        return str(rows[0]["card"]) if rows else None

    def _shipping_cost(self, country: str | None, skus: Iterable[str]) -> ShippingCost:
        """The cost estimate of shipping's rate card to `country`; flat without one."""
        cards = self.query(projections.THE_RATE_CARD, 1) if country else []
        if not cards or country is None:
            return no_shipping_cost
        facts = product_facts.facts_of(self.query, skus)
        return translators.shipping_cost(cards[0]["card"], country, facts)

    def reserve_for_order(
        self,
        order_id: uuid.UUID,
        lines: Sequence[RequestedLine],
        destination_country: str | None = None,
    ) -> uuid.UUID:
        """Reserve a paid order's lines as far as stock allows; decided once per order.

        With a destination, the location that ships the order cheapest (by shipping's rate card)
        is preferred among those that have everything; see `plan_reservation`.
        """
        reservation_id = reservation_id_for(order_id)
        if self._exists(reservation_id):
            return reservation_id
        kits = self._kits({line.sku for line in lines})
        skus = {sku for line in lines for sku in kits.get(line.sku) or (line.sku,)}
        stocks = {sku: self._stock(sku) for sku in skus}
        available = {
            sku: {location: stock.available_at(location) for location in stock.locations}
            for sku, stock in stocks.items()
            if stock is not None
        }
        shipping_cost = self._shipping_cost(destination_country, {line.sku for line in lines})
        planned = plan_reservation(lines, available, shipping_cost, kits)
        owed_kits: dict[str, KitBackorders] = {}
        for line in planned:
            if line.components:
                self._reserve_kits(order_id, line, stocks)
                if line.quantity_short:
                    owed_kits[line.sku] = self._owe_kits(order_id, line, owed_kits.get(line.sku))
                continue
            stock = stocks[line.sku]
            for allocation in line.allocations:
                assert stock is not None
                stock.reserve(
                    order_id=order_id,
                    line_number=line.line_number,
                    location=allocation.location,
                    quantity=allocation.quantity,
                )
            if line.quantity_short and stock is None:
                stocks[line.sku] = SkuStock.backorder_first(
                    sku=line.sku,
                    order_id=order_id,
                    line_number=line.line_number,
                    quantity=line.quantity_short,
                )
            elif line.quantity_short and stock is not None:
                stock.backorder(
                    order_id=order_id, line_number=line.line_number, quantity=line.quantity_short
                )
        reservation = Reservation.decide(order_id, planned)
        self.save(
            reservation,
            *owed_kits.values(),
            *(stock for stock in stocks.values() if stock is not None),
        )
        return reservation.id

    def _reserve_kits(
        self,
        order_id: uuid.UUID,
        line: ReservedLine,
        stocks: Mapping[str, SkuStock | None],
    ) -> None:
        """Reserve the components of a kit line's whole kits, under the kit's order line."""
        for stock, location, units in _kit_components(line, stocks):
            stock.reserve(
                order_id=order_id, line_number=line.line_number, location=location, quantity=units
            )

    def _owe_kits(
        self, order_id: uuid.UUID, line: ReservedLine, owed: KitBackorders | None
    ) -> KitBackorders:
        """Owe a kit line's missing kits whole (see `services.inventory.domain.kits`)."""
        owed = owed or self._owed_kits(line.sku)
        if owed is None:
            return KitBackorders.owe_first(
                sku=line.sku,
                order_id=order_id,
                line_number=line.line_number,
                quantity=line.quantity_short,
            )
        owed.owe(order_id=order_id, line_number=line.line_number, quantity=line.quantity_short)
        return owed

    def release_for_order(self, order_id: uuid.UUID, reason: str) -> uuid.UUID | None:
        """Make everything reserved for the order available again; once, however often asked.

        None when nothing was ever reserved for it (cancelled before it was paid).
        """
        try:
            reservation: Reservation = self.get(reservation_id_for(order_id), Reservation)
        except AggregateNotFoundError:
            return None
        if not reservation.release(reason):
            return reservation.id
        stocks = {
            sku: self._stock(sku) for line in reservation.lines for sku in line.kit or (line.sku,)
        }
        owed_kits: dict[str, KitBackorders] = {}
        for line in reservation.lines:
            if line.components:
                if line.quantity_short:
                    owed = owed_kits.get(line.sku) or self._owed_kits(line.sku)
                    assert owed is not None, f"line {line.line_number} is short, so kits are owed"
                    owed.withdraw(order_id=order_id, line_number=line.line_number)
                    owed_kits[line.sku] = owed
                for component, location, units in _kit_components(line, stocks):
                    component.release(
                        order_id=order_id,
                        line_number=line.line_number,
                        location=location,
                        quantity=units,
                    )
                continue
            stock = stocks[line.sku]
            assert stock is not None, f"{line.sku} was reserved or backordered, so its stock exists"
            if line.quantity_short:
                stock.withdraw_backorder(order_id=order_id, line_number=line.line_number)
            for allocation in line.allocations:
                stock.release(
                    order_id=order_id,
                    line_number=line.line_number,
                    location=allocation.location,
                    quantity=allocation.quantity,
                )
        self.save(
            reservation,
            *owed_kits.values(),
            *(stock for stock in stocks.values() if stock is not None),
        )
        return reservation.id

    def check_pack_scan(
        self,
        *,
        shipment_id: uuid.UUID,
        order_id: uuid.UUID,
        location: str,
        scan: int,
        units: Sequence[ScannedUnit],
    ) -> uuid.UUID:
        """Decide whether the scanned units may ship in this parcel; once per scan.

        A serial passes when it is a unit of that SKU in stock at that location, not shipped and
        not packed in another parcel. Passing serials are marked packed, so no other parcel can
        take them.
        """
        check_id = serial_check_id_for(shipment_id, scan)
        if self._exists(check_id):
            return check_id
        stocks = {sku: self._stock(sku) for sku in {unit.sku for unit in units}}
        problems = []
        for unit in units:
            stock = stocks[unit.sku]
            if stock is None:
                if unit.serial is not None:
                    problems.append(f"serial {unit.serial} is not a {unit.sku} in stock")
                continue
            problem = stock.problem_with_serial(unit.serial, location, shipment_id)
            if problem is not None:
                problems.append(f"line {unit.line_number}: {problem}")
        check = SerialCheck.decide(
            shipment_id=shipment_id, order_id=order_id, scan=scan, problems=tuple(problems)
        )
        if problems:
            self.save(check)
            return check.id
        for unit in units:
            stock = stocks[unit.sku]
            if stock is not None and unit.serial is not None:
                stock.pack_serial(unit.serial, location, shipment_id, order_id)
        self.save(check, *(stock for stock in stocks.values() if stock is not None))
        return check.id

    def ship(
        self,
        *,
        order_id: uuid.UUID,
        shipment_id: uuid.UUID,
        location: str,
        units: Sequence[ScannedUnit],
    ) -> None:
        """A parcel left: its units leave on hand and the order's reservation, serial by serial."""
        by_line: dict[tuple[str, int], list[str | None]] = {}
        for unit in units:
            by_line.setdefault((unit.sku, unit.line_number), []).append(unit.serial)
        stocks = {sku: self._stock(sku) for sku, _ in by_line}
        for (sku, line_number), serials in sorted(by_line.items()):
            stock = stocks[sku]
            if stock is None:
                raise DomainError(f"{sku} has no stock, so none of it can ship")
            stock.ship(
                order_id=order_id,
                shipment_id=shipment_id,
                line_number=line_number,
                location=location,
                quantity=len(serials),
                serials=tuple(serial for serial in serials if serial is not None),
            )
        self.save(*(stock for stock in stocks.values() if stock is not None))


def _kit_components(
    line: ReservedLine, stocks: Mapping[str, SkuStock | None]
) -> Iterator[tuple[SkuStock, str, int]]:
    """Each component's stock, location and units of a kit line's allocated kits."""
    for allocation in line.allocations:
        for sku, units in component_units(line.kit, allocation.quantity).items():
            stock = stocks[sku]
            assert stock is not None, f"{sku} is in reserved kits, so its stock exists"
            yield stock, allocation.location, units
