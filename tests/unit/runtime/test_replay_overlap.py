"""A replay writes one batch while it reads the next, and still applies batches in order; kept
messages are read while other ranges are written."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from services.runtime.replay.progress import ReplayProgress
from services.runtime.replay.sources import Overlapped
from services.runtime.replay.workers import copy_kept_ranges


async def test_a_batch_is_written_while_the_next_is_read_and_batches_apply_in_order() -> None:
    applied: list[list[int]] = []
    log: list[str] = []

    async def write(batch: list[Any]) -> None:
        log.append(f"write {batch[0]} starts")
        await asyncio.sleep(0.01)
        applied.append(batch)
        log.append(f"write {batch[0]} ends")

    async with Overlapped(write) as apply:
        for number in range(3):
            log.append(f"read {number}")
            await apply([number])
            await asyncio.sleep(0)  # reading the next page: the write goes on meanwhile
    assert applied == [[0], [1], [2]]
    assert log.index("write 0 starts") < log.index("read 1") < log.index("write 0 ends")
    assert log.index("write 0 ends") < log.index("write 1 starts"), "one write at a time"


async def test_after_a_failed_read_the_last_write_is_not_waited_for() -> None:
    finished: list[int] = []

    async def write(batch: list[Any]) -> None:
        await asyncio.sleep(10)
        finished.extend(batch)

    async def read_then_fail() -> None:
        async with Overlapped(write) as apply:
            await apply([1])
            raise RuntimeError("page unreadable")

    started = asyncio.get_running_loop().time()
    with pytest.raises(RuntimeError, match="page unreadable"):
        await read_then_fail()
    assert asyncio.get_running_loop().time() - started < 5
    assert finished == []


class SlowWrites:
    """Kept messages of one store, read at once and written slowly, with what happened when."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.log: list[str] = []
        self.fail_at = fail_at
        self._lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0

    def read_kept(self, after: int, upto: int) -> tuple[bytes, int]:
        with self._lock:
            self.log.append(f"read {after}")
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return f"{after}".encode(), upto - after

    def write(self, block: bytes) -> None:
        self.log.append(f"write {block.decode()} starts")
        time.sleep(0.05)
        if self.fail_at is not None and int(block) == self.fail_at:
            raise RuntimeError(f"block {self.fail_at} refused")
        with self._lock:
            self.log.append(f"write {block.decode()} ends")
            self.in_flight -= 1


async def test_kept_ranges_are_read_while_others_are_written_and_all_are_copied() -> None:
    store = SlowWrites()
    copies = [("order", start, start + 10) for start in range(0, 80, 10)]
    progress = ReplayProgress(replay_id="r", source="stores")
    copied = await copy_kept_ranges({"order": store}, copies, store.write, 2, progress)
    assert copied == progress.read == 80
    assert sorted(entry for entry in store.log if entry.endswith("ends")) == sorted(
        f"write {start} ends" for start in range(0, 80, 10)
    )
    # The third and fourth ranges were read before the first write ended: no writer waits.
    assert store.log.index("read 30") < store.log.index("write 0 ends")
    assert store.most_in_flight == 4, "at most twice the writers' ranges held at once"


async def test_after_a_failed_write_the_ranges_not_under_way_are_not_copied() -> None:
    store = SlowWrites(fail_at=10)
    copies = [("order", start, start + 10) for start in range(0, 80, 10)]
    progress = ReplayProgress(replay_id="r", source="stores")
    with pytest.raises(RuntimeError, match="block 10 refused"):
        await copy_kept_ranges({"order": store}, copies, store.write, 2, progress)
    await asyncio.sleep(0.2)  # anything left running would go on meanwhile
    assert "read 70" not in store.log
    assert "write 50 starts" not in store.log
