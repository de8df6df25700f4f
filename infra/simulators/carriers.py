"""Simulated carriers: once a parcel is handed over, they report its journey on
`carrier.tracking.v1`, each carrier with its own event codes.

The handover is `ShipmentConfirmed` on `warehouse_adapter.events.v1` (carrier, service, tracking
number): the moment the parcel left the warehouse with the label shipping bought. Then come a pickup
scan, an in-transit scan, out for delivery and delivered; at a configurable rate the first delivery
attempt fails (an exception) and the parcel is delivered on a second attempt.
"""

from __future__ import annotations

import asyncio
import enum
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.carrier import CarrierTrackingEvent
from contracts.topics import CARRIER_TRACKING, events_topic
from contracts.warehouse import ShipmentConfirmed
from infra.simulators.kafka import (
    KafkaSettings,
    OffsetTracker,
    RecentIds,
    Record,
    Subscription,
    TopicFollower,
    cancel_and_wait,
    producer_for,
    publish_until_sent,
    read_envelope,
    run_in_group,
)

log = structlog.get_logger(__name__)

WAREHOUSE_EVENTS = events_topic("warehouse_adapter").name


class Milestone(enum.StrEnum):
    """A step of a parcel's journey, whatever the carrier calls it."""

    PICKED_UP = "picked-up"
    IN_TRANSIT = "in-transit"
    OUT_FOR_DELIVERY = "out-for-delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"


CARRIER_CODES: dict[str, dict[Milestone, tuple[str, str]]] = {
    "ups": {
        Milestone.PICKED_UP: ("P", "Pickup scan"),
        Milestone.IN_TRANSIT: ("I", "Departed from facility"),
        Milestone.OUT_FOR_DELIVERY: ("O", "Out for delivery today"),
        Milestone.DELIVERED: ("D", "Delivered, front door"),
        Milestone.EXCEPTION: ("X", "The receiver was not available for delivery"),
    },
    "usps": {
        Milestone.PICKED_UP: ("03", "Accepted at USPS origin facility"),
        Milestone.IN_TRANSIT: ("10", "Arrived at USPS regional facility"),
        Milestone.OUT_FOR_DELIVERY: ("OF", "Out for delivery"),
        Milestone.DELIVERED: ("01", "Delivered, in/at mailbox"),
        Milestone.EXCEPTION: ("02", "Notice left (no authorized recipient available)"),
    },
    "fedex": {
        Milestone.PICKED_UP: ("PU", "Picked up"),
        Milestone.IN_TRANSIT: ("IT", "In transit"),
        Milestone.OUT_FOR_DELIVERY: ("OD", "On FedEx vehicle for delivery"),
        Milestone.DELIVERED: ("DL", "Delivered"),
        Milestone.EXCEPTION: ("DE", "Delivery exception: customer not available"),
    },
    "dhl": {
        Milestone.PICKED_UP: ("PU", "Shipment picked up"),
        Milestone.IN_TRANSIT: ("TR", "Transferred through facility"),
        Milestone.OUT_FOR_DELIVERY: ("WC", "With delivery courier"),
        Milestone.DELIVERED: ("OK", "Delivered"),
        Milestone.EXCEPTION: ("NH", "Not home: delivery attempted"),
    },
}
"""Each carrier's own event codes, the ones Unitrail's shipping service normalises."""

GENERIC_CODES: dict[Milestone, tuple[str, str]] = {
    Milestone.PICKED_UP: ("in_transit", "Picked up"),
    Milestone.IN_TRANSIT: ("in_transit", "In transit"),
    Milestone.OUT_FOR_DELIVERY: ("out_for_delivery", "Out for delivery"),
    Milestone.DELIVERED: ("delivered", "Delivered"),
    Milestone.EXCEPTION: ("exception", "Delivery attempt failed"),
}
"""The generic codes every carrier may use; for carriers the simulator has no table for."""


class SimulatedCarriersSettings(BaseSettings):
    """`UNITRAIL_SIMULATED_CARRIERS_*`: how the simulated carriers behave. Delays in seconds."""

    model_config = SettingsConfigDict(
        env_prefix="UNITRAIL_SIMULATED_CARRIERS_", extra="ignore", frozen=True
    )

    enabled: bool = Field(default=True, description="Run the simulated carriers.")
    pickup_delay: float = Field(default=2.0, ge=0, description="Handover → pickup scan.")
    transit_delay: float = Field(
        default=4.0, ge=0, description="Pickup scan → out for delivery (an in-transit scan midway)."
    )
    delivery_delay: float = Field(default=2.0, ge=0, description="Out for delivery → delivered.")
    exception_rate: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Share of parcels whose first delivery attempt fails (an exception); they are "
        "delivered on a second attempt.",
    )
    redelivery_delay: float = Field(
        default=4.0, ge=0, description="Failed attempt → out for delivery again."
    )
    jitter: float = Field(
        default=0.3, ge=0, le=1, description="Each delay varies by up to this fraction of itself."
    )
    seed: str = Field(
        default="unitrail",
        description="Randomness is drawn per parcel from this seed and its tracking number.",
    )


@dataclass(frozen=True)
class Scan:
    """One tracking event to report, `after` seconds after the previous one."""

    after: float
    milestone: Milestone
    code: str
    description: str


