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

A service that names the topics paid → allocated crosses (order, inventory) fetches those all the
time and its other topics in spells (`fetch_wait.OffPathReads`); a poll's records of the order
path are applied as a batch of their own before the others'.

A broker that comes back empty (the embedded one keeps everything in memory) has forgotten the
group and its offsets. The inbox watches the broker's incarnation (see `topics.py`) and, when it
changes, leaves the old broker's group behind and joins afresh: every partition is read again from
its beginning while the producers' relays refill the topics (see `relay.py`), and what was applied
already is recognised as such. An offset of the last life must not reach the new broker: it names
a position in a log that is gone, and a member starting there would wait while everything
published below it went by (the embedded broker answers no "offset out of range"). So offsets
applied under one assignment are never committed under the next, a commit under way when the
partitions are taken back is dropped, and every partition gets its position from the inbox when
it is assigned: in a life the member has not consumed in yet, the beginning (committed at once,
over whatever the last life may have left: a commit sent between the broker forgetting the member
and the member joining again is taken by the empty group); otherwise the committed offset, unless
it lies past the log's end or beyond what this life recorded in the service's database before its
commits (`positions.py`: a commit of the last life taken by the empty group later on).

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
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from services.runtime.config import ServiceSettings
from services.runtime.consumer import INFRASTRUCTURE_ERRORS, Consumer
from services.runtime.faults import crash_point
from services.runtime.fetch_wait import FetchWait, OffPathReads
from services.runtime.kafka import client_security
from services.runtime.outages import OUTAGE_ERRORS, asked_to_stop
from services.runtime.positions import ConsumedPositions
from services.runtime.topics import BrokerIncarnation

log = structlog.get_logger(__name__)

FETCHER_WAKE_MS = 30
"""The longest aiokafka's fetch routine sleeps in a consumer that reads topics in spells."""

OUTAGE_PAUSE_SECONDS = (0.5, 1.0, 2.0, 4.0)
"""How long to wait before consuming a batch again after an outage (then the last, repeatedly)."""

FAILED_FETCHES_BEFORE_REJOINING = 3
"""Fetches in a row that raise before the member is replaced by a new one. aiokafka raises an
error pushed to it once, but the error that ended its group coordination at every fetch after:
such a member is given no partitions again, and what the group gave it waits for it."""

POSITIONS_TIMEOUT_SECONDS = 10.0
"""How long recording the positions before a commit may take; past it, those offsets are not
committed, as when the broker refuses a commit (a later commit covers its batches' partitions)."""

ASSIGNMENT_CHECK_TIMEOUT_SECONDS = 10.0
"""How long a member given partitions may take to read the broker's life, the committed offsets
and the logs' ends; past it, it reads its partitions from their beginning (the group waits)."""


