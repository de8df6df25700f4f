"""The simulated 3PL's floor: its work in progress, its delays and its clock.

The pieces of work of one shipment (or purchase) run in turn, so that its messages stay in order;
each delay varies by a jitter drawn from the shipment's own randomness, so that a run repeats.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

log = structlog.get_logger(__name__)


def now() -> datetime:
    return datetime.now(UTC)


def jittered(rng: random.Random, seconds: float, jitter: float) -> float:
    """`seconds`, varied by up to `jitter` of itself, drawn from `rng`."""
    return seconds * rng.uniform(1 - jitter, 1 + jitter) if seconds > 0 else 0.0


class Sequenced(Protocol):
    """A shipment or a purchase: its work, oldest first; each piece starts when the one before is
    done."""

    tasks: list[asyncio.Task[None]]


class Floor:
    """Every piece of work in progress, to wait for (`idle`) or abandon (`stop`) together."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def then(self, holder: Sequenced, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` after the holder's work in progress, so its messages stay in order."""
        previous = [task for task in holder.tasks if not task.done()]

        async def in_turn() -> None:
            try:
                if previous:
                    await asyncio.wait(previous)
            except asyncio.CancelledError:
                work.close()  # never started: nothing to clean up but the coroutine itself
                raise
            await work

        task = asyncio.get_running_loop().create_task(in_turn())
        holder.tasks = [*previous, task]
        self._track(task)

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` alongside the rest, in no turn."""
        self._track(asyncio.get_running_loop().create_task(work))

    async def idle(self) -> None:
        """Wait until no work is in progress (for tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Abandon the work in progress."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("3PL work failed", error=repr(task.exception()))
