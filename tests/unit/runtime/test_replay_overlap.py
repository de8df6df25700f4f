"""A replay writes one batch while it reads the next, and still applies batches in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.runtime.replay.sources import Overlapped


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