class KafkaInbox:
    """Runs a `Consumer` against the broker until cancelled."""

    def __init__(
        self,
        consumer: Consumer,
        settings: ServiceSettings,
        incarnation: BrokerIncarnation | None = None,
        positions: ConsumedPositions | None = None,
    ) -> None:
        """`positions`: where the service keeps how far its consumer got in each broker life
        (None: the group's committed offsets are taken at their word)."""
        self._consumer = consumer
        self._settings = settings
        self._incarnation = incarnation
        self._positions = positions
        self._joined_incarnation: str | None = None
        self._consumed_life: str | None = None
        """The broker life whose committed offsets this member trusts: the one it started in, or
        the one it last read from the beginning (None: none, after it joined a new broker)."""
        self._incarnation_checked_at = time.monotonic()
        self._client: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._outage_since: float | None = None
        self._fetch_wait: FetchWait | None = None
        self._off_path: OffPathReads | None = None
        self._retried_at = time.monotonic()
        self._committing: asyncio.Task[None] | None = None
        """The offset commits under way, or done."""
        self._uncommitted: dict[TopicPartition, OffsetAndMetadata] = {}
        """Offsets after the batches applied, not yet handed to a commit."""
        self._unchecked: dict[TopicPartition, int] = {}
        """Partitions started at a committed offset not yet checked against the log's end."""
        self._assignments_given_up = 0
        """How many times the member gave its partitions up: a batch fetched before is not
        committed (its partitions' next positions are the next assignment's to set)."""
        self._committed_at = 0.0
        """When the last commit was sent (monotonic)."""
        self._in_flight: dict[TopicPartition, int] = {}
        """Records fetched and not yet applied and committed, by partition: behind, though the
        position moved."""
        self.last_batch_at: float | None = None

    async def start(self) -> None:
        if self._incarnation is not None:
            self._joined_incarnation = await self._incarnation.current()
            self._consumed_life = self._joined_incarnation
        # A member that cannot join yet is joined by the loop, after a pause.
        self._client = await self._join_or_none()
        self._task = asyncio.create_task(self._run(), name=f"inbox-{self._settings.service_name}")
        self._task.add_done_callback(_report_if_failed)

    async def _join(self) -> AIOKafkaConsumer:
        settings = self._settings
        spells = OffPathReads.reads_in_spells(
            settings.topics_on_the_order_path, settings.kafka_off_path_read_every_ms
        )
        client = AIOKafkaConsumer(
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
            # aiokafka's fetch routine sleeps up to this long when nothing it waits on happens,
            # and with partitions paused and resumed it did at times with no fetch under way:
            # at the default 200 ms a reservation then waited 200 to 250 ms (4 runs in 8 at 20
            # orders/s), at 30 ms never in the runs since (docs/benchmarks.md).
            consumer_timeout_ms=FETCHER_WAKE_MS if spells else 200,
            **client_security(),
        )
        client.subscribe(list(self._consumer.topics), listener=_Assignments(self, client))
        try:
            await client.start()
        except BaseException:
            # Its connections and tasks are its own until stopped, even when it never joined.
            with contextlib.suppress(Exception):
                await client.stop()
            raise
        self._fetch_wait = FetchWait(
            client,
            busy_ms=settings.kafka_fetch_max_wait_ms,
            idle_ms=settings.kafka_idle_fetch_max_wait_ms,
            quiet_after_seconds=settings.kafka_quiet_after_seconds,
        )
        self._off_path = OffPathReads(
            client,
            on_the_path=frozenset(settings.topics_on_the_order_path),
            every_seconds=settings.kafka_off_path_read_every_ms / 1000,
            # Long enough for the fetch under way to return and the next to name them.
            open_seconds=2 * settings.kafka_fetch_max_wait_ms / 1000,
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
        # Whatever the group holds on the new broker may include commits of the last life that
        # landed while the group was empty: the first assignment reads from the beginning.
        self._consumed_life = None
        self._client = await self._join_or_none()

    async def _assignment_given_up(self) -> None:
        """The group takes the member's partitions back (a rebalance, or a broker that forgot the
        member): what was applied and not yet committed is consumed again by whoever gets them,
        and a commit under way is dropped before the member joins again (its retries would carry
        it under the next generation)."""
        self._assignments_given_up += 1
        self._uncommitted = {}
        self._unchecked = {}
        committing = self._committing
        if committing is not None and not committing.done():
            committing.cancel()
            await asyncio.wait([committing])

    async def _position_assigned(
        self, client: AIOKafkaConsumer, assigned: set[TopicPartition]
    ) -> None:
        """Give each partition the member is given its position now, so none is taken later
        from a commit of the broker's last life that lands in between: in a life this member has
        not consumed in, the beginning (and commit it); else the committed offset, no further
        than the position this life recorded (`positions.py`), and checked against the log's end
        at the first fetch. What is read again is recognised as applied."""
        self._unchecked = {}
        if self._incarnation is None or not assigned:
            return
        partitions = sorted(assigned)
        try:
            life, committed, kept = await asyncio.wait_for(
                self._known_positions(partitions), ASSIGNMENT_CHECK_TIMEOUT_SECONDS
            )
        except Exception as error:  # the broker went away meanwhile, most likely
            log.warning(
                "committed offsets unknown: the partitions are read from their beginning",
                error=repr(error),
            )
            for partition in partitions:
                client.seek(partition, 0)
            return
        if life != self._consumed_life:
            log.info("a broker life not consumed in yet: its partitions read from the beginning")
            for partition in partitions:
                client.seek(partition, 0)
            try:
                await client.commit(
                    {partition: OffsetAndMetadata(0, "") for partition in partitions}
                )
            except KafkaError as error:
                log.info("the beginning not committed", error=repr(error))
            self._consumed_life = life
            return
        for partition in partitions:
            offset = max(0, committed.get(partition, 0))
            if kept is not None:
                # Beyond what any member of this life recorded, the commit is another life's.
                offset = min(offset, kept.get(partition, 0))
            client.seek(partition, offset)
            if offset > 0:
                self._unchecked[partition] = offset

    async def _known_positions(
        self, partitions: list[TopicPartition]
    ) -> tuple[str, dict[TopicPartition, int], dict[TopicPartition, int] | None]:
        """The broker's life, the group's committed offsets and the positions this life recorded
        (None when the service keeps none)."""
        life, committed = await self._life_and_committed(partitions)
        kept = None if self._positions is None else await self._positions.kept(life, partitions)
        return life, committed, kept

    async def _life_and_committed(
        self, partitions: list[TopicPartition]
    ) -> tuple[str, dict[TopicPartition, int]]:
        assert self._incarnation is not None
        life = await self._incarnation.current(fresh=True)
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._settings.kafka_bootstrap_servers,
            client_id=f"unitrail-{self._settings.service_name}",
            **client_security(),
        )
        await admin.start()
        try:
            committed = await admin.list_consumer_group_offsets(
                self._settings.service_name, partitions=partitions
            )
        finally:
            await admin.close()
        return life, {partition: meta.offset for partition, meta in committed.items()}

    def _check_against_the_logs_ends(self, client: AIOKafkaConsumer) -> None:
        """A committed offset past its log's end (known from the first fetch) was committed in
        the broker's last life and taken by the new one: read that partition from its beginning.
        (The embedded broker answers no "offset out of range" and misstates a log's end when asked
        for it directly; the high watermark of a fetch is right.)"""
        assigned = client.assignment()
        for partition, offset in list(self._unchecked.items()):
            if partition not in assigned:  # given up meanwhile
                del self._unchecked[partition]
                continue
            end = client.highwater(partition)
            if end is None:
                continue
            del self._unchecked[partition]
            if offset > end:
                log.warning(
                    "committed offset past the log's end, from the broker's last life: the "
                    "partition is read from its beginning",
                    partition=f"{partition.topic}[{partition.partition}]",
                    offset=offset,
                    end=end,
                )
                client.seek(partition, 0)

    async def _leave(self) -> None:
        """Stop the group member, after the offset commits under way: a member that joins next
        starts from the committed offsets."""
        old, self._client = self._client, None
        if self._off_path is not None:
            self._off_path.close()
            self._off_path = None
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
        if self._off_path is not None:
            self._off_path.close()
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
        pause = failed_fetches = 0
        while True:
            await self._rejoin_if_the_broker_changed()
            await self._retry_waiting()
            if self._client is None:
                self._client = await self._join_or_none()
                if self._client is None:
                    await asyncio.sleep(OUTAGE_PAUSE_SECONDS[-1])
                    continue
            client = self._client
            assignment = self._assignments_given_up
            try:
                fetched = await client.getmany(
                    timeout_ms=self._settings.consumer_batch_max_wait_ms,
                    max_records=self._settings.consumer_batch_max_messages,
                )
            except KafkaError as error:
                failed_fetches += 1
                if failed_fetches >= FAILED_FETCHES_BEFORE_REJOINING:
                    log.warning(
                        "the group member keeps failing: a new one joins",
                        error=repr(error),
                        failed_fetches=failed_fetches,
                    )
                    failed_fetches = 0
                    await self._leave()
                else:
                    log.warning("fetch failed, retrying", error=repr(error))
                await asyncio.sleep(OUTAGE_PAUSE_SECONDS[min(pause, 3)])
                pause += 1
                continue
            failed_fetches = 0
            if self._unchecked:
                self._check_against_the_logs_ends(client)
            records = [record for batch in fetched.values() for record in batch]
            if self._fetch_wait is not None:
                self._fetch_wait.observed(len(records))
            if self._off_path is not None:
                self._off_path.fetched(fetched)
            if not records:
                continue
            self._in_flight = {partition: len(batch) for partition, batch in fetched.items()}
            try:
                for batch_records in self._in_order_of_urgency(fetched, records):
                    await self._consumer.handle_batch(batch_records)
            except INFRASTRUCTURE_ERRORS as error:
                self._in_flight = {}
                self._outage_since = self._outage_since or time.monotonic()
                log.warning(
                    "infrastructure unavailable; the batch will be consumed again",
                    error=repr(error),
                    size=len(records),
                )
                if assignment == self._assignments_given_up:
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
            if assignment != self._assignments_given_up:
                continue
            self._uncommitted.update(
                (partition, OffsetAndMetadata(batch[-1].offset + 1, ""))
                for partition, batch in fetched.items()
            )
            if self._committing is None or self._committing.done():
                self._committing = asyncio.create_task(self._commit(client))

    def _in_order_of_urgency(
        self, fetched: dict[TopicPartition, list[Any]], records: list[Any]
    ) -> list[list[Any]]:
        """The records of a poll as the batches to apply, in turn: those of the topics on the
        order path first, then the others (a spell of them holds more, and a customer waits on
        none), so that a reservation never waits for the warehouses' scans of the last spell.
        Each partition's records stay in order in one batch."""
        if self._off_path is None or not self._off_path.enabled:
            return [records]
        urgent: list[Any] = []
        later: list[Any] = []
        for partition, batch in fetched.items():
            (urgent if self._off_path.on_the_path(partition) else later).extend(batch)
        return [batch for batch in (urgent, later) if batch]

    async def _committed(self) -> None:
        """Wait for the offset commits under way, if any (before the client stops)."""
        committing = self._committing
        if committing is not None:
            await asyncio.wait([committing])
            if not committing.cancelled():
                committing.exception()  # a failed commit was logged by it; costs a redelivery
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
                # Recorded first: a commit the broker holds is never beyond what its life recorded.
                await self._keep_positions(offsets)
                await client.commit(offsets)
            except (CommitFailedError, KafkaError, *OUTAGE_ERRORS) as error:
                # The partitions moved to another member (or the broker or the database is away):
                # the next owner consumes these records again and recognises them as applied.
                log.info("offsets not committed", error=repr(error))

    async def _keep_positions(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        life = self._consumed_life
        if self._positions is None or life is None:
            return
        await asyncio.wait_for(
            self._positions.keep(life, {tp: meta.offset for tp, meta in offsets.items()}),
            POSITIONS_TIMEOUT_SECONDS,
        )

    @property
    def joined_incarnation(self) -> str | None:
        """The broker life whose group this member joined (None: not started)."""
        return self._joined_incarnation

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


class _Assignments(ConsumerRebalanceListener):  # type: ignore[misc]
    """Tells the inbox when its member gives its partitions up and when it is given some."""

    def __init__(self, inbox: KafkaInbox, client: AIOKafkaConsumer) -> None:
        self._inbox = inbox
        self._client = client

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._inbox._assignment_given_up()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._inbox._position_assigned(self._client, assigned)


def _report_if_failed(task: asyncio.Task[None]) -> None:
    """A consumer stopped by what its own recovery does not catch (an exit, not an error) says
    why: `/health` shows it not alive, and the log says what stopped it (an asyncio task keeps
    its error to itself otherwise)."""
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("consumer stopped", error=repr(error), exc_info=error)
