"""The Kafka side of a service's consumer: fetch batches, apply them, then commit their offsets.

One group member per service process reads all the service's topics (members of one group with
different subscriptions would make the group rebalance back and forth). It takes what the broker
has delivered, up to a batch size, hands it to `Consumer.handle_batch` (one transaction), and only
then commits the offsets. The commit goes out while the next batch is fetched and applied (one
commit at a time, at most one per `UNITRAIL_CONSUMER_COMMIT_INTERVAL_MS`; what is applied
meanwhile goes in the next): waiting for its round trip would delay every message behind it, and
a commit that never lands costs only a redelivery, recognised as such. When the database or the
broker is away, the batch is not committed: the partitions are rewound to its first records and
consumed again after a pause, so nothing is skipped and, because effects are deduplicated on event
identity, nothing is applied twice.

A broker that comes back empty (the embedded one keeps everything in memory) has forgotten the
group and its offsets. The inbox watches the broker's incarnation (see `topics.py`) and, when it
changes, leaves the old broker's group behind and joins afresh: every partition is read again from
its beginning while the producers' relays refill the topics (see `relay.py`), and what was applied
already is recognised as such.

An error nothing expected (a bug, an error of a dependency not yet known as an outage) does not
stop the consumer either: it is logged, the member leaves the group and joins again after a pause,
and consumes again from the committed offsets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from services.runtime.config import ServiceSettings
from services.runtime.consumer import INFRASTRUCTURE_ERRORS, Consumer
from services.runtime.faults import crash_point
from services.runtime.fetch_wait import FetchWait
from services.runtime.kafka import client_security
from services.runtime.outages import asked_to_stop
from services.runtime.topics import BrokerIncarnation

log = structlog.get_logger(__name__)

OUTAGE_PAUSE_SECONDS = (0.5, 1.0, 2.0, 4.0)
"""How long to wait before consuming a batch again after an outage (then the last, repeatedly)."""


class KafkaInbox:
    """Runs a `Consumer` against the broker until cancelled."""

    def __init__(
        self,
        consumer: Consumer,
        settings: ServiceSettings,
        incarnation: BrokerIncarnation | None = None,
    ) -> None:
        self._consumer = consumer
        self._settings = settings
        self._incarnation = incarnation
        self._joined_incarnation: str | None = None
        self._incarnation_checked_at = time.monotonic()
        self._client: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._outage_since: float | None = None
        self._fetch_wait: FetchWait | None = None
        self._retried_at = time.monotonic()
        self._committing: asyncio.Task[None] | None = None
        """The offset commits under way, or done."""
        self._uncommitted: dict[TopicPartition, OffsetAndMetadata] = {}
        """Offsets after the batches applied, not yet handed to a commit."""
        self._committed_at = 0.0
        """When the last commit was sent (monotonic)."""
        self._in_flight: dict[TopicPartition, int] = {}
        """Records fetched and not yet applied and committed, by partition: behind, though the
        position moved."""
        self.last_batch_at: float | None = None

    async def start(self) -> None:
        if self._incarnation is not None:
            self._joined_incarnation = await self._incarnation.current()
        self._client = await self._join()
        self._task = asyncio.create_task(self._run(), name=f"inbox-{self._settings.service_name}")
        self._task.add_done_callback(_report_if_failed)

    async def _join(self) -> AIOKafkaConsumer:
        settings = self._settings
        client = AIOKafkaConsumer(
            *self._consumer.topics,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.service_name,
            client_id=f"unitrail-{settings.service_name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=max(100, settings.kafka_session_timeout_ms // 5),
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            max_poll_records=settings.consumer_batch_max_messages,
            # A broker that came back empty has no topics until they are created again; the
            # member must notice them soon, not at the library's default of five minutes.
            metadata_max_age_ms=settings.kafka_metadata_max_age_ms,
            **client_security(),
        )
        await client.start()
        self._fetch_wait = FetchWait(
            client,
            busy_ms=settings.kafka_fetch_max_wait_ms,
            idle_ms=settings.kafka_idle_fetch_max_wait_ms,
            quiet_after_seconds=settings.kafka_quiet_after_seconds,
        )
        return client

    async def _rejoin_if_the_broker_changed(self) -> None:
        """A new broker incarnation knows nothing of the group: join it with a new member."""
        if self._incarnation is None:
            return
        now = time.monotonic()
        if now - self._incarnation_checked_at < self._incarnation.check_seconds:
            return
        self._incarnation_checked_at = now
        try:
            current = await self._incarnation.current()
        except KafkaError as error:
            log.info("broker incarnation unknown for now", error=repr(error))
            return
        if current == self._joined_incarnation:
            return
        log.warning(
            "the broker is a new one: joining its group afresh",
            incarnation=current,
            previous=self._joined_incarnation,
        )
        await self._leave()
        self._joined_incarnation = current
        self._client = await self._join_or_none()

    async def _leave(self) -> None:
        """Stop the group member, after the offset commits under way: a member that joins next
        starts from the committed offsets."""
        old, self._client = self._client, None
        await self._committed()
        if old is not None:
            try:
                await asyncio.wait_for(old.stop(), 10)
            except (Exception, asyncio.CancelledError) as error:
                if asked_to_stop():
                    raise
                # The old member is dropped whatever its stop says.
                log.info("the old group member did not stop cleanly", error=repr(error))

    async def _retry_waiting(self) -> None:
        """Every few seconds, try again the events that came before what they depend on."""
        now = time.monotonic()
        if now - self._retried_at < self._settings.consumer_retry_seconds:
            return
        self._retried_at = now
        try:
            applied = await self._consumer.retry_waiting()
        except INFRASTRUCTURE_ERRORS as error:
            log.info("waiting events not retried: a dependency is away", error=repr(error))
            return
        if applied:
            log.info("waiting events applied", count=applied)

    async def _join_or_none(self) -> AIOKafkaConsumer | None:
        try:
            return await self._join()
        except KafkaError as error:
            log.warning("could not join the group yet", error=repr(error))
            return None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._committed()
        if self._client is not None:
            await self._client.stop()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> None:
        """Consume until cancelled, whatever fails: a consumer that stopped for good would strand
        every message behind it while the process looked alive."""
        failures = 0
        while True:
            try:
                await self._consume()
            except (Exception, asyncio.CancelledError) as error:
                if asked_to_stop():
                    raise
                # Nothing expected this (a bug, or an error of a dependency not yet known as an
                # outage). The batch was not committed: leave the group and join again, so the
                # new member consumes it again from the committed offsets; what was applied is
                # recognised as such, so nothing is lost or applied twice.
                failures = failures + 1 if self._outage_since is not None else 1
                self._outage_since = self._outage_since or time.monotonic()
                self._in_flight = {}
                log.error(
                    "consuming failed unexpectedly; joining again after a pause",
                    error=repr(error),
                    failures=failures,
                    exc_info=error,
                )
                await self._leave()
                await asyncio.sleep(OUTAGE_PAUSE_SECONDS[min(failures - 1, 3)])

    async def _consume(self) -> None:
        pause = 0
        while True:
            await self._rejoin_if_the_broker_changed()
            await self._retry_waiting()
            if self._client is None:
                self._client = await self._join_or_none()
                if self._client is None:
                    await asyncio.sleep(OUTAGE_PAUSE_SECONDS[-1])
                    continue
            client = self._client
            try:
                fetched = await client.getmany(
                    timeout_ms=self._settings.consumer_batch_max_wait_ms,
                    max_records=self._settings.consumer_batch_max_messages,
                )
            except KafkaError as error:
                log.warning("fetch failed, retrying", error=repr(error))
                await asyncio.sleep(OUTAGE_PAUSE_SECONDS[min(pause, 3)])
                pause += 1
                continue
            records = [record for batch in fetched.values() for record in batch]
            if self._fetch_wait is not None:
                self._fetch_wait.observed(len(records))
            if not records:
                continue
            self._in_flight = {partition: len(batch) for partition, batch in fetched.items()}
            try:
                await self._consumer.handle_batch(records)
            except INFRASTRUCTURE_ERRORS as error:
                self._in_flight = {}
                self._outage_since = self._outage_since or time.monotonic()
                log.warning(
                    "infrastructure unavailable; the batch will be consumed again",
                    error=repr(error),
                    size=len(records),
                )
                for partition, batch in fetched.items():
                    client.seek(partition, batch[0].offset)
                await asyncio.sleep(OUTAGE_PAUSE_SECONDS[min(pause, 3)])
                pause += 1
                continue
            pause = 0
            self._outage_since = None
            self.last_batch_at = time.monotonic()
            crash_point("consumer.after-commit")
            self._in_flight = {}
            self._uncommitted.update(
                (partition, OffsetAndMetadata(batch[-1].offset + 1, ""))
                for partition, batch in fetched.items()
            )
            if self._committing is None or self._committing.done():
                self._committing = asyncio.create_task(self._commit(client))

    async def _committed(self) -> None:
        """Wait for the offset commits under way, if any (before the client stops)."""
        if self._committing is not None:
            with contextlib.suppress(Exception):
                await self._committing
            self._committing = None
        self._uncommitted = {}

    async def _commit(self, client: AIOKafkaConsumer) -> None:
        """Commit the offsets after the batches applied so far, one commit at a time and at most
        one per `consumer_commit_interval_ms`, until none is left: the batches applied meanwhile
        go in the next one together."""
        interval = self._settings.consumer_commit_interval_ms / 1000
        while self._uncommitted:
            wait = self._committed_at + interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            offsets, self._uncommitted = self._uncommitted, {}
            self._committed_at = time.monotonic()
            try:
                await client.commit(offsets)
            except (CommitFailedError, KafkaError) as error:
                # The partitions moved to another member (or the broker is away): the next owner
                # consumes these records again and recognises them as applied.
                log.info("offsets not committed", error=repr(error))

    async def status(self) -> dict[str, Any]:
        """Alive, how far behind (messages the broker holds beyond the member's position, over its
        partitions, plus those fetched and not yet committed; None while unknown), the same for
        each partition it is assigned (`partition_lag`, topic to partition to messages), how much
        of that is partners' messages (`partner_lag`: on a broker that keeps nothing when it
        stops, what would be lost with it; events topics are published again from the stores),
        its partitions, dead letters (with how many of each kind of reason), and counters."""
        lag: int | None = None
        partner_lag: int | None = None
        by_partition: dict[str, dict[str, int]] | None = None
        assigned: list[str] = []
        if self._client is not None and self.alive:
            partitions = self._client.assignment()
            assigned = sorted(f"{p.topic}[{p.partition}]" for p in partitions)
            partner_topics = set(self._consumer.intake_topics)
            lag = partner_lag = 0
            by_partition = {}
            for partition in sorted(partitions):
                highwater = self._client.highwater(partition)
                try:
                    position = await asyncio.wait_for(self._client.position(partition), 1)
                except (TimeoutError, KafkaError, AssertionError):
                    lag = partner_lag = by_partition = None
                    break
                if highwater is None:
                    lag = partner_lag = by_partition = None
                    break
                behind = max(0, highwater - position)
                lag += behind
                if partition.topic in partner_topics:
                    partner_lag += behind
                by_partition.setdefault(partition.topic, {})[str(partition.partition)] = behind
        if lag is not None and partner_lag is not None and by_partition is not None:
            # Read after the positions: a batch fetched meanwhile moved them past its records.
            in_flight = self._in_flight
            for partition, fetched in in_flight.items():
                on_topic = by_partition.setdefault(partition.topic, {})
                on_topic[str(partition.partition)] = (
                    on_topic.get(str(partition.partition), 0) + fetched
                )
            lag += sum(in_flight.values())
            # What is being applied may come from any topic: counted as a partner's, to be safe.
            partner_lag += sum(in_flight.values())
        by_type: dict[str, dict[str, int]] | None
        try:
            by_type = await asyncio.to_thread(self._consumer.dead_letters.counts_by_type)
        except Exception:  # the database is away: health says so under its own key
            by_type = None
        dead_letters: dict[str, int | None] = {
            state: None if by_type is None else sum(by_type[state].values())
            for state in ("dead", "parked")
        }
        return {
            "alive": self.alive,
            "lag": lag,
            "partner_lag": partner_lag,
            "partition_lag": by_partition,
            "partitions": len(assigned),
            "paused_by_outage_seconds": (
                round(time.monotonic() - self._outage_since, 1) if self._outage_since else None
            ),
            "dead_letters": dead_letters["dead"],
            "parked": dead_letters["parked"],
            "letters_by_type": by_type,
            **self._consumer.counters.snapshot(),
        }


def _report_if_failed(task: asyncio.Task[None]) -> None:
    """A consumer stopped by what its own recovery does not catch (an exit, not an error) says
    why: `/health` shows it not alive, and the log says what stopped it (an asyncio task keeps
    its error to itself otherwise)."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("consumer stopped", error=repr(error), exc_info=error)
