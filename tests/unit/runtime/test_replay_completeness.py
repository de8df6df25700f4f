"""Whether a replay's sources held everything the live read models had when it began: the swap
of a rebuild that can look only at what arrived since relies on it (`Source.holds_all_consumed`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest

from services.runtime.eventstore import BlockingRunner
from services.runtime.replay import ReplayProgress
from services.runtime.replay.runner import run_replay
from services.runtime.replay.sources import StoresSource


async def nowhere(_: list[Any]) -> None:
    return None


@pytest.mark.parametrize(
    ("opened", "complete"),
    [([], True), (["the store of returns could not be opened: refused"], False)],
    ids=["every store read", "a store unreadable"],
)
async def test_the_stores_hold_everything_consumed_only_when_every_one_is_read(
    opened: list[str], complete: bool
) -> None:
    runner = BlockingRunner(workers=1)
    try:
        source = StoresSource(lambda: opened, runner, 100, nowhere, translated=True)
        progress = ReplayProgress(replay_id="r", source="stores")
        assert await source.size_up(progress) == 0
        assert source.holds_all_consumed is complete
        assert progress.notes == opened
    finally:
        runner.shutdown()


class Sized:
    def __init__(self, holds_all_consumed: bool) -> None:
        self.holds_all_consumed = holds_all_consumed

    async def size_up(self, progress: ReplayProgress) -> int:
        return 0

    async def read(self, progress: ReplayProgress) -> int:
        return 0

    async def verify(self, progress: ReplayProgress) -> None:
        return None

    async def catch_up(self, progress: ReplayProgress) -> int:
        return 0

    async def close(self) -> None:
        return None


class SwapRecorder:
    def __init__(self) -> None:
        self.complete: bool | None = None

    async def begin(self) -> None:
        return None

    async def swap(self, catch_up: Callable[[], Awaitable[int]], *, complete: bool) -> int:
        self.complete = complete
        return await catch_up()

    async def counts(self) -> dict[str, int]:
        return {}

    async def retire(self) -> None:
        return None


@pytest.mark.parametrize(
    ("held", "complete"),
    [((True, True), True), ((True, False), False), ((False,), False)],
)
async def test_a_swap_is_told_its_sources_were_complete_only_when_every_one_was(
    held: tuple[bool, ...], complete: bool
) -> None:
    rebuild = SwapRecorder()
    progress = ReplayProgress(replay_id="r", source="stores")
    await run_replay(cast(Any, rebuild), [cast(Any, Sized(each)) for each in held], progress)
    assert progress.state == "done"
    assert rebuild.complete is complete
