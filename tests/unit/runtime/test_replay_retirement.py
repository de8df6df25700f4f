"""A replay is done once its copy is swapped in; the tables the swap retired are dropped after
(`Rebuild.retire`), since dropping them waits for the queries still reading them. The next
replay waits for that moment rather than finding the rebuild's lock still held."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any, cast

import pytest

from services.runtime.replay import ReplayProgress, ReplayRunning
from services.runtime.replay.runner import Replays, run_replay


class RecordingRebuild:
    """A rebuild with nothing behind it that records what the progress said when it was retired."""

    def __init__(self, *, retire_fails: bool = False) -> None:
        self.state_when_retired: str | None = None
        self.finished_when_retired = False
        self.retire_fails = retire_fails
        self.progress: ReplayProgress | None = None

    async def begin(self) -> None:
        return None

    async def swap(self, catch_up: Callable[[], Awaitable[int]], *, complete: bool) -> int:
        return await catch_up()

    async def counts(self) -> dict[str, int]:
        return {"rows": 1}

    async def abandon(self) -> None:
        raise AssertionError("a replay that swapped is not abandoned")

    async def retire(self) -> None:
        assert self.progress is not None
        self.state_when_retired = self.progress.state
        self.finished_when_retired = self.progress.finished_at is not None
        if self.retire_fails:
            raise RuntimeError("the old tables could not be dropped")


async def replayed(rebuild: RecordingRebuild) -> ReplayProgress:
    progress = ReplayProgress(replay_id="r", source="stores")
    rebuild.progress = progress
    await run_replay(cast(Any, rebuild), [], progress)
    return progress


async def test_a_replay_is_reported_done_before_the_retired_tables_are_dropped() -> None:
    rebuild = RecordingRebuild()
    progress = await replayed(rebuild)
    assert progress.state == "done"
    assert rebuild.state_when_retired == "done"
    assert rebuild.finished_when_retired


async def test_a_replay_is_done_though_its_retired_tables_could_not_be_dropped() -> None:
    rebuild = RecordingRebuild(retire_fails=True)
    progress = await replayed(rebuild)
    assert progress.state == "done"
    assert progress.error is None
    assert rebuild.state_when_retired == "done"


async def test_a_replay_started_while_the_last_one_retires_waits_for_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runtime = SimpleNamespace(settings=SimpleNamespace(service_name="order"))
    replays = Replays(cast(Any, runtime), cast(Any, None))
    swapped = asyncio.Event()
    retired = asyncio.Event()
    runs: list[str] = []

    async def run(progress: ReplayProgress) -> None:
        runs.append(progress.replay_id)
        progress.state = "reading"
        if len(runs) == 1:
            await swapped.wait()
            progress.state = "done"
            await retired.wait()  # dropping the retired tables

    monkeypatch.setattr(replays, "run", run)
    first = await replays.start("stores")
    await asyncio.sleep(0)
    with pytest.raises(ReplayRunning):
        await replays.start("stores")

    swapped.set()
    await asyncio.sleep(0)
    second = asyncio.create_task(replays.start("stores"))
    await asyncio.sleep(0.05)
    assert not second.done(), "it waits for the tables to be dropped"
    retired.set()
    started = await asyncio.wait_for(second, 5)
    assert started.replay_id != first.replay_id
    await asyncio.sleep(0)
    assert runs == [first.replay_id, started.replay_id]
