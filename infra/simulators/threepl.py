"""The simulated 3PL that ships with Unitrail, a `ThreePL` (`infra.simulators.threepl_bridge`).

A warehouse that picks, packs and ships by itself after configurable delays, scanning the serials
its shelves really hold (learned from inventory's events, `infra.simulators.shelves`), sometimes
the wrong one first (`infra.simulators.packing`); and receives the goods suppliers send, scanning
the serials the ASN declared (or new ones) and the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.threepl import (
    CycleCount,
    GoodsReceipt,
    GoodsReceiptLine,
    PackConfirmation,
    PickConfirmation,
    ScannedUnit,
    ShelfDamage,
    ShipConfirmation,
    TransferArrival,
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
from infra.simulators.kafka import RecentIds
from infra.simulators.packing import (
    plan_scan,
    serials_blamed,
    skus_needing_serials,
    units_available,
)
from infra.simulators.shelves import Shelves
from infra.simulators.threepl_bridge import Publish, ShipmentConfirmation

log = structlog.get_logger(__name__)


class SimulatedThreePLSettings(BaseSettings):
    """`UNITRAIL_SIMULATED_3PL_*`: how the simulated warehouse behaves. Delays are in seconds."""

    model_config = SettingsConfigDict(
        env_prefix="UNITRAIL_SIMULATED_3PL_", extra="ignore", frozen=True
    )

    enabled: bool = Field(default=True, description="Run the simulated 3PL.")
    locations: str = Field(
        default="",
        description="Comma-separated locations it operates; empty: every location. Leave the "
        "others to real 3PL integrations.",
    )
    pick_delay: float = Field(default=2.0, ge=0, description="Request → picked.")
    pack_delay: float = Field(default=2.0, ge=0, description="Picked → packed, and each rescan.")
    ship_delay: float = Field(default=1.5, ge=0, description="Label received → shipped.")
    jitter: float = Field(
        default=0.5, ge=0, le=1, description="Each delay varies by up to this fraction of itself."
    )
    mis_scan_rate: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Share of shipments whose first pack scan has a wrong serial (a neighbouring "
        "unit, or a misread); rescanned right after the rejection.",
    )
    duplicate_rate: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="Share of confirmations sent twice, as at-least-once integrations do.",
    )
    receive_delay: float = Field(
        default=3.0,
        ge=0,
        description="Goods expected (a confirmed purchase order, or an ASN) → received at the "
        "dock. A purchase order with an ASN by then is received by its ASNs.",
    )
    max_scans: int = Field(
        default=5, ge=1, description="Pack scans of one shipment before a person must look."
    )
    serial_wait: float = Field(
        default=30.0,
        ge=0,
        description="How long a packer waits for units the shelves do not show yet before "
        "scanning what there is.",
    )
    transfer_delay: float = Field(
        default=5.0,
        ge=0,
        description="A transfer requested → its units received at the destination.",
    )
    cycle_count_interval: float = Field(
        default=0.0,
        ge=0,
        description="Every this many seconds, count the serialized units at each location it "
        "operates and report `cycle_counted` per SKU; 0: never.",
    )
    damage_rate: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="In a cycle count, the share of units on the shelf found damaged, reported "
        "as `damage_found` (and not counted).",
    )
    seed: str = Field(
        default="unitrail",
        description="Randomness is drawn per shipment from this seed and its id: reproducible.",
    )

    @property
    def served_locations(self) -> frozenset[str] | None:
        """The locations it operates, or None for all."""
        names = frozenset(name.strip() for name in self.locations.split(",") if name.strip())
        return names or None


def now() -> datetime:
    return datetime.now(UTC)


SIMULATED_RECEIPTS = uuid.UUID("4f1b8c2d-7e3a-4b59-a0d6-9c8e5f2a1b37")


def goods_receipt_for(
    expected: InboundExpected, left: dict[str, int], rng: random.Random
) -> GoodsReceipt | None:
    """What the dock counts in of an expected delivery: each line's units, never more than
    `left` (SKU → units still to come), scanned with the serials the ASN declared or new ones,
    with the declared batch or one read off the cartons; None when nothing is left to receive.

    The receipt id comes from the purchase order and ASN, so sending it again is a repeat."""
    lines = []
    for line in expected.lines:
        quantity = min(line.quantity, left.get(line.sku, 0))
        if quantity < 1:
            continue
        declared = list(line.serials[:quantity])
        serials = (
            declared
            if len(declared) == quantity
            else [f"SIM{rng.getrandbits(48):012X}" for _ in range(quantity)]
        )
        batch = line.batch or f"SIM-B{rng.getrandbits(16):04X}"
        lines.append(
            GoodsReceiptLine(sku=line.sku, quantity=quantity, serials=serials, batch=batch)
        )
    if not lines:
        return None
    receipt_key = f"{expected.purchase_order_id}/{expected.asn_id or ''}"
    return GoodsReceipt(
        type="goods_received",
        receipt_id=f"SIM-{uuid.uuid5(SIMULATED_RECEIPTS, receipt_key).hex[:16].upper()}",
        purchase_order_id=expected.purchase_order_id,
        asn_id=expected.asn_id,
        location=expected.location,
        at=now(),
        received_by="simulated 3PL",
        lines=lines,
    )


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


@dataclass
class _Purchase:
    """Goods expected under one purchase order, and what the dock received of them."""

    rng: random.Random
    ordered: dict[str, int] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    advised: bool = False
    """An ASN came: the goods arrive by their ASNs, not as the whole order."""
    cancelled: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    def left(self) -> dict[str, int]:
        return {sku: units - self.received.get(sku, 0) for sku, units in self.ordered.items()}


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
        self._purchases: dict[str, _Purchase] = {}
        self._known = RecentIds()
        self._shelves_changed = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._counting: asyncio.Task[None] | None = None
        self._rng = random.Random(settings.seed)

    # -- ThreePL ------------------------------------------------------------------------------

    async def start(self, publish: Publish) -> None:
        """Wait until the shelves are known: a packer scans what the WMS shows."""
        self._publish = publish
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
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

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
        self._then(shipment, self._pick_and_pack(shipment))

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
        self._then(shipment, self._rescan(shipment))

    async def fulfilment_labelled(self, label: FulfilmentLabelled) -> None:
        """Print the label and hand the parcel over once the work before it is done."""
        shipment = self._shipments.get(label.shipment_id)
        if shipment is None or shipment.label is not None:
            return
        shipment.label = label
        self._then(shipment, self._ship(shipment, label))

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
        self._known.add(shipment.shipment_id)
        gone = self._shipments.pop(shipment.shipment_id, None)
        for task in gone.tasks if gone is not None else ():
            if task is not asyncio.current_task():
                task.cancel()

    async def inbound_expected(self, expected: InboundExpected) -> None:
        """Receive the goods once they arrive; an announcement already known, or for another
        location, is ignored."""
        served = self.settings.served_locations
        if served is not None and expected.location not in served:
            return
        if not self._known.add(("inbound", expected.purchase_order_id, expected.asn_id)):
            return
        purchase = self._purchases.setdefault(
            expected.purchase_order_id,
            _Purchase(rng=random.Random(f"{self.settings.seed}:{expected.purchase_order_id}")),
        )
        if expected.asn_id is None:
            purchase.ordered = {line.sku: line.quantity for line in expected.lines}
        else:
            purchase.advised = True
            for line in expected.lines:
                # The order itself was announced before this process started: trust the ASN.
                purchase.ordered.setdefault(line.sku, line.quantity)
        log.info(
            "inbound expected",
            purchase_order_id=expected.purchase_order_id,
            asn_id=expected.asn_id,
            location=expected.location,
        )
        self._then(purchase, self._receive(purchase, expected))

    async def inbound_cancelled(self, cancellation: InboundCancelled) -> None:
        """Expect nothing more under the purchase order."""
        purchase = self._purchases.get(cancellation.purchase_order_id)
        if purchase is not None:
            purchase.cancelled = True

    async def goods_receipt_rejected(self, rejection: GoodsReceiptRejected) -> None:
        """A person at the dock must sort it out."""
        log.error(
            "goods receipt rejected; a person must look at it",
            receipt_id=rejection.receipt_id,
            purchase_order_id=rejection.purchase_order_id,
            problems=rejection.problems,
        )

    async def transfer_requested(self, request: TransferRequested) -> None:
        """The origin's units leave with the truck (the shelves learn it from
        `StockTransferredOut`); at the destination, they are received after `transfer_delay`,
        every unit sent with its serial. A request already known, or for locations it does not
        operate, is ignored."""
        served = self.settings.served_locations
        if served is not None and request.to_location not in served:
            return
        if not self._known.add(("transfer", request.transfer_id)):
            return
        task = asyncio.get_running_loop().create_task(self._receive_transfer(request))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

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
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _then(self, shipment: _Shipment | _Purchase, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` after the shipment's work in progress, so its messages stay in order."""
        previous = [task for task in shipment.tasks if not task.done()]

        async def in_turn() -> None:
            try:
                if previous:
                    await asyncio.wait(previous)
            except asyncio.CancelledError:
                work.close()  # never started: nothing to clean up but the coroutine itself
                raise
            await work

        task = asyncio.get_running_loop().create_task(in_turn())
        shipment.tasks = [*previous, task]
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("3PL work failed", error=repr(task.exception()))

    def _delay(self, shipment: _Shipment | _Purchase, seconds: float) -> float:
        jitter = self.settings.jitter
        return seconds * shipment.rng.uniform(1 - jitter, 1 + jitter) if seconds > 0 else 0.0

    async def _pick_and_pack(self, shipment: _Shipment) -> None:
        await asyncio.sleep(self._delay(shipment, self.settings.pick_delay))
        await self._send(
            shipment,
            PickConfirmation(type="picked", shipment_id=shipment.request.shipment_id, at=now()),
        )
        await asyncio.sleep(self._delay(shipment, self.settings.pack_delay))
        # Draw even when the box is already sealed, so a shipment's later draws do not depend on
        # whether the 3PL restarted.
        mis_scan = shipment.rng.random() < self.settings.mis_scan_rate
        sealed = self.shelves.packed_into(shipment.request.shipment_id)
        await self._pack(shipment, mis_scan=mis_scan and not sealed)

    async def _rescan(self, shipment: _Shipment) -> None:
        await asyncio.sleep(self._delay(shipment, self.settings.pack_delay))
        await self._pack(shipment, mis_scan=False)

    async def _pack(self, shipment: _Shipment, *, mis_scan: bool) -> None:
        request = shipment.request
        await self._wait_for_units(request)
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

    async def _ship(self, shipment: _Shipment, label: FulfilmentLabelled) -> None:
        await asyncio.sleep(self._delay(shipment, self.settings.ship_delay))
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

    async def _receive(self, purchase: _Purchase, expected: InboundExpected) -> None:
        await asyncio.sleep(self._delay(purchase, self.settings.receive_delay))
        if purchase.cancelled:
            return
        if expected.asn_id is None and purchase.advised:
            log.info(
                "purchase order arrives by its ASNs", purchase_order_id=expected.purchase_order_id
            )
            return
        receipt = goods_receipt_for(expected, purchase.left(), purchase.rng)
        if receipt is None:
            log.info(
                "nothing left to receive",
                purchase_order_id=expected.purchase_order_id,
                asn_id=expected.asn_id,
            )
            return
        for line in receipt.lines:
            purchase.received[line.sku] = purchase.received.get(line.sku, 0) + line.quantity
        assert self._publish is not None, "start() first"
        await self._publish(receipt)
        log.info(
            "goods received",
            purchase_order_id=receipt.purchase_order_id,
            asn_id=receipt.asn_id,
            receipt_id=receipt.receipt_id,
            units=sum(line.quantity for line in receipt.lines),
        )

    async def _receive_transfer(self, request: TransferRequested) -> None:
        rng = random.Random(f"{self.settings.seed}:{request.transfer_id}")
        jitter = self.settings.jitter
        delay = self.settings.transfer_delay
        await asyncio.sleep(delay * rng.uniform(1 - jitter, 1 + jitter) if delay > 0 else 0.0)
        assert self._publish is not None, "start() first"
        await self._publish(
            TransferArrival(
                type="transfer_received",
                transfer_id=request.transfer_id,
                location=request.to_location,
                sku=request.sku,
                quantity=request.quantity,
                serials=list(request.serials),
                at=now(),
                received_by="simulated 3PL",
            )
        )
        log.info(
            "transfer received",
            transfer_id=str(request.transfer_id),
            location=request.to_location,
            units=request.quantity,
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
