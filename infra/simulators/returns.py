"""Simulated returns: customers send authorised returns back with the label shipping bought, and the
3PL's dock scans what arrives, publishing `return_received` on `threepl.receipts.v1`.

The dock knows what each RMA should contain from `ReturnAuthorised` on `returns.events.v1` (the SKU,
the serials packed for that order line): it learns that by reading the topic from its beginning at
every start, as a WMS keeps its expected receipts. A return travels once its label exists
(`ReturnLabelPurchased` on `shipping.events.v1`). At a configurable rate the customer sends back a
different unit (switcheroo fraud), which Unitrail must catch.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.returns import ReturnAuthorised
from contracts.shipping import ReturnLabelPurchased
from contracts.threepl import ReturnArrival
from contracts.topics import THREEPL_RECEIPTS, events_topic
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

RETURNS_EVENTS = events_topic("returns").name
SHIPPING_EVENTS = events_topic("shipping").name


class SimulatedReturnsSettings(BaseSettings):
    """`UNITRAIL_SIMULATED_RETURNS_*`: how returning customers and the dock behave."""

    model_config = SettingsConfigDict(
        env_prefix="UNITRAIL_SIMULATED_RETURNS_", extra="ignore", frozen=True
    )

    enabled: bool = Field(default=True, description="Run the simulated returns.")
    transit_delay: float = Field(
        default=6.0, ge=0, description="Return label bought → unit scanned at the dock (seconds)."
    )
    switcheroo_rate: float = Field(
        default=0.05,
        ge=0,
        le=1,
        description="Share of returns in which the customer sends back a different unit.",
    )
    seed: str = Field(default="unitrail", description="Randomness is drawn per RMA from this.")


@dataclass(frozen=True)
class ExpectedReturn:
    """What the dock expects under an RMA."""

    sku: str
    serials: tuple[str, ...]


def arrival_for(
    rma_id: uuid.UUID,
    expected: ExpectedReturn,
    location: str,
    settings: SimulatedReturnsSettings,
    at: datetime,
) -> ReturnArrival:
    """What the dock scans for this RMA: the unit that was shipped, or, at the switcheroo rate, a
    unit that was not (a serial of the same look that Unitrail never shipped to this customer)."""
    rng = random.Random(f"{settings.seed}:{rma_id}")
    serial = expected.serials[0] if expected.serials else None
    if serial is not None and rng.random() < settings.switcheroo_rate:
        serial = f"{serial}-X{rng.randrange(1000):03d}"
    return ReturnArrival(
        type="return_received",
        rma_id=rma_id,
        location=location,
        sku=expected.sku,
        serial=serial,
        at=at,
    )


class SimulatedReturns:
    """Returning customers and the dock that receives their parcels, as the consumer group
    `unitrail-simulated-returns` on `shipping.events.v1`.

    A return label's message is committed only after its arrival was published, so a restart sends
    the unfinished returns again (a repeated receipt changes nothing in Unitrail).
    """

    def __init__(
        self,
        settings: SimulatedReturnsSettings,
        kafka: KafkaSettings,
        *,
        group_id: str = "unitrail-simulated-returns",
    ) -> None:
        self.settings = settings
        self._kafka = kafka
        self._group_id = group_id
        self._expected: dict[uuid.UUID, ExpectedReturn] = {}
        self._authorisations: dict[uuid.UUID, asyncio.Event] = {}
        self._tracker = OffsetTracker()
        self._seen = RecentIds()
        self._tasks: set[asyncio.Task[None]] = set()
        self._producer: AIOKafkaProducer | None = None
        self._follower = TopicFollower(RETURNS_EVENTS, self.learn)
        self.followers = (self._follower,)
        self.subscription = Subscription({SHIPPING_EVENTS: self.handle}, self._tracker)

    def learn(self, record: Record) -> None:
        """One record of `returns.events.v1`: remember what each authorised RMA should contain."""
        envelope = read_envelope(record, wanted={ReturnAuthorised.event_type})
        if envelope is None or envelope.event_type != ReturnAuthorised.event_type:
            return
        try:
            authorised = ReturnAuthorised.model_validate(envelope.payload)
        except ValidationError as error:
            log.warning("event does not fit its contract; skipped", error=str(error.errors()[:1]))
            return
        self._expected[authorised.rma_id] = ExpectedReturn(
            authorised.sku, tuple(authorised.expected_serials)
        )
        self._authorised(authorised.rma_id).set()

    def _authorised(self, rma_id: uuid.UUID) -> asyncio.Event:
        return self._authorisations.setdefault(rma_id, asyncio.Event())

    async def run(self, stop: asyncio.Event) -> None:
        """Follow authorisations, consume return labels and send the returns until `stop`, as a
        group of its own."""
        await run_in_group(self._kafka, self._group_id, [self], stop)

    async def start(self) -> None:
        """Connect the producer; wait until every authorisation already published is known."""
        self._producer = producer_for(self._kafka, self._group_id)
        await self._producer.start()
        await self._follower.caught_up.wait()

    async def stop(self) -> None:
        """Abandon the returns on their way (sent again after a restart)."""
        await cancel_and_wait(self._tasks)
        if self._producer is not None:
            await self._producer.stop()

    async def handle(self, record: Record) -> None:
        """One record of `shipping.events.v1`: a return label sends the customer's parcel."""
        envelope = read_envelope(record, wanted={ReturnLabelPurchased.event_type})
        if (
            envelope is None
            or envelope.event_type != ReturnLabelPurchased.event_type
            or not self._seen.add(envelope.event_id)
        ):
            return
        try:
            label = ReturnLabelPurchased.model_validate(envelope.payload)
        except ValidationError as error:
            log.warning("event does not fit its contract; skipped", error=str(error.errors()[:1]))
            return
        self._tracker.opened(
            label.rma_id, TopicPartition(record.topic, record.partition), record.offset
        )
        task = asyncio.get_running_loop().create_task(self._send_back(label))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("return failed", error=repr(task.exception()))

    async def _send_back(self, label: ReturnLabelPurchased) -> None:
        await self._authorised(label.rma_id).wait()  # the label can overtake the authorisation
        await asyncio.sleep(self.settings.transit_delay)
        arrival = arrival_for(
            label.rma_id,
            self._expected[label.rma_id],
            label.return_to,
            self.settings,
            datetime.now(UTC),
        )
        assert self._producer is not None, "run() first"
        await publish_until_sent(
            self._producer,
            THREEPL_RECEIPTS.name,
            str(label.rma_id),
            arrival.model_dump_json().encode(),
            what=f"return {label.rma_id}",
        )
        log.info("return received at the dock", rma_id=str(label.rma_id), serial=arrival.serial)
        self._tracker.closed(label.rma_id)
