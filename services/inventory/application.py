"""Inventory use cases: load → decide → save. They return ids, not aggregates."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from services.inventory import translators
from services.inventory.domain import (
    Backorder,
    BackorderFill,
    ChannelAvailability,
    LocationQuantity,
    Receipt,
    RequestedLine,
    Reservation,
    ReservedLine,
    ReturnedUnit,
    SalesChannels,
    ScannedUnit,
    SerialCheck,
    ShippingCost,
    SkuStock,
    no_shipping_cost,
    plan_reservation,
    reservation_id_for,
    serial_check_id_for,
    stock_id_for,
)
from services.runtime.aggregate import DomainError
from services.runtime.database import PostgresLocation
from services.runtime.eventstore import ServiceApplication


@dataclass(frozen=True)
class StockLevel:
    """Units of a SKU at one location."""

    location: str
    on_hand: int
    reserved: int
    available: int
    serials_in_stock: int
    held: dict[str, int]
    """Returned units per condition other than new: never available as new."""


class InventoryApplication(ServiceApplication):
    """Stock per SKU and location; reservations for paid orders that never oversell."""

    value_objects = (
        LocationQuantity,
        ReservedLine,
        Receipt,
        Backorder,
        ReturnedUnit,
        ChannelAvailability,
    )
    read_model_tables = (
        "CREATE TABLE IF NOT EXISTS product_facts ("
        " sku text PRIMARY KEY, weight_grams integer NOT NULL, lithium_ion boolean NOT NULL)",
        "CREATE TABLE IF NOT EXISTS rate_card ("
        " id integer PRIMARY KEY CHECK (id = 1), card text NOT NULL)",
    )

    def __init__(
        self, location: PostgresLocation | None, sales_channels: SalesChannels | None = None
    ) -> None:
        super().__init__(location)
        self.sales_channels = sales_channels or SalesChannels()

    def save(self, *objects: Any, **kwargs: Any) -> Any:
        """Save; every stock saved tells the channels what they may sell now, in the same
        transaction as the change that caused it."""
        for stock in objects:
            if isinstance(stock, SkuStock):
                stock.publish_availability(self.sales_channels)
        return super().save(*objects, **kwargs)

    def record_product_facts(self, sku: str, weight_grams: int, lithium_ion: bool) -> None:
        """Keep the PIM's facts that decide what a parcel costs: weight, and whether it may fly."""
        self.save(
            read_model_changes=[
                (
                    "INSERT INTO product_facts (sku, weight_grams, lithium_ion) VALUES (%s, %s, %s)"
                    " ON CONFLICT (sku) DO UPDATE SET weight_grams = excluded.weight_grams,"
                    " lithium_ion = excluded.lithium_ion",
                    (sku, weight_grams, lithium_ion),
                )
            ]
        )

    def record_rate_card(self, card: str) -> None:
        """Keep shipping's latest rate card (its published JSON), to route orders by cost."""
        self.save(
            read_model_changes=[
                (
                    "INSERT INTO rate_card (id, card) VALUES (1, %s)"
                    " ON CONFLICT (id) DO UPDATE SET card = excluded.card",
                    (card,),
                )
            ]
        )

    def get_rate_card(self) -> str | None:
        """The rate card orders are routed with (shipping's published JSON), if one arrived."""
        rows = self.read("SELECT card FROM rate_card WHERE id = 1")
        return str(rows[0]["card"]) if rows else None

    def _shipping_cost(self, country: str | None, skus: Iterable[str]) -> ShippingCost:
        """The cost estimate of shipping's rate card to `country`; flat without one."""
        cards = self.read("SELECT card FROM rate_card WHERE id = 1") if country else []
        if not cards or country is None:
            return no_shipping_cost
        facts = {
            row["sku"]: (row["weight_grams"], row["lithium_ion"])
            for row in self.read(
                "SELECT sku, weight_grams, lithium_ion FROM product_facts WHERE sku = ANY(%s)",
                sorted(set(skus)),
            )
        }
        return translators.shipping_cost(cards[0]["card"], country, facts)

    snapshotting_intervals = {SkuStock: 50}

    def receive_stock(self, sku: str, receipt: Receipt) -> uuid.UUID:
        """Put received units into stock at a location, with the reason and who did it.

        Units owed to backordered order lines are reserved for them at once, oldest first, in
        the same transaction: a receipt never makes units available that an order is waiting for.
        """
        stock = self._stock(sku)
        if stock is None:
            stock = SkuStock.receive_first(sku=sku, receipt=receipt)
        else:
            stock.receive(receipt)
        reservations = self._record_fills(stock.fill_backorders())
        self.save(stock, *reservations)
        return stock.id

    def take_back_return(
        self, *, sku: str, rma_id: uuid.UUID, serial: str | None, location: str, condition: str
    ) -> uuid.UUID:
        """A returned unit re-enters stock in the condition its grade gave it; never as new."""
        stock = self._stock(sku)
        if stock is None:
            raise DomainError(f"{sku} was never in stock, so no unit of it can return")
        stock.take_back(rma_id=rma_id, serial=serial, location=location, condition=condition)
        self.save(stock)
        return stock.id

    def sign_off_return(self, *, sku: str, rma_id: uuid.UUID, technician: str) -> uuid.UUID:
        """A technician signed off a returned unit as new: it is sellable again, and serves
        waiting backorders first."""
        stock = self._stock(sku)
        if stock is None:
            raise DomainError(f"{sku} was never in stock, so no unit of it can return")
        stock.change_condition(
            rma_id=rma_id, to_condition="new", reason="grade A signed off", actor=technician
        )
        reservations = self._record_fills(stock.fill_backorders())
        self.save(stock, *reservations)
        return stock.id

    def _record_fills(self, fills: Sequence[BackorderFill]) -> list[Reservation]:
        by_order: dict[uuid.UUID, dict[int, tuple[LocationQuantity, ...]]] = {}
        for fill in fills:
            by_order.setdefault(fill.order_id, {})[fill.line_number] = fill.allocations
        reservations = []
        for order_id, lines in by_order.items():
            reservation: Reservation = self.get(reservation_id_for(order_id), Reservation)
            reservation.fill(lines)
            reservations.append(reservation)
        return reservations

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
        stocks = {sku: self._stock(sku) for sku in {line.sku for line in lines}}
        available = {
            sku: {location: stock.available_at(location) for location in stock.locations}
            for sku, stock in stocks.items()
            if stock is not None
        }
        shipping_cost = self._shipping_cost(destination_country, stocks)
        planned = plan_reservation(lines, available, shipping_cost)
        for line in planned:
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
        self.save(reservation, *(stock for stock in stocks.values() if stock is not None))
        return reservation.id

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
        stocks = {line.sku: self._stock(line.sku) for line in reservation.lines}
        for line in reservation.lines:
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
        self.save(reservation, *(stock for stock in stocks.values() if stock is not None))
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

    def get_stock_levels(self, sku: str) -> list[StockLevel]:
        """Units on hand, reserved and available per location (empty for an unknown SKU)."""
        stock = self._stock(sku)
        if stock is None:
            return []
        return [
            StockLevel(
                location=location,
                on_hand=stock.on_hand_at(location),
                reserved=stock.reserved_at(location),
                available=stock.available_at(location),
                serials_in_stock=len(stock.serials_at(location)),
                held=stock.held_in(location),
            )
            for location in stock.locations
        ]

    def get_backorders(self, sku: str) -> list[Backorder]:
        """Units of the SKU owed to order lines, oldest first."""
        stock = self._stock(sku)
        return [] if stock is None else list(stock.backorders)

    def _stock(self, sku: str) -> SkuStock | None:
        try:
            stock: SkuStock = self.get(stock_id_for(sku), SkuStock)
        except AggregateNotFoundError:
            return None
        return stock

    def _exists(self, aggregate_id: uuid.UUID) -> bool:
        try:
            self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True
