"""What a packer scans for a shipment: one serial per unit from the shelves, sometimes a wrong
one, and which of the scanned units a rejection blames."""

from __future__ import annotations

import re
from dataclasses import dataclass

import structlog

from contracts.threepl import ScannedUnit
from contracts.warehouse import FulfilmentRequested
from infra.simulators.shelves import Shelves

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ScanPlan:
    """What a packer scans for a shipment."""

    units: tuple[ScannedUnit, ...]
    missing: tuple[str, ...] = ()
    """Units the shelves had no serial for (scanned without one; Unitrail will refuse)."""
    mis_scanned: frozenset[str] = frozenset()
    """Serials scanned by mistake."""


def units_available(request: FulfilmentRequested, shelves: Shelves) -> bool:
    """The shelves show a serial for every serialized unit the shipment needs."""
    return all(
        len(shelves.free(line.sku, request.location, request.shipment_id)) >= line.quantity
        for line in request.lines
        if shelves.is_serialized(line.sku)
    )


def misread(serial: str, shelves: Shelves) -> str:
    """The serial with its last character misread, and not the serial of a real unit."""
    for replacement in "8B0D1I5S":
        candidate = serial[:-1] + replacement
        if candidate != serial and not shelves.knows(candidate):
            return candidate
    return f"{serial[:60]}-ERR"


def plan_scan(
    request: FulfilmentRequested,
    shelves: Shelves,
    *,
    mis_scan: bool = False,
    avoid: frozenset[str] = frozenset(),
) -> ScanPlan:
    """Take one serial per unit from the shelves at the shipment's location (units already picked
    for or packed into it first, then oldest first; never one another shipment holds or one in
    `avoid`). Unserialized products are scanned without a serial. With `mis_scan`, the first
    serialized unit is scanned wrong: a unit of another SKU on the same shelves, else a misread.
    A kit comes as one line per component, each under the kit's line number: picked and scanned
    like any other line.
    """
    units: list[ScannedUnit] = []
    missing: list[str] = []
    for line in request.lines:
        serials: list[str | None] = [None] * line.quantity
        if shelves.is_serialized(line.sku):
            found = shelves.pick(
                line.sku, request.location, line.quantity, request.shipment_id, avoid=avoid
            )
            serials[: len(found)] = found
            if len(found) < line.quantity:
                part_of = f" (of kit {line.kit_sku})" if line.kit_sku else ""
                missing.append(
                    f"line {line.line_number}: {line.quantity - len(found)} x {line.sku}"
                    f"{part_of} not on the shelves at {request.location}"
                )
        units.extend(
            ScannedUnit(line_number=line.line_number, sku=line.sku, serial=serial)
            for serial in serials
        )
    wrong: frozenset[str] = frozenset()
    if mis_scan:
        for index, unit in enumerate(units):
            if unit.serial is None:
                continue
            mistake = shelves.neighbour(unit.sku, request.location) or misread(unit.serial, shelves)
            units[index] = unit.model_copy(update={"serial": mistake})
            wrong = frozenset({mistake})
            break
    return ScanPlan(units=tuple(units), missing=tuple(missing), mis_scanned=wrong)


def serials_blamed(problems: list[str], scanned: tuple[ScannedUnit, ...]) -> frozenset[str]:
    """The scanned serials Unitrail's problems name: the packer sets those units aside."""
    return frozenset(
        unit.serial
        for unit in scanned
        if unit.serial is not None
        and any(f"serial {unit.serial} " in problem for problem in problems)
    )


SERIAL_NOT_SCANNED = re.compile(r"(\S+) units carry serials; one was not scanned")
"""Inventory's problem with a unit of a serialized product scanned without its serial."""


def skus_needing_serials(problems: list[str]) -> frozenset[str]:
    """The SKUs Unitrail's problems say carry serials the scan left out."""
    return frozenset(
        match[1] for problem in problems if (match := SERIAL_NOT_SCANNED.search(problem))
    )
