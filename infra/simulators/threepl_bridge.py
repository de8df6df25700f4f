"""The 3PL adapter interface and the bridge that runs any 3PL against the public topics.

A 3PL integration implements `ThreePL`: the bridge reads shipments' requests on
`threepl.fulfilment-requests.v1` (the ship-to in clear) and everything else on
`warehouse_adapter.events.v1`, each shipment's messages in the order they were stored, and calls it
for what Unitrail asks (fulfil, scan again, ship with this label, stop; expect goods from a
supplier) and for what closes a shipment; the 3PL answers through `publish` with the messages of
`contracts/threepl.py`, which the bridge puts on `threepl.confirmations.v1` keyed by shipment id,
or, for goods received, on `threepl.receipts.v1` keyed by purchase order. The simulated 3PL
(`infra.simulators.threepl`) is one such integration.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from pydantic import ValidationError

from contracts.base import IntegrationEvent
from contracts.threepl import (
    CycleCount,
    GoodsReceipt,
    PackConfirmation,
    PickConfirmation,
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
from services.runtime.kafka import header_value
from services.runtime.relay_messages import KeyPartitioner

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
        self._partitioner = KeyPartitioner()
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
        partition = self._partitioner(copy.key, list(range(count)))
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
