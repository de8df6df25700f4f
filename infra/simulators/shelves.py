"""What a 3PL's warehouse management system knows about its shelves: which serialized unit sits
where. Pure: no I/O.

The simulated 3PL learns it from inventory's public events, as a real WMS learns it from its own
receiving dock: units arrive (`StockReceived` with serials, `StockTransferredIn`), are put in a
parcel (`StockSerialPacked`), and leave (`StockShipped`, `StockTransferredOut`, `StockAdjusted`
decreases). Units without serials are not tracked one by one: their SKUs are
scanned with no serial.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass


class UnitState(enum.Enum):
    ON_SHELF = "on-shelf"
    PACKED = "packed"
    SHIPPED = "shipped"


@dataclass
class Unit:
    """One serialized unit as the WMS sees it."""

    serial: str
    sku: str
    location: str
    state: UnitState = UnitState.ON_SHELF
    parcel: uuid.UUID | None = None
    """The shipment it was packed into (inventory's word) or picked for (our own)."""


class Shelves:
    """Serialized units by location, first in first out, and who took which."""

    def __init__(self) -> None:
        # Insertion order is receipt order, so picking the first free unit is FIFO.
        self._units: dict[str, Unit] = {}
        # Every unit ever received stays in `_units` (a return is recognised by its serial), so
        # what a pick or a pack scan asks is kept apart, not found by walking the whole history:
        # the units in the building by shelf (SKU and location, in receipt order), and how many
        # units inventory packed into each parcel not yet shipped.
        self._shelves: dict[tuple[str, str], dict[str, Unit]] = {}
        self._packed_per_parcel: dict[uuid.UUID, int] = {}
        self._serialized: set[str] = set()
        self._picked: dict[str, uuid.UUID] = {}
        self._shipped_parcels: set[uuid.UUID] = set()
        self.changes = 0
        """Grows with every change; waiters compare it to know whether to look again."""

    # -- what inventory reports ---------------------------------------------------------------

    def received(self, sku: str, location: str, serials: list[str]) -> None:
        """Units arrived at `location`; a serial seen before is on the shelf again (a return)."""
        if not serials:
            return
        self._serialized.add(sku)
        for serial in serials:
            self._forget(serial)  # re-inserted at the end: the newest unit on the shelf
            self._add(Unit(serial=serial, sku=sku, location=location))
        self.changes += 1

    def carries_serials(self, sku: str) -> None:
        """Inventory said units of `sku` carry serials (it refused a pack scan without one)
        before the shelves saw any of them: pickers wait for the units to show up."""
        self._serialized.add(sku)
        self.changes += 1

    def packed(self, serial: str, sku: str, location: str, shipment_id: uuid.UUID) -> None:
        """Inventory accepted the unit into a parcel: no other parcel may take it."""
        self._serialized.add(sku)
        unit = self._units.get(serial)
        if unit is None:
            unit = self._add(Unit(serial=serial, sku=sku, location=location))
        if unit.state is not UnitState.SHIPPED:
            self._unpack(unit)
            unit.state, unit.parcel = UnitState.PACKED, shipment_id
            self._packed_per_parcel[shipment_id] = self._packed_per_parcel.get(shipment_id, 0) + 1
        self.changes += 1

    def shipped(self, sku: str, serials: list[str]) -> None:
        """The units left the building."""
        for serial in serials:
            self._serialized.add(sku)
            unit = self._units.get(serial)
            if unit is not None and unit.state is not UnitState.SHIPPED:
                self._unpack(unit)
                self._shelves[unit.sku, unit.location].pop(serial, None)
                unit.state = UnitState.SHIPPED
                if unit.parcel is not None:
                    self._shipped_parcels.add(unit.parcel)
            self._picked.pop(serial, None)
        self.changes += 1

    def left(self, serials: list[str]) -> None:
        """The units left their shelves for good: sent to another warehouse, written off."""
        for serial in serials:
            self._forget(serial)
            self._picked.pop(serial, None)
        self.changes += 1

    def _add(self, unit: Unit) -> Unit:
        self._units[unit.serial] = unit
        self._shelves.setdefault((unit.sku, unit.location), {})[unit.serial] = unit
        return unit

    def _forget(self, serial: str) -> None:
        unit = self._units.pop(serial, None)
        if unit is not None:
            self._unpack(unit)
            self._shelves.get((unit.sku, unit.location), {}).pop(serial, None)

    def _unpack(self, unit: Unit) -> None:
        """The unit is no longer counted in its parcel (before it changes state or leaves)."""
        if unit.state is UnitState.PACKED and unit.parcel is not None:
            left = self._packed_per_parcel[unit.parcel] - 1
            if left:
                self._packed_per_parcel[unit.parcel] = left
            else:
                del self._packed_per_parcel[unit.parcel]

    def in_building(self, location: str) -> dict[str, list[str]]:
        """Serials of the units at `location` that have not left (on the shelf or packed), by
        SKU: what a cycle count finds."""
        found: dict[str, list[str]] = {}
        for unit in self._units.values():
            if unit.location == location and unit.state is not UnitState.SHIPPED:
                found.setdefault(unit.sku, []).append(unit.serial)
        return found

    def locations(self) -> set[str]:
        """Every location with a unit the WMS has seen."""
        return {unit.location for unit in self._units.values()}

    # -- what the pickers do ------------------------------------------------------------------

    def is_serialized(self, sku: str) -> bool:
        """Units of `sku` carry serials to scan (the same rule inventory applies: they were
        received with serials)."""
        return sku in self._serialized

    def free(self, sku: str, location: str, shipment_id: uuid.UUID) -> list[str]:
        """Serials `shipment_id` may take, units already in or picked for it first, then FIFO."""
        mine: list[str] = []
        others: list[str] = []
        for unit in self._shelves.get((sku, location), {}).values():
            holder = (
                unit.parcel if unit.state is UnitState.PACKED else self._picked.get(unit.serial)
            )
            if holder == shipment_id:
                mine.append(unit.serial)
            elif holder is None:
                others.append(unit.serial)
        return mine + others

    def pick(
        self,
        sku: str,
        location: str,
        count: int,
        shipment_id: uuid.UUID,
        *,
        avoid: frozenset[str] = frozenset(),
    ) -> list[str]:
        """Take up to `count` serials for the shipment (fewer when the shelf has fewer); never
        one another shipment holds, never one in `avoid`."""
        chosen = [serial for serial in self.free(sku, location, shipment_id) if serial not in avoid]
        chosen = chosen[:count]
        for serial in chosen:
            self._picked[serial] = shipment_id
        return chosen

    def put_back(self, shipment_id: uuid.UUID, serials: frozenset[str] | None = None) -> None:
        """The shipment no longer holds these units (all of them when `serials` is None)."""
        for serial, holder in list(self._picked.items()):
            if holder == shipment_id and (serials is None or serial in serials):
                del self._picked[serial]
        self.changes += 1

    def neighbour(self, sku: str, location: str) -> str | None:
        """A free unit of another SKU on the same shelves: what a hurried packer scans by
        mistake."""
        for unit in self._units.values():
            if (
                unit.sku != sku
                and unit.location == location
                and unit.state is UnitState.ON_SHELF
                and unit.serial not in self._picked
            ):
                return unit.serial
        return None

    def knows(self, serial: str) -> bool:
        """The serial is a unit the WMS has seen."""
        return serial in self._units

    def shipped_in(self, shipment_id: uuid.UUID) -> bool:
        """Units inventory packed into this parcel have left the building: the parcel shipped."""
        return shipment_id in self._shipped_parcels

    def packed_into(self, shipment_id: uuid.UUID) -> bool:
        """Inventory already accepted units into this parcel (its box is sealed)."""
        return shipment_id in self._packed_per_parcel
