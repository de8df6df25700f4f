"""A consumer commits its offsets at most once per interval, each commit taking every batch
applied since the one before: while messages trickle in, a commit per batch would cost the broker
a request for every few messages. And offsets applied under one assignment are never committed
under the next."""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata

from services.runtime.config import ServiceSettings
from services.runtime.consumer import Consumer
from services.runtime.inbox import KafkaInbox

FIRST = TopicPartition("order.events.v1", 0)
SECOND = TopicPartition("order.events.v1", 1)


class Settings(ServiceSettings):
    service_name = "order"


def inbox_committing_every(milliseconds: int, monkeypatch: pytest.MonkeyPatch) -> KafkaInbox:
    monkeypatch.setenv("UNITRAIL_CONSUMER_COMMIT_INTERVAL_MS", str(milliseconds))
    return KafkaInbox(cast(Consumer, None), Settings())


class RecordingClient:
    def __init__(self) -> None:
        self.commits: list[tuple[float, dict[TopicPartition, int]]] = []

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.commits.append((time.monotonic(), {tp: meta.offset for tp, meta in offsets.items()}))


async def test_commits_come_an_interval_apart_each_with_what_was_applied_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox = inbox_committing_every(150, monkeypatch)
    client = RecordingClient()

    inbox._uncommitted = {FIRST: OffsetAndMetadata(5, "")}
    await inbox._commit(cast(Any, client))  # the first goes at once
    assert [offsets for _, offsets in client.commits] == [{FIRST: 5}]

    # A batch applied right after starts the next commit (as the inbox does), which waits out
    # the interval; a second batch applied meanwhile goes in the same commit.
    inbox._uncommitted[FIRST] = OffsetAndMetadata(9, "")
    committing = asyncio.create_task(inbox._commit(cast(Any, client)))
    await asyncio.sleep(0.01)
    assert len(client.commits) == 1
    inbox._uncommitted[SECOND] = OffsetAndMetadata(3, "")
    await committing

    assert [offsets for _, offsets in client.commits] == [{FIRST: 5}, {FIRST: 9, SECOND: 3}]
    assert client.commits[1][0] - client.commits[0][0] >= 0.15
    assert inbox._uncommitted == {}


async def test_an_interval_of_zero_commits_as_soon_as_the_last_commit_is_done(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox = inbox_committing_every(0, monkeypatch)
    client = RecordingClient()
    inbox._uncommitted = {FIRST: OffsetAndMetadata(5, "")}
    await inbox._commit(cast(Any, client))
    inbox._uncommitted = {FIRST: OffsetAndMetadata(6, "")}
    await inbox._commit(cast(Any, client))
    assert [offsets for _, offsets in client.commits] == [{FIRST: 5}, {FIRST: 6}]


class AnsweredWhenToldClient(RecordingClient):
    """A broker that takes a commit only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()

    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        await self.answer.wait()
        await super().commit(offsets)


async def test_partitions_given_up_drop_what_is_not_committed_and_the_commit_under_way(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Offsets applied under one assignment are never committed under the next: after a broker
    that came back empty, they would name positions in a log that is gone."""
    inbox = inbox_committing_every(0, monkeypatch)
    client = AnsweredWhenToldClient()
    inbox._uncommitted = {FIRST: OffsetAndMetadata(5, "")}
    committing = asyncio.create_task(inbox._commit(cast(Any, client)))
    inbox._committing = committing
    await asyncio.sleep(0.01)  # sent; the broker has not answered
    inbox._uncommitted = {SECOND: OffsetAndMetadata(3, "")}

    await inbox._assignment_given_up()
    client.answer.set()
    await asyncio.sleep(0.01)

    assert committing.cancelled()
    assert inbox._uncommitted == {}
    assert client.commits == []
    await inbox._committed()  # a member leaving after it waits for nothing more


class OneBatchClient(RecordingClient):
    def __init__(self) -> None:
        super().__init__()
        self.fetches = 0

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[SimpleNamespace]]:
        self.fetches += 1
        if self.fetches > 1:
            await asyncio.sleep(3600)
        return {FIRST: [SimpleNamespace(offset=7), SimpleNamespace(offset=8)]}


