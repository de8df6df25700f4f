"""A consumer commits its offsets at most once per interval, each commit taking every batch
applied since the one before: while messages trickle in, a commit per batch would cost the broker
a request for every few messages."""

from __future__ import annotations

import asyncio
import time
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
