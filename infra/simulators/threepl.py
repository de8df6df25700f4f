"""The simulated 3PL that ships with Unitrail, a `ThreePL` (`infra.simulators.threepl_bridge`).

A warehouse that picks, packs and ships by itself after configurable delays
(`infra.simulators.threepl_settings`), scanning the serials its shelves really hold (learned from
inventory's events, `infra.simulators.shelves`), sometimes the wrong one first
(`infra.simulators.packing`); that counts its shelves now and then; and receives the goods
suppliers send and the transfers from other locations at its dock (`infra.simulators.receiving`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import structlog

from contracts.threepl import (
    CycleCount,
    PackConfirmation,
    PickConfirmation,
    ScannedUnit,
    ShelfDamage,
    ShipConfirmation,
)
from contracts.warehouse import (
    FulfilmentCancelled,
    FulfilmentLabelled,
    FulfilmentRequested,
    GoodsReceiptRejected,
    InboundCancelled,
    InboundExpected,
    PackScanRejected,
    ShipmentConfirmed,
    TransferRequested,
)
from infra.simulators.floor import Floor, jittered, now
from infra.simulators.kafka import RecentIds
from infra.simulators.packing import (
    plan_scan,
    serials_blamed,
    skus_needing_serials,
    units_available,
)
from infra.simulators.receiving import Dock
from infra.simulators.shelves import Shelves
from infra.simulators.threepl_bridge import Publish, ShipmentConfirmation
from infra.simulators.threepl_settings import SimulatedThreePLSettings

log = structlog.get_logger(__name__)


@dataclass
class _Shipment:
    request: FulfilmentRequested
    rng: random.Random
    scans: int = 0
    units: tuple[ScannedUnit, ...] = ()
    awaiting_verdict: bool = False
    avoid: frozenset[str] = frozenset()
    label: FulfilmentLabelled | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)
    """Its work, oldest first; each piece starts when the one before is done."""


class SimulatedThreePL:
    """A warehouse that works by itself: it picks, packs (scanning real serials) and ships after
    configurable delays, with the mistakes of a real floor at configurable rates."""

    def __init__(
        self,
        settings: SimulatedThreePLSettings,
        shelves: Shelves,
        *,
        ready: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.shelves = shelves
        self.ready = ready
        """Set when the shelves are up to date; `start` waits for it (None: they already are)."""
        self._publish: Publish | None = None
        self._shipments: dict[uuid.UUID, _Shipment] = {}
        self._known = RecentIds()
        self.floor = Floor()
        self.dock = Dock(settings, self.floor, self._known)
        self._shelves_changed = asyncio.Event()
        self._counting: asyncio.Task[None] | None = None
        self._rng = random.Random(settings.seed)

    # -- ThreePL ------------------------------------------------------------------------------

    async def start(self, publish: Publish) -> None:
        """Wait until the shelves are known: a packer scans what the WMS shows."""
        self._publish = publish
        self.dock.publish = publish
        if self.ready is not None:
            await self.ready.wait()
        log.info("simulated 3PL ready", locations=self.settings.locations or "all")
        if self.settings.cycle_count_interval > 0:
            self._counting = asyncio.get_running_loop().create_task(self._count_every_so_often())

    async def stop(self) -> None:
        """Abandon the work in progress; the bridge asks again after a restart."""
        if self._counting is not None:
            self._counting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._counting
        await self.floor.stop()

    async def fulfilment_requested(self, request: FulfilmentRequested) -> None:
        """Start picking; a request already known, closed, or for another location is ignored."""
        served = self.settings.served_locations
        if served is not None and request.location not in served:
            return
        if not self._known.add(request.shipment_id):
            return  # a repeat, or a shipment already closed
        shipment = _Shipment(
            request=request, rng=random.Random(f"{self.settings.seed}:{request.shipment_id}")
        )
        self._shipments[request.shipment_id] = shipment
        log.debug(
            "fulfilment received",
            shipment_id=str(request.shipment_id),
            location=request.location,
            units=sum(line.quantity for line in request.lines),
        )
        self.floor.then(shipment, self._pick_and_pack(shipment))

    async def pack_scan_rejected(self, rejection: PackScanRejected) -> None:
        """Set aside the units the problems name (and any scanned by mistake); scan again."""
        shipment = self._shipments.get(rejection.shipment_id)
        if shipment is None or not shipment.awaiting_verdict:
            return  # not ours, or a verdict already acted on
        shipment.awaiting_verdict = False
        blamed = serials_blamed(rejection.problems, shipment.units)
        shipment.avoid |= blamed
        self.shelves.put_back(rejection.shipment_id, blamed)
        # Units scanned without a serial their product carries: the shelves had not yet learned
        # of them (inventory's events may trail its verdict); the rescan waits for them.
        for sku in skus_needing_serials(rejection.problems):
            self.shelves.carries_serials(sku)
        if shipment.scans >= self.settings.max_scans:
            log.error(
                "pack scan rejected again; a person must look at this shipment",
                shipment_id=str(rejection.shipment_id),
                scans=shipment.scans,
                problems=rejection.problems,
            )
            return
        log.info(
            "pack scan rejected; scanning again",
            shipment_id=str(rejection.shipment_id),
            problems=rejection.problems,
        )
        self.floor.then(shipment, self._rescan(shipment))

    async def fulfilment_labelled(self, label: FulfilmentLabelled) -> None:
        """Print the label and hand the parcel over once the work before it is done."""
        shipment = self._shipments.get(label.shipment_id)
        if shipment is None or shipment.label is not None:
            return
        shipment.label = label
        self.floor.then(shipment, self._ship(shipment, label))

    async def fulfilment_cancelled(self, cancellation: FulfilmentCancelled) -> None:
        """Stop work on the shipment and put its units back on the shelves."""
        self._known.add(cancellation.shipment_id)
        shipment = self._shipments.pop(cancellation.shipment_id, None)
        if shipment is None:
            return
        for task in shipment.tasks:
            task.cancel()
        self.shelves.put_back(cancellation.shipment_id)
        log.info(
            "fulfilment cancelled; units back on the shelves",
            shipment_id=str(cancellation.shipment_id),
        )

    async def shipment_confirmed(self, shipment: ShipmentConfirmed) -> None:
        """The parcel is gone; forget it and stop any work still under way on it (its units leave
        the shelves with `StockShipped`)."""
        self._forget(shipment.shipment_id)

    def _forget(self, shipment_id: uuid.UUID) -> None:
        self._known.add(shipment_id)
        gone = self._shipments.pop(shipment_id, None)
        for task in gone.tasks if gone is not None else ():
            if task is not asyncio.current_task():
                task.cancel()

    # Goods in are the dock's (`infra.simulators.receiving`).

    async def inbound_expected(self, expected: InboundExpected) -> None:
        await self.dock.inbound_expected(expected)

    async def inbound_cancelled(self, cancellation: InboundCancelled) -> None:
        await self.dock.inbound_cancelled(cancellation)

    async def goods_receipt_rejected(self, rejection: GoodsReceiptRejected) -> None:
        await self.dock.goods_receipt_rejected(rejection)

    async def transfer_requested(self, request: TransferRequested) -> None:
        await self.dock.transfer_requested(request)

    async def count_shelves(self) -> None:
        """Count the serialized units at every location it operates, one report per SKU; units
        found damaged (at `damage_rate`) are reported as such and not counted."""
        assert self._publish is not None, "start() first"
        served = self.settings.served_locations
        for location in sorted(served if served is not None else self.shelves.locations()):
            for sku, serials in sorted(self.shelves.in_building(location).items()):
                damaged = [s for s in serials if self._rng.random() < self.settings.damage_rate]
                if damaged:
                    await self._publish(
                        ShelfDamage(
                            type="damage_found",
                            report_id=f"SIM-D-{self._rng.getrandbits(48):012X}",
                            location=location,
                            sku=sku,
                            quantity=len(damaged),
                            serials=damaged,
                            note="found damaged in a cycle count",
                            at=now(),
                            found_by="simulated 3PL",
                        )
                    )
                counted = [serial for serial in serials if serial not in damaged]
                await self._publish(
                    CycleCount(
                        type="cycle_counted",
                        report_id=f"SIM-C-{self._rng.getrandbits(48):012X}",
                        location=location,
                        sku=sku,
                        counted=len(counted),
                        serials=counted,
                        at=now(),
                        counted_by="simulated 3PL",
                    )
                )
                log.info("cycle counted", location=location, sku=sku, counted=len(counted))

    # -- the floor ----------------------------------------------------------------------------

    def shelves_changed(self) -> None:
        """The shelves learned something: wake the packers waiting for units."""
        self._shelves_changed.set()
        self._shelves_changed = asyncio.Event()

    async def idle(self) -> None:
        """Wait until no work is in progress (for tests)."""
        await self.floor.idle()

    async def _pick_and_pack(self, shipment: _Shipment) -> None:
        await asyncio.sleep(jittered(shipment.rng, self.settings.pick_delay, self.settings.jitter))
        if self._gone(shipment):
            return
        await self._send(
            shipment,
            PickConfirmation(type="picked", shipment_id=shipment.request.shipment_id, at=now()),
        )
        await asyncio.sleep(jittered(shipment.rng, self.settings.pack_delay, self.settings.jitter))
        # Draw even when the box is already sealed, so a shipment's later draws do not depend on
        # whether the 3PL restarted.
        mis_scan = shipment.rng.random() < self.settings.mis_scan_rate
        sealed = self.shelves.packed_into(shipment.request.shipment_id)
        await self._pack(shipment, mis_scan=mis_scan and not sealed)

    async def _rescan(self, shipment: _Shipment) -> None:
        await asyncio.sleep(jittered(shipment.rng, self.settings.pack_delay, self.settings.jitter))
        await self._pack(shipment, mis_scan=False)

    async def _pack(self, shipment: _Shipment, *, mis_scan: bool) -> None:
        request = shipment.request
        await self._wait_for_units(request)
        if self._gone(shipment):
            return
        plan = plan_scan(request, self.shelves, mis_scan=mis_scan, avoid=shipment.avoid)
        if plan.missing:
            log.warning(
                "units not on the shelves; scanning what there is",
                shipment_id=str(request.shipment_id),
                missing=list(plan.missing),
            )
        shipment.scans += 1
        shipment.units = plan.units
        shipment.avoid |= plan.mis_scanned
        shipment.awaiting_verdict = True
        await self._send(
            shipment,
            PackConfirmation(
                type="packed", shipment_id=request.shipment_id, at=now(), units=list(plan.units)
            ),
            scan=shipment.scans,
            **({"mis_scanned": sorted(plan.mis_scanned)} if plan.mis_scanned else {}),
        )

    def _gone(self, shipment: _Shipment) -> bool:
        """Whether the parcel already left, as the shelves show (inventory's `StockShipped`): a
        3PL restarted before it read the shipment's confirmation does not pick and pack it again."""
        if not self.shelves.shipped_in(shipment.request.shipment_id):
            return False
        self._forget(shipment.request.shipment_id)
        return True

    async def _ship(self, shipment: _Shipment, label: FulfilmentLabelled) -> None:
        await asyncio.sleep(jittered(shipment.rng, self.settings.ship_delay, self.settings.jitter))
        await self._send(
            shipment,
            ShipConfirmation(
                type="shipped",
                shipment_id=label.shipment_id,
                at=now(),
                carrier=label.carrier,
                service=label.service,
                tracking_number=label.tracking_number,
            ),
            carrier=label.carrier,
            tracking_number=label.tracking_number,
        )

    async def _count_every_so_often(self) -> None:
        while True:
            await asyncio.sleep(self.settings.cycle_count_interval)
            try:
                await self.count_shelves()
            except Exception:
                log.exception("cycle count failed")

    async def _wait_for_units(self, request: FulfilmentRequested) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.serial_wait
        while not units_available(request, self.shelves):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._shelves_changed.wait(), remaining)
            except TimeoutError:
                return

    async def _send(
        self, shipment: _Shipment, confirmation: ShipmentConfirmation, **details: Any
    ) -> None:
        assert self._publish is not None, "start() first"
        await self._publish(confirmation)
        log.debug(
            confirmation.type,
            shipment_id=str(confirmation.shipment_id),
            location=shipment.request.location,
            **details,
        )
        if shipment.rng.random() < self.settings.duplicate_rate:
            await self._publish(confirmation)
            log.info(
                "sent twice", kind=confirmation.type, shipment_id=str(shipment.request.shipment_id)
            )
