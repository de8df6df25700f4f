"""The 3PL adapter interface, the bridge that runs any 3PL against the public topics, and the
simulated 3PL that ships with Unitrail.

A 3PL integration implements `ThreePL`: the bridge reads shipments' requests on
`threepl.fulfilment-requests.v1` (the ship-to in clear) and everything else on
`warehouse_adapter.events.v1`, each shipment's messages in the order they were stored, and calls it
for what Unitrail asks (fulfil, scan again, ship with this label, stop; expect goods from a
supplier) and for what closes a shipment; the 3PL answers through `publish` with the messages of
`contracts/threepl.py`, which the bridge puts on `threepl.confirmations.v1` keyed by shipment id,
or, for goods received, on `threepl.receipts.v1` keyed by purchase order.

`SimulatedThreePL` is a warehouse that picks, packs and ships by itself after configurable delays,
scanning the serials its shelves really hold (learned from inventory's events), sometimes the wrong
one first; and receives the goods suppliers send, scanning the serials the ASN declared (or new
ones) and the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from contracts.inventory import (
    StockAdjusted,
    StockReceived,
    StockSerialPacked,
    StockShipped,
    StockTransferredIn,
    StockTransferredOut,
)
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
from contracts.topics import (
    THREEPL_CONFIRMATIONS,
    THREEPL_FULFILMENT_REQUESTS,
    THREEPL_RECEIPTS,
    THREEPL_STOCK,
    events_topic,
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
from infra.simulators.kafka import (
    KafkaSettings,
    OffsetTracker,
    RecentIds,
    Record,
    Subscription,
    TopicFollower,
    producer_for,
    publish_until_sent,
    read_envelope,
    run_in_group,
)
from infra.simulators.shelves import Shelves
from services.runtime.kafka import header_value

log = structlog.get_logger(__name__)

ShipmentConfirmation = PickConfirmation | PackConfirmation | ShipConfirmation
Confirmation = ShipmentConfirmation | GoodsReceipt | TransferArrival | CycleCount | ShelfDamage
Publish = Callable[[Confirmation], Awaitable[None]]
"""Hands a confirmation (or a goods receipt) to Unitrail; returns once the broker has it."""

WAREHOUSE_EVENTS = events_topic("warehouse_adapter").name
FULFILMENT_REQUESTS = THREEPL_FULFILMENT_REQUESTS.name
TOPICS = (WAREHOUSE_EVENTS, FULFILMENT_REQUESTS)
INVENTORY_EVENTS = events_topic("inventory").name


class ThreePL(Protocol):
    """The adapter interface of a 3PL integration.

    Calls come in the order of the shipment's events; after a restart some may come again, so each
    must be harmless to repeat. A call should return quickly: the work it starts (picking takes
    minutes in a real warehouse) runs in the background and answers through `publish`.
    """

    async def start(self, publish: Publish) -> None:
        """Get ready; `publish` sends confirmations. Called once, before any other call."""

    async def stop(self) -> None:
        """Stop the background work; what was not confirmed is asked again after a restart."""

    async def fulfilment_requested(self, request: FulfilmentRequested) -> None:
        """Pick the shipment's units, then pack them scanning each serial: answer `picked`,
        then `packed`."""

    async def pack_scan_rejected(self, rejection: PackScanRejected) -> None:
        """Unitrail refused the last pack scan (the problems say why): scan again."""

    async def fulfilment_labelled(self, label: FulfilmentLabelled) -> None:
        """The parcel's label: print it, hand the parcel to the carrier, answer `shipped`."""

    async def fulfilment_cancelled(self, cancellation: FulfilmentCancelled) -> None:
        """The order was cancelled: stop, put the units back."""

    async def shipment_confirmed(self, shipment: ShipmentConfirmed) -> None:
        """Unitrail recorded the shipment as shipped: nothing more will be asked about it."""

    async def inbound_expected(self, expected: InboundExpected) -> None:
        """Goods from a supplier are on their way (a confirmed purchase order, or one of its
        ASNs): when they arrive, answer `goods_received` with one serial per unit and the batch."""

    async def inbound_cancelled(self, cancellation: InboundCancelled) -> None:
        """The purchase order was cancelled: expect nothing more under it."""

    async def goods_receipt_rejected(self, rejection: GoodsReceiptRejected) -> None:
        """Unitrail refused a goods receipt (the problems say why); correct it and send it again
        under a new receipt id."""

    async def transfer_requested(self, request: TransferRequested) -> None:
        """Units move between warehouses: the origin sends them; the destination answers
        `transfer_received` when they arrive."""


