"""Running a replay in the background of a service process, one at a time, with its progress.

A replay sizes its sources up (so the progress has a total), reads them into the rebuild's copy,
checks that they held the whole history (else it refuses: the copy is dropped, the live read
models are untouched, and the progress says why), and has the rebuild swap the copy in, catching
up at the swap with what arrived meanwhile. What is read depends on the rebuild: the topics or
the stores of the services whose events it projects (`producers`), and the service's own store
(`own_store`) for read models derived from its own events, whatever the source: its topic carries
only their public form.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from services.runtime.replay.progress import (
    ReplayProgress,
    ReplayRefused,
    ReplayRunning,
    Source,
)
from services.runtime.replay.sources import (
    CopyMessages,
    EventStore,
    Projected,
    StoresSource,
    TopicsSource,
)
from services.runtime.replay.sources import (
    Source as ReplaySource,
)
from services.runtime.replay.workers import Prepare, StoresInWorkers

if TYPE_CHECKING:
    from services.runtime.config import ServiceSettings
    from services.runtime.eventstore import BlockingRunner
    from services.runtime.service import ServiceRuntime

log = structlog.get_logger(__name__)


class Rebuild(Protocol):
    """A copy of read models built beside the live ones, then swapped in."""

    producers: Sequence[str]
    """The services whose public events it projects: their topics or stores are read."""
    own_store: EventStore | None
    """The service's own store, when read models are derived from its own events."""
    copy_messages: CopyMessages | None
    """How it takes the producers' kept messages as they are, if it can (a replay from the
    stores then copies them in rather than decoding each event: `StoresInWorkers`)."""

    def wants(self, producer: str, event_type: str) -> bool:
        """Whether an event of this type by this producer is worth decoding."""
        ...

    async def begin(self) -> None:
        """Start an empty copy; raises `ReplayRunning` when another replay holds the copy."""
        ...

    async def apply(self, events: list[Projected]) -> None:
        """Project public events into the copy."""
        ...

    async def apply_own(self, events: list[Any]) -> None:
        """Project the service's own domain events into the copy."""
        ...

    @property
    def prepare(self) -> Prepare | None:
        """What a batch of public events becomes before it is written (pure, and a module's
        function: a replay from the stores runs it in worker processes, `StoresInWorkers`);
        None: batches go to `apply`, in the service's process."""
        ...

    async def apply_prepared(self, prepared: Any) -> None:
        """Write what `prepare` made of a batch into the copy."""
        ...

    async def swap(self, catch_up: Callable[[], Awaitable[int]], *, complete: bool) -> int:
        """Make the copy the live read models; returns how many events it took in at the swap
        (`catch_up` reads what arrived since the sources were sized up, into the copy).
        `complete`: the sources held every event the live read models had when the replay began
        (`Source.holds_all_consumed`)."""
        ...

    async def abandon(self) -> None:
        """Drop the copy of a failed replay; the live read models are untouched."""
        ...

    async def counts(self) -> dict[str, int]:
        """Rows per live read-model table."""
        ...

    async def retire(self) -> None:
        """Drop the tables the swap retired and let the next replay begin. After the replay is
        reported done: the new tables already answer, and dropping the old ones waits for the
        queries still reading them."""
        ...


RebuildFactory = Callable[["ServiceRuntime[Any]"], Rebuild]