def journey(*, failed_attempt: bool) -> list[Milestone]:
    """The milestones of a parcel's journey."""
    attempt = [Milestone.OUT_FOR_DELIVERY]
    if failed_attempt:
        attempt += [Milestone.EXCEPTION, Milestone.OUT_FOR_DELIVERY]
    return [Milestone.PICKED_UP, Milestone.IN_TRANSIT, *attempt, Milestone.DELIVERED]


def tracking_plan(
    carrier: str, settings: SimulatedCarriersSettings, rng: random.Random
) -> list[Scan]:
    """The scans a carrier reports for one parcel, in its own codes, with their delays."""
    failed_attempt = rng.random() < settings.exception_rate
    codes = CARRIER_CODES.get(carrier, GENERIC_CODES)

    def vary(seconds: float) -> float:
        jitter = settings.jitter
        return seconds * rng.uniform(1 - jitter, 1 + jitter) if seconds > 0 else 0.0

    scans: list[Scan] = []
    previous: Milestone | None = None
    for milestone in journey(failed_attempt=failed_attempt):
        if previous is None:
            after = settings.pickup_delay
        elif milestone in (Milestone.IN_TRANSIT, Milestone.OUT_FOR_DELIVERY):
            after = (
                settings.redelivery_delay
                if previous is Milestone.EXCEPTION
                else settings.transit_delay / 2
            )
        else:  # delivered, or the failed attempt
            after = settings.delivery_delay
        code, description = codes[milestone]
        scans.append(Scan(vary(after), milestone, code, description))
        previous = milestone
    return scans


class SimulatedCarriers:
    """Every carrier's network at once: picks up the parcels the warehouses hand over and reports
    each one's journey, as the consumer group `unitrail-simulated-carriers`.

    A parcel's handover message is committed only after its last scan was published, so a restart
    reports the unfinished journeys again (a repeated scan changes nothing in Unitrail).
    """

    def __init__(
        self,
        settings: SimulatedCarriersSettings,
        kafka: KafkaSettings,
        *,
        group_id: str = "unitrail-simulated-carriers",
    ) -> None:
        self.settings = settings
        self._kafka = kafka
        self._group_id = group_id
        self._tracker = OffsetTracker()
        self._seen = RecentIds()
        self._parcels = RecentIds()
        self._tasks: set[asyncio.Task[None]] = set()
        self._producer: AIOKafkaProducer | None = None
        self.subscription = Subscription({WAREHOUSE_EVENTS: self.handle}, self._tracker)
        self.followers: tuple[TopicFollower, ...] = ()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume handovers and report journeys until `stop` is set, as a group of its own."""
        await run_in_group(self._kafka, self._group_id, [self], stop)

    async def start(self) -> None:
        """Connect the producer the scans go out with."""
        self._producer = producer_for(self._kafka, self._group_id)
        await self._producer.start()

    async def stop(self) -> None:
        """Abandon the journeys under way (reported again after a restart)."""
        await cancel_and_wait(self._tasks)
        if self._producer is not None:
            await self._producer.stop()

    async def handle(self, record: Record) -> None:
        """One record of `warehouse_adapter.events.v1`: only handovers matter."""
        envelope = read_envelope(record, wanted={ShipmentConfirmed.event_type})
        if (
            envelope is None
            or envelope.producer != "warehouse_adapter"
            or envelope.event_type != ShipmentConfirmed.event_type
            or not self._seen.add(envelope.event_id)
        ):
            return
        try:
            handover = ShipmentConfirmed.model_validate(envelope.payload)
        except ValidationError as error:
            log.warning("event does not fit its contract; skipped", error=str(error.errors()[:1]))
            return
        if not self._parcels.add(handover.tracking_number):
            return  # this parcel is already on its way
        key = (handover.carrier, handover.tracking_number)
        self._tracker.opened(key, TopicPartition(record.topic, record.partition), record.offset)
        task = asyncio.get_running_loop().create_task(self._deliver(handover))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # The handover stays uncommitted: the journey is reported again after a restart.
            log.error("parcel journey failed", error=repr(task.exception()))

    async def _deliver(self, parcel: ShipmentConfirmed) -> None:
        rng = random.Random(f"{self.settings.seed}:{parcel.carrier}:{parcel.tracking_number}")
        plan = tracking_plan(parcel.carrier, self.settings, rng)
        log.debug(
            "parcel picked up",
            carrier=parcel.carrier,
            tracking_number=parcel.tracking_number,
            delivery_attempts=1 + sum(scan.milestone is Milestone.EXCEPTION for scan in plan),
        )
        for scan in plan:
            await asyncio.sleep(scan.after)
            await self.report(parcel, scan)
        self._tracker.closed((parcel.carrier, parcel.tracking_number))

    async def report(self, parcel: ShipmentConfirmed, scan: Scan) -> None:
        """Publish one scan, keyed by tracking number."""
        assert self._producer is not None, "run() first"
        event = CarrierTrackingEvent(
            carrier=parcel.carrier,
            tracking_number=parcel.tracking_number,
            code=scan.code,
            description=scan.description,
            at=datetime.now(UTC),
        )
        await publish_until_sent(
            self._producer,
            CARRIER_TRACKING.name,
            parcel.tracking_number,
            event.model_dump_json().encode(),
            what=f"{parcel.carrier} {parcel.tracking_number} {scan.code}",
        )
        log.debug(
            "tracking event",
            carrier=parcel.carrier,
            tracking_number=parcel.tracking_number,
            code=scan.code,
            milestone=str(scan.milestone),
        )