class ShipmentsInOrder:
    """A shipment's messages from its two topics, in the order the warehouse adapter stored them.

    `warehouse_adapter.events.v1` carries every event of a shipment in order, its request with the
    ship-to sealed; `threepl.fulfilment-requests.v1` carries the same request with the ship-to in
    clear, published by a relay of its own, so either copy of a request may be read first. A
    request is handed on as its clear copy, in the place of its sealed copy: what follows it on
    the events topic waits for it (per shipment: the others go on).

    After a restart one copy of a request may be read again while the other is not: its shipment
    was finished, so the offsets had moved past it on one topic and not yet on the other. Each
    relay publishes the store in order (the `notification_id` header), so once the other topic's
    partition for that shipment has come to the copy's place in the store without the other copy,
    the other copy is not coming, and the copy is dropped (a request whose clear copy was already
    handed on is dropped likewise: a relay's repeat).
    """

    def __init__(self, partition_counts: Mapping[str, int]) -> None:
        self._partition_counts = partition_counts
        self._held: dict[str, deque[Record]] = {}
        self._clear: dict[tuple[str, int], Record] = {}
        self._reached: dict[TopicPartition, int] = {}

    def from_events(self, record: Record) -> Sorted:
        """A record of `warehouse_adapter.events.v1`: what may be handed on now, in order."""
        done = Sorted()
        shipment, _, position = _place(record)
        self._reach(record, position)
        if shipment in self._held:
            self._held[shipment].append(record)
        elif header_value(record.headers, "event_type") == FulfilmentRequested.event_type:
            self._held[shipment] = deque([record])
            self._drain(shipment, done)
        else:
            done.deliver.append(record)
        for key, clear in list(self._clear.items()):
            if self._passed(clear):
                del self._clear[key]
                done.drop.append(clear)
        return done

    def from_requests(self, record: Record) -> Sorted:
        """A record of `threepl.fulfilment-requests.v1`: what may be handed on now, in order. Its
        cancellations are the events topic's, read there in their place."""
        done = Sorted()
        shipment, version, position = _place(record)
        self._reach(record, position)
        if header_value(record.headers, "event_type") == FulfilmentRequested.event_type:
            if shipment in self._held or not self._passed(record):
                self._clear[(shipment, version)] = record
            else:
                done.drop.append(record)
        for waiting in list(self._held):
            self._drain(waiting, done)
        return done

    def _drain(self, shipment: str, done: Sorted) -> None:
        held = self._held[shipment]
        while held:
            head = held[0]
            if header_value(head.headers, "event_type") == FulfilmentRequested.event_type:
                clear = self._clear.pop((shipment, _place(head)[1]), None)
                if clear is not None:
                    done.deliver.append(clear)
                elif self._passed(head):
                    done.drop.append(head)
                else:
                    return
                held.popleft()
            else:
                done.deliver.append(held.popleft())
        del self._held[shipment]

    def _reach(self, record: Record, position: int) -> None:
        partition = TopicPartition(record.topic, record.partition)
        self._reached[partition] = max(self._reached.get(partition, -1), position)

    def _passed(self, copy: Record) -> bool:
        """Whether the other topic's partition for the copy's shipment has come to its place."""
        other = FULFILMENT_REQUESTS if copy.topic == WAREHOUSE_EVENTS else WAREHOUSE_EVENTS
        count = self._partition_counts[other]
        partition = DefaultPartitioner()(copy.key, list(range(count)), list(range(count)))
        position = _place(copy)[2]
        return position >= 0 and self._reached.get(TopicPartition(other, partition), -1) >= position