class Replays:
    """Starts replays in the background of the service process, one at a time."""

    def __init__(self, runtime: ServiceRuntime[Any], rebuild: RebuildFactory) -> None:
        self.runtime = runtime
        self.rebuild = rebuild
        self.latest: ReplayProgress | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, source: Source) -> ReplayProgress:
        """Start a replay from `source`; raises `ReplayRunning` while one runs."""
        if self._task is not None and self.latest is not None and not self.latest.running:
            # Done, and dropping the tables it retired: a moment (`Rebuild.retire`).
            await asyncio.wait({self._task})
        if self.latest is not None and self.latest.running:
            raise ReplayRunning(f"replay {self.latest.replay_id} is running")
        progress = ReplayProgress(
            replay_id=str(uuid.uuid4()),
            source=source,
            service=self.runtime.settings.service_name,
        )
        self.latest = progress
        self._task = asyncio.create_task(self.run(progress))
        return progress

    async def run_to_the_end(self, source: Source) -> ReplayProgress:
        """Run a replay from `source` and wait for its end (done, refused or failed)."""
        progress = await self.start(source)
        assert self._task is not None
        await asyncio.wait({self._task})
        return progress

    async def stop(self) -> None:
        """Cancel a running replay (its copy is dropped)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def run(self, progress: ReplayProgress) -> None:
        """Rebuild the read models, keeping `progress` up to date; failures end up in it."""
        rebuild = self.rebuild(self.runtime)
        settings = self.runtime.settings
        await run_replay(
            rebuild, sources_of(rebuild, settings, self.runtime.runner, progress), progress
        )


async def run_replay(
    rebuild: Rebuild, sources: Sequence[ReplaySource], progress: ReplayProgress
) -> None:
    """Read `sources` into the `rebuild`'s copy, check they held the whole history, and swap the
    copy in, keeping `progress` up to date; a refusal or a failure ends up in it (the copy is
    dropped). What the service runs; the traceability benchmark runs it too."""
    log.info("replay started", replay_id=progress.replay_id, source=progress.source)
    try:
        await rebuild.begin()
        for source in sources:
            progress.total += await source.size_up(progress)
        progress.state = "reading"
        for source in sources:
            await source.read(progress)
        for source in sources:
            await source.verify(progress)
        progress.state = "swapping"
        progress.swapping_at = datetime.now(UTC)

        async def catch_up() -> int:
            return sum([await source.catch_up(progress) for source in sources])

        complete = all(source.holds_all_consumed for source in sources)
        progress.merged_from_live = await rebuild.swap(catch_up, complete=complete)
        progress.counts = await rebuild.counts()
        progress.state = "done"
        log.info("replay done", **_loggable(progress))
    except ReplayRefused as refusal:
        progress.state = "refused"
        progress.refused = refusal.reasons
        log.warning("replay refused", replay_id=progress.replay_id, reasons=refusal.reasons)
        await rebuild.abandon()
    except BaseException as error:
        progress.state = "failed"
        progress.error = repr(error)
        log.exception("replay failed", replay_id=progress.replay_id)
        await rebuild.abandon()
        if not isinstance(error, Exception):
            raise  # cancelled: the process is stopping
    finally:
        progress.finished_at = datetime.now(UTC)
        for source in sources:
            await source.close()
    if progress.state == "done":
        try:
            await rebuild.retire()
        except Exception:
            # Done all the same: the new tables answer; the next replay drops what is left.
            log.exception("the retired read models were not dropped", replay_id=progress.replay_id)


def sources_of(
    rebuild: Rebuild, settings: ServiceSettings, runner: BlockingRunner, progress: ReplayProgress
) -> list[ReplaySource]:
    """What a replay from `progress.source` reads for this rebuild."""
    source = progress.source
    found: list[ReplaySource] = []
    if rebuild.producers and source == "topics":
        found.append(TopicsSource(settings, rebuild.producers, rebuild.apply, rebuild.wants))
    elif rebuild.producers and rebuild.prepare is not None and settings.replay_workers > 0:
        found.append(
            StoresInWorkers(
                settings,
                rebuild.producers,
                runner,
                rebuild.prepare,
                rebuild.apply_prepared,
                rebuild.copy_messages,
            )
        )
    elif rebuild.producers:
        found.append(StoresSource.of_producers(settings, rebuild.producers, runner, rebuild.apply))
    if rebuild.own_store is not None:
        if source == "topics":
            progress.notes.append(
                f"{settings.service_name}'s own events: from its store (its topic carries"
                " only their public form)"
            )
        found.append(
            StoresSource(
                [rebuild.own_store],
                runner,
                settings.replay_batch_size,
                rebuild.apply_own,
                translated=False,
            )
        )
    return found


def _loggable(progress: ReplayProgress) -> dict[str, Any]:
    return {
        key: progress.as_dict()[key]
        for key in ("replay_id", "source", "total", "read", "skipped", "merged_from_live")
    }
