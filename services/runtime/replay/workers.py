"""Reading the event stores in worker processes: a replay's Python work on every core.

A replay from the stores is bound by Python, per event: decoding the stored state, translating
it to its contract, enveloping it, and turning it into read-model rows. In one process that runs
on one core, whatever the machine has. Here each worker process reads a range of a store's
notifications on its own connection, decodes, translates and envelopes them as
`EventStore.projected` does, and runs the rebuild's `prepare` on them (a pure function: the rows
to write, say the events' messages). The replay's process writes what comes back, range after range in
notification order: the same batches, in the same order, as reading them one after the other.

Ranges hold `batch_size` events each (their bounds are read from the store first), and a few more
than there are workers are in flight, so a worker never waits for the writer and the writer
rarely for a worker.

**Kept messages.** A rebuild that can take the producers' kept messages as they are
(`Rebuild.copy_messages`: traceability's) gets them from the producer's database as they are,
a range of `KEPT_RANGE` joined into one block, several ranges side by side on threads, read
ahead of the writers (the largest first, so they end together; `copy_kept_ranges`); Python only
passes the bytes on. Meanwhile the stores are asked whether any event has no kept message
(events stored before messages were kept): the workers read only those, if a store has any.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import multiprocessing
import multiprocessing.forkserver
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Protocol

from services.runtime.config import ServiceSettings
from services.runtime.eventstore import BlockingRunner
from services.runtime.replay.progress import ReplayProgress
from services.runtime.replay.sources import (
    Apply,
    CopyMessages,
    EventStore,
    Overlapped,
    Projected,
    StoresSource,
    open_store,
    open_stores,
)

Prepare = Callable[[list[Projected]], Any]
"""A batch of public events → what the rebuild writes for them (pure; a module's function, so a
worker process can be handed it)."""

STORED_EVENTS_MODULE = "services.stored_events"
"""What a worker imports to read the producers' stores: their `StoredEvents` declarations."""

Range = tuple[str, int, int]
"""A producer's store and the notifications after the first id up to the second."""

KEPT_RANGE = 10_000
"""Notifications per copy of kept messages: enough that a statement's and a commit's cost
vanish, few enough that the progress moves and the copies share the work to its end."""


class StoreReaders:
    """Worker processes that read ranges of stores and prepare their events for the writer.

    Workers are forked from a fresh interpreter (multiprocessing's fork server), never from the
    service: its threads, sockets and locks stay there. The fork server imports the producers'
    declarations (`services/stored_events.py`, and so their modules) and `prepare`'s once, before
    it forks: importing them (every contract model, each producer's domain) costs more than a
    second of CPU, which each worker would otherwise spend again."""

    def __init__(
        self, settings: ServiceSettings, producers: Sequence[str], workers: int, prepare: Prepare
    ) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([prepare.__module__, STORED_EVENTS_MODULE])
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(settings, tuple(producers), prepare),
        )
        self._workers = workers
        self._started: list[Future[None]] = []

    def start(self) -> None:
        """Start the workers now (they open the producers' stores, importing their modules), not
        at the first range."""
        self._started = [self._pool.submit(_ready) for _ in range(self._workers)]

    async def prepared(
        self, ranges: Sequence[Range], unkept_only: bool = False
    ) -> AsyncIterator[tuple[int, Any]]:
        """What `prepare` made of each range, in the order of `ranges`, with its event count;
        `unkept_only`: of the events without a kept message alone."""
        loop = asyncio.get_running_loop()
        waiting = iter(ranges)
        in_flight: deque[asyncio.Future[tuple[int, Any]]] = deque()

        def submit() -> None:
            bounds = next(waiting, None)
            if bounds is not None:
                in_flight.append(
                    loop.run_in_executor(self._pool, _prepare_range, *bounds, unkept_only)
                )

        for _ in range(2 * self._workers):
            submit()
        try:
            while in_flight:
                done = await in_flight.popleft()
                submit()
                yield done
        finally:
            for future in in_flight:
                future.cancel()

    def close(self) -> None:
        """Stop the workers (blocking: waits for what they are doing), and the fork server: it
        holds every module it imported, and a service replays seldom."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        stop_fork_server()


def stop_fork_server() -> None:
    """Stop multiprocessing's fork server, if it runs (the next pool starts another)."""
    # The standard library stops it only when the process exits; its own tests stop it so.
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if stop is not None:
        stop()


def ranges_of(store: EventStore, batch_size: int) -> list[Range]:
    """The store's notifications from its position up to where reading stops, in ranges of
    `batch_size` (blocking)."""
    bounds = [store.position, *store.boundaries(batch_size), store.last]
    return [(store.service, start, end) for start, end in itertools.pairwise(bounds) if start < end]


# -- in a worker process ----------------------------------------------------------------------

_prepare: Prepare | None = None
_stores: dict[str, EventStore] = {}


def _start_worker(settings: ServiceSettings, producers: tuple[str, ...], prepare: Prepare) -> None:
    global _prepare
    _prepare = prepare
    for service in producers:
        store = open_store(settings, service)
        if not isinstance(store, str):
            _stores[service] = store
    # A worker makes and drops millions of small containers, hardly any in a cycle: the cyclic
    # collector would walk the imported modules' objects again and again for nothing (a quarter
    # of a worker's time). What is imported stays out of its sight, and it runs seldom.
    gc.freeze()
    gc.set_threshold(100_000, 50, 50)


def _ready() -> None:
    """Nothing: the worker has started (and imported what the initializer needed)."""