@dataclass
class Sorted:
    """What `ShipmentsInOrder` found: records to hand on, in order, and copies it has done with
    without handing them on (their offsets need no longer be held)."""

    deliver: list[Record] = field(default_factory=list)
    drop: list[Record] = field(default_factory=list)


def _place(record: Record) -> tuple[str, int, int]:
    """Aggregate id, its version and the store's notification id, from the relay's headers (-1
    for a number a record lacks)."""
    headers = record.headers
    version = header_value(headers, "aggregate_version")
    position = header_value(headers, "notification_id")
    return (
        header_value(headers, "aggregate_id") or "",
        int(version) if version else -1,
        int(position) if position else -1,
    )


class ThreePLBridge:
    """Runs a `ThreePL` against the public topics, in a consumer group.

    Shipments' requests come from `threepl.fulfilment-requests.v1` (the ship-to in clear), in
    their place among the shipment's events on `warehouse_adapter.events.v1` (see
    `ShipmentsInOrder`); everything else from the events topic. The offsets of a shipment's
    messages on both topics are committed only once it shipped or was cancelled, so a restart
    reads again everything about the shipments still in the warehouse.
    """

    EVENTS: dict[str, type[IntegrationEvent]] = {
        model.event_type: model
        for model in (
            FulfilmentRequested,
            PackScanRejected,
            FulfilmentLabelled,
            FulfilmentCancelled,
            ShipmentConfirmed,
            InboundExpected,
            InboundCancelled,
            GoodsReceiptRejected,
            TransferRequested,
        )
    }
    FINISHING = frozenset((ShipmentConfirmed.event_type, FulfilmentCancelled.event_type))
    """What `learn_finished` looks for."""

    def __init__(
        self, threepl: ThreePL, settings: KafkaSettings, *, group_id: str = "unitrail-simulated-3pl"
    ) -> None:
        self.threepl = threepl
        self._settings = settings
        self._group_id = group_id
        self._tracker = OffsetTracker()
        self._seen = RecentIds()
        self._order: ShipmentsInOrder | None = None
        self._held: dict[str, set[tuple[str, str, int]]] = {}
        self._producer: AIOKafkaProducer | None = None
        self.subscription = Subscription(
            {WAREHOUSE_EVENTS: self.handle_event, FULFILMENT_REQUESTS: self.handle_request},
            self._tracker,
            look_ahead={WAREHOUSE_EVENTS: self.learn_finished},
        )
        self.followers: tuple[TopicFollower, ...] = ()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume and answer until `stop` is set, as a group of its own."""
        await run_in_group(self._settings, self._group_id, [self], stop)

    async def start(self) -> None:
        """Connect the producer, learn the topics' partitions, start the 3PL."""
        producer = self._producer = producer_for(self._settings, self._group_id)
        await producer.start()
        counts = {topic: len(await producer.partitions_for(topic)) for topic in TOPICS}
        self._order = ShipmentsInOrder(counts)
        await self.threepl.start(self.publish)

    async def stop(self) -> None:
        """Stop the 3PL and the producer."""
        await self.threepl.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def publish(self, confirmation: Confirmation) -> None:
        """Send what the 3PL answers on the topic its kind belongs to."""
        assert self._producer is not None, "start() first"
        if isinstance(confirmation, GoodsReceipt):
            topic, key = THREEPL_RECEIPTS.name, confirmation.purchase_order_id
        elif isinstance(confirmation, TransferArrival):
            topic, key = THREEPL_RECEIPTS.name, str(confirmation.transfer_id)
        elif isinstance(confirmation, CycleCount | ShelfDamage):
            topic = THREEPL_STOCK.name
            key = f"{confirmation.location}:{confirmation.sku}"
        else:
            topic, key = THREEPL_CONFIRMATIONS.name, str(confirmation.shipment_id)
        await publish_until_sent(
            self._producer,
            topic,
            key,
            confirmation.model_dump_json().encode(),
            what=f"{confirmation.type} {key}",
        )

    async def learn_finished(self, records: list[Record]) -> None:
        """Tell the 3PL first which shipments of a batch were shipped or cancelled further on.

        After a restart on a broker that came back empty, the topic is read from its beginning
        again (the relay published the store anew): a request whose shipment left long ago must
        not be picked and packed a second time, as it would be with no delays before the
        shipment's confirmation is read."""
        for record in records:
            envelope = read_envelope(record, wanted=self.FINISHING)
            if envelope is None or envelope.producer != "warehouse_adapter":
                continue
            with contextlib.suppress(ValidationError):
                if envelope.event_type == ShipmentConfirmed.event_type:
                    await self.threepl.shipment_confirmed(
                        ShipmentConfirmed.model_validate(envelope.payload)
                    )
                elif envelope.event_type == FulfilmentCancelled.event_type:
                    await self.threepl.fulfilment_cancelled(
                        FulfilmentCancelled.model_validate(envelope.payload)
                    )

    async def handle_event(self, record: Record) -> None:
        """One record of `warehouse_adapter.events.v1`."""
        if header_value(record.headers, "event_type") not in self.EVENTS:
            return
        assert self._order is not None, "start() first"
        self._hold(record)
        await self._hand_on(self._order.from_events(record))

    async def handle_request(self, record: Record) -> None:
        """One record of `threepl.fulfilment-requests.v1`."""
        assert self._order is not None, "start() first"
        self._hold(record)
        await self._hand_on(self._order.from_requests(record))

    def _hold(self, record: Record) -> None:
        """Hold the offset of each copy of a request until its shipment is finished (or the copy
        is done with): a restart must read both again."""
        if header_value(record.headers, "event_type") != FulfilmentRequested.event_type:
            return
        shipment = header_value(record.headers, "aggregate_id") or ""
        copy = (record.topic, shipment, record.offset)
        self._held.setdefault(shipment, set()).add(copy)
        self._tracker.opened(copy, TopicPartition(record.topic, record.partition), record.offset)

    async def _hand_on(self, done: Sorted) -> None:
        for record in done.drop:
            shipment = header_value(record.headers, "aggregate_id") or ""
            copy = (record.topic, shipment, record.offset)
            self._tracker.closed(copy)
            self._held.get(shipment, set()).discard(copy)
        for record in done.deliver:
            await self.handle(record)

    def _finished(self, shipment_id: uuid.UUID) -> None:
        for copy in self._held.pop(str(shipment_id), ()):
            self._tracker.closed(copy)

    async def handle(self, record: Record) -> None:
        """One record, in its shipment's order."""
        envelope = read_envelope(record, wanted=self.EVENTS)
        if envelope is None or envelope.producer != "warehouse_adapter":
            return
        model = self.EVENTS.get(envelope.event_type)
        if model is None or not self._seen.add(envelope.event_id):
            return  # not for a 3PL, or a re-published event already handled
        try:
            event = model.model_validate(envelope.payload)
        except ValidationError as error:
            log.warning("event does not fit its contract; skipped", error=str(error.errors()[:1]))
            return
        await self.deliver(event)

    async def deliver(self, event: IntegrationEvent) -> None:
        """Call the 3PL for one event; its failure is logged, never fatal for the others."""
        try:
            if isinstance(event, FulfilmentRequested):
                await self.threepl.fulfilment_requested(event)
            elif isinstance(event, PackScanRejected):
                await self.threepl.pack_scan_rejected(event)
            elif isinstance(event, FulfilmentLabelled):
                await self.threepl.fulfilment_labelled(event)
            elif isinstance(event, FulfilmentCancelled):
                self._finished(event.shipment_id)
                await self.threepl.fulfilment_cancelled(event)
            elif isinstance(event, ShipmentConfirmed):
                self._finished(event.shipment_id)
                await self.threepl.shipment_confirmed(event)
            # Goods expected are not held open like shipments: a receipt the 3PL had not sent
            # when it stopped is not sent after the restart (the dock receives it over HTTP).
            elif isinstance(event, InboundExpected):
                await self.threepl.inbound_expected(event)
            elif isinstance(event, InboundCancelled):
                await self.threepl.inbound_cancelled(event)
            elif isinstance(event, GoodsReceiptRejected):
                await self.threepl.goods_receipt_rejected(event)
            elif isinstance(event, TransferRequested):
                await self.threepl.transfer_requested(event)
        except Exception:
            log.exception("the 3PL failed to handle an event", event_type=event.event_type)