class GivenUpWhileApplying:
    """A consumer during whose batch the group takes the partitions back."""

    def __init__(self) -> None:
        self.inbox: KafkaInbox | None = None
        self.applied = asyncio.Event()

    async def handle_batch(self, records: list[Any]) -> list[Any]:
        assert self.inbox is not None
        await self.inbox._assignment_given_up()
        self.applied.set()
        return []


async def test_a_batch_applied_while_its_partitions_were_given_up_is_not_committed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNITRAIL_CONSUMER_COMMIT_INTERVAL_MS", "0")
    consumer = GivenUpWhileApplying()
    inbox = KafkaInbox(cast(Consumer, consumer), Settings())
    consumer.inbox = inbox
    client = OneBatchClient()
    inbox._client = cast(Any, client)
    consuming = asyncio.create_task(inbox._consume())
    try:
        await asyncio.wait_for(consumer.applied.wait(), 5)
        await asyncio.sleep(0.05)
    finally:
        consuming.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consuming
    assert client.fetches == 2  # applied, and on to the next fetch
    assert inbox._uncommitted == {}
    assert client.commits == []


class FetchedClient:
    """The assigned partitions and the log ends fetches have shown (None: none fetched yet)."""

    def __init__(self, ends: dict[TopicPartition, int | None]) -> None:
        self.ends = ends
        self.seeks: list[tuple[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return set(self.ends)

    def highwater(self, partition: TopicPartition) -> int | None:
        assert partition in self.ends, "Partition is not assigned"  # as aiokafka asserts
        return self.ends[partition]

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append((partition, offset))


def test_a_committed_offset_past_the_log_s_end_is_read_from_the_beginning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox = inbox_committing_every(0, monkeypatch)
    given_up = TopicPartition("order.events.v1", 2)
    client = FetchedClient({FIRST: 20, SECOND: None})
    inbox._unchecked = {FIRST: 100, SECOND: 5, given_up: 7}

    inbox._check_against_the_logs_ends(cast(Any, client))
    assert client.seeks == [(FIRST, 0)]
    assert inbox._unchecked == {SECOND: 5}  # its end not fetched yet

    client.ends[SECOND] = 9
    inbox._check_against_the_logs_ends(cast(Any, client))
    assert client.seeks == [(FIRST, 0)]  # 5 is within the log: kept
    assert inbox._unchecked == {}


class AssigningClient(FetchedClient):
    async def commit(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        self.commits = {tp: meta.offset for tp, meta in offsets.items()}


class Lives:
    """A broker incarnation reader that says which life the broker is in."""

    check_seconds = 5.0

    def __init__(self, life: str) -> None:
        self.life = life

    async def current(self, *, fresh: bool = False) -> str:
        return self.life


async def test_partitions_are_read_from_the_beginning_in_a_life_not_consumed_in_yet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Started in a life, a member trusts the group's commits there (past the log's end aside);
    after it joined a new broker, or was moved there by its client, it reads every partition it
    is given from the beginning and commits that, over whatever the last life left."""
    lives = Lives("life-1")
    inbox = KafkaInbox(cast(Consumer, None), Settings(), cast(Any, lives))
    inbox._joined_incarnation = inbox._consumed_life = "life-1"
    committed = {FIRST: 40, SECOND: 12}

    async def life_and_committed(partitions: list[TopicPartition]) -> tuple[str, dict[Any, int]]:
        return lives.life, committed

    monkeypatch.setattr(inbox, "_life_and_committed", life_and_committed)

    client = AssigningClient({FIRST: None, SECOND: None})
    await inbox._position_assigned(cast(Any, client), {FIRST, SECOND})
    assert sorted(client.seeks) == [(FIRST, 40), (SECOND, 12)]
    assert inbox._unchecked == {FIRST: 40, SECOND: 12}

    lives.life = "life-2"  # the client rejoined a broker that came back empty
    client = AssigningClient({FIRST: None, SECOND: None})
    await inbox._position_assigned(cast(Any, client), {FIRST, SECOND})
    assert sorted(client.seeks) == [(FIRST, 0), (SECOND, 0)]
    assert client.commits == {FIRST: 0, SECOND: 0}
    assert inbox._consumed_life == "life-2"

    # The inbox notices the new life and joins it afresh: its first assignment there reads
    # from the beginning again, whatever was committed meanwhile.
    monkeypatch.setattr(inbox, "_leave", lambda: asyncio.sleep(0))
    monkeypatch.setattr(inbox, "_join_or_none", lambda: asyncio.sleep(0))
    inbox._incarnation_checked_at = -1e9
    await inbox._rejoin_if_the_broker_changed()
    assert inbox._joined_incarnation == "life-2"
    client = AssigningClient({FIRST: None, SECOND: None})
    await inbox._position_assigned(cast(Any, client), {FIRST, SECOND})
    assert sorted(client.seeks) == [(FIRST, 0), (SECOND, 0)]


class KeptPositions:
    """A service's recorded positions, by broker life (`ConsumedPositions`), in memory."""

    def __init__(self) -> None:
        self.by_life: dict[str, dict[TopicPartition, int]] = {}
        self.failing: Exception | None = None

    async def keep(self, life: str, offsets: dict[TopicPartition, int]) -> None:
        if self.failing is not None:
            raise self.failing
        kept = self.by_life.setdefault(life, {})
        for partition, offset in offsets.items():
            kept[partition] = max(kept.get(partition, 0), offset)

    async def kept(self, life: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        kept = self.by_life.get(life, {})
        return {partition: kept[partition] for partition in partitions if partition in kept}


async def test_a_member_starts_no_further_on_than_what_its_life_recorded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A commit of the last life taken by the empty group lies within the new log: only what
    this life recorded before its own commits says how far its members got."""
    positions = KeptPositions()
    inbox = KafkaInbox(
        cast(Consumer, None), Settings(), cast(Any, Lives("life-2")), cast(Any, positions)
    )
    inbox._joined_incarnation = inbox._consumed_life = "life-2"
    positions.by_life = {"life-1": {FIRST: 90, SECOND: 90}, "life-2": {FIRST: 25}}
    committed = {FIRST: 40, SECOND: 12}  # both beyond what life 2 recorded

    async def life_and_committed(partitions: list[TopicPartition]) -> tuple[str, dict[Any, int]]:
        return "life-2", committed

    monkeypatch.setattr(inbox, "_life_and_committed", life_and_committed)
    client = AssigningClient({FIRST: None, SECOND: None})
    await inbox._position_assigned(cast(Any, client), {FIRST, SECOND})
    assert sorted(client.seeks) == [(FIRST, 25), (SECOND, 0)]

    committed = {FIRST: 20, SECOND: 12}  # the group's commit behind the record: taken
    positions.by_life["life-2"][SECOND] = 30
    client = AssigningClient({FIRST: None, SECOND: None})
    await inbox._position_assigned(cast(Any, client), {FIRST, SECOND})
    assert sorted(client.seeks) == [(FIRST, 20), (SECOND, 12)]


async def test_offsets_are_recorded_under_the_life_consumed_in_before_they_are_committed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNITRAIL_CONSUMER_COMMIT_INTERVAL_MS", "0")
    positions = KeptPositions()
    inbox = KafkaInbox(
        cast(Consumer, None), Settings(), cast(Any, Lives("life-2")), cast(Any, positions)
    )
    inbox._consumed_life = "life-2"
    client = RecordingClient()

    inbox._uncommitted = {FIRST: OffsetAndMetadata(7, "")}
    await inbox._commit(cast(Any, client))
    assert positions.by_life == {"life-2": {FIRST: 7}}
    assert [offsets for _, offsets in client.commits] == [{FIRST: 7}]

    # Not recorded (the database away): not committed either, so the broker never holds an
    # offset of this life beyond what it recorded.
    positions.failing = OSError("the database is away")
    inbox._uncommitted = {FIRST: OffsetAndMetadata(9, "")}
    await inbox._commit(cast(Any, client))
    assert [offsets for _, offsets in client.commits] == [{FIRST: 7}]
    assert positions.by_life == {"life-2": {FIRST: 7}}