def _prepare_range(service: str, after: int, upto: int, unkept_only: bool) -> tuple[int, Any]:
    """Read, decode, translate and envelope the store's events after `after` up to `upto` (with
    `unkept_only`, those without a kept message), and prepare them."""
    store = _stores.get(service)
    if store is None or _prepare is None:
        raise RuntimeError(f"this worker was not started to read {service}'s store")
    store.position, store.last, store.unkept_only = after, upto, unkept_only
    events = [event for page in store.events(upto - after + 1) for event in page]
    return len(events), _prepare(events)


class KeptMessages(Protocol):
    """Where a store's kept messages are read (`EventStore.read_kept`)."""

    def read_kept(self, after: int, upto: int) -> tuple[bytes, int]: ...


async def copy_kept_ranges(
    stores: Mapping[str, KeptMessages],
    copies: Sequence[Range],
    write: CopyMessages,
    writers: int,
    progress: ReplayProgress,
) -> int:
    """Copy the kept messages of `copies` with `write`, `writers` ranges written at a time, each
    read while others are written: a writer never waits for its range to arrive (in one thread
    each, read then write, the rebuild's server processes sat idle for every read). Returns how
    many; after a failure, the ranges not yet under way are not copied."""
    loop = asyncio.get_running_loop()
    reading = ThreadPoolExecutor(writers, thread_name_prefix="kept-read")
    writing = ThreadPoolExecutor(writers, thread_name_prefix="kept-copy")
    # Ranges in flight (being read, read and waiting, being written), at most: their blocks
    # are held in memory, a few megabytes each.
    ahead = asyncio.Semaphore(2 * writers)

    async def copy(service: str, after: int, upto: int) -> int:
        async with ahead:
            block, count = await loop.run_in_executor(
                reading, stores[service].read_kept, after, upto
            )
            if count:
                await loop.run_in_executor(writing, write, block)
        return count

    # Started in the order of `copies` (the semaphore lets them in first come, first served):
    # the largest ranges first, so the writers end together.
    tasks = [asyncio.ensure_future(copy(*bounds)) for bounds in copies]
    count = 0
    try:
        for copied in asyncio.as_completed(tasks):
            done = await copied
            count += done
            progress.read += done
    finally:
        for task in tasks:
            task.cancel()
        reading.shutdown(wait=True, cancel_futures=True)
        writing.shutdown(wait=True, cancel_futures=True)
    return count


class StoresInWorkers(StoresSource):
    """The producers' stores, their events read and prepared by worker processes
    (`StoreReaders`), and what they made written by `apply_prepared` in order."""

    def __init__(
        self,
        settings: ServiceSettings,
        producers: Sequence[str],
        runner: BlockingRunner,
        prepare: Prepare,
        apply_prepared: Apply,
        kept: CopyMessages | None = None,
    ) -> None:
        """`kept`: how the rebuild takes kept messages as they are, if it can."""
        super().__init__(
            lambda: open_stores(settings, producers),
            runner,
            settings.replay_batch_size,
            apply_prepared,
            translated=True,
        )
        self._readers = StoreReaders(settings, producers, settings.replay_workers, prepare)
        self._kept = kept
        self._copiers = max(1, settings.replay_workers)

    async def read(self, progress: ReplayProgress) -> int:
        # The copies start at once; which events the workers must read is found beside them.
        counts = await asyncio.gather(
            self._copy(self._kept_ranges(), progress), self._read_unkept(progress)
        )
        for store in self._stores:
            store.position = store.last
        return sum(counts)

    def _kept_ranges(self) -> list[Range]:
        """The ranges of `KEPT_RANGE` notifications whose kept messages are copied, by their
        numbers alone (no query: a range with gaps in the numbers holds fewer events), largest
        first: the copies side by side then end together, not one long after the other."""
        if self._kept is None:
            return []
        ranges = [
            (store.service, start, min(start + KEPT_RANGE, store.last))
            for store in self._stores
            if store.messages is not None
            for start in range(store.position, store.last, KEPT_RANGE)
        ]
        return sorted(ranges, key=lambda bounds: bounds[2] - bounds[1], reverse=True)

    async def _read_unkept(self, progress: ReplayProgress) -> int:
        reads, unkept_only = await self._runner.run(self._plan)
        return await self._prepare(reads, unkept_only, progress)

    def _plan(self) -> tuple[list[Range], bool]:
        """The ranges the workers read (blocking), and whether only what has no kept message."""
        reads: list[Range] = []
        kept = self._kept is not None
        for store in self._stores:
            if kept and store.messages is not None and store.unkept() == 0:
                continue
            reads += ranges_of(store, self._size)
        return reads, kept

    async def _copy(self, copies: Sequence[Range], progress: ReplayProgress) -> int:
        """Copy the kept messages of `copies` (`copy_kept_ranges`)."""
        if not copies:
            return 0
        assert self._kept is not None
        stores = {store.service: store for store in self._stores}
        return await copy_kept_ranges(stores, copies, self._kept, self._copiers, progress)

    async def _prepare(
        self, reads: Sequence[Range], unkept_only: bool, progress: ReplayProgress
    ) -> int:
        if not reads:
            return 0  # no worker started: each would import every producer's modules for nothing
        self._readers.start()
        count = 0
        async with Overlapped(self._apply) as apply:
            async for events, prepared in self._readers.prepared(reads, unkept_only):
                await apply(prepared)
                count += events
                progress.read += events
        return count

    async def close(self) -> None:
        await super().close()
        await self._runner.run(self._readers.close)