# -- the simulated 3PL ----------------------------------------------------------------------------


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
                missing.append(
                    f"line {line.line_number}: {line.quantity - len(found)} x {line.sku} "
                    f"not on the shelves at {request.location}"
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


SHELF_EVENTS = frozenset(
    model.event_type
    for model in (
        StockReceived,
        StockSerialPacked,
        StockShipped,
        StockTransferredIn,
        StockTransferredOut,
        StockAdjusted,
    )
)
"""The inventory events `learn` reads."""


def learn(shelves: Shelves, envelope: Envelope) -> bool:
    """Apply one of inventory's events to the shelves; False when it says nothing about them."""
    if envelope.producer != "inventory":
        return False
    try:
        if envelope.event_type == StockReceived.event_type:
            received = StockReceived.model_validate(envelope.payload)
            shelves.received(received.sku, received.location, received.serials)
        elif envelope.event_type == StockSerialPacked.event_type:
            packed = StockSerialPacked.model_validate(envelope.payload)
            shelves.packed(packed.serial, packed.sku, packed.location, packed.shipment_id)
        elif envelope.event_type == StockShipped.event_type:
            shipped = StockShipped.model_validate(envelope.payload)
            shelves.shipped(shipped.sku, shipped.serials)
        elif envelope.event_type == StockTransferredIn.event_type:
            arrived = StockTransferredIn.model_validate(envelope.payload)
            shelves.received(arrived.sku, arrived.to_location, arrived.serials)
        elif envelope.event_type == StockTransferredOut.event_type:
            shelves.left(StockTransferredOut.model_validate(envelope.payload).serials)
        elif envelope.event_type == StockAdjusted.event_type:
            adjusted = StockAdjusted.model_validate(envelope.payload)
            if adjusted.quantity_delta < 0:
                shelves.left(adjusted.serials)
            else:
                shelves.received(adjusted.sku, adjusted.location, adjusted.serials)
        else:
            return False
    except ValidationError as error:
        log.warning("inventory event does not fit its contract", error=str(error.errors()[:1]))
        return False
    return True


class ShelfFeed:
    """Keeps a 3PL's shelves up to date from `inventory.events.v1`, read from its beginning at
    every start (the shelves are rebuilt, never stored)."""

    def __init__(self, shelves: Shelves, on_change: Callable[[], None]) -> None:
        self.shelves = shelves
        self._on_change = on_change
        self.follower = TopicFollower(INVENTORY_EVENTS, self._handle)
        """Run by `follow_topics`, with the other topics a process follows."""

    @property
    def caught_up(self) -> asyncio.Event:
        """Set once the shelves reflect every inventory event that existed at start."""
        return self.follower.caught_up

    def _handle(self, record: Record) -> None:
        envelope = read_envelope(record, wanted=SHELF_EVENTS)
        if envelope is not None and learn(self.shelves, envelope):
            self._on_change()


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
