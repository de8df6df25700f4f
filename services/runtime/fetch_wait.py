"""How long a consumer's fetches wait at the broker: short while messages flow, long at rest.

A fetch that finds no new message waits at the broker for up to `fetch_max_wait_ms` before the
client asks again. Kafka answers a waiting fetch as soon as a message arrives, so there a long wait
costs nothing. The embedded broker answers it late: measured with one consumer, a message produced
while a fetch waited was read after up to about half the wait (p50 12 ms and max 29 ms at 50 ms;
p50 105 ms and max 185 ms at 500 ms). So a short wait keeps each hop fast while messages flow
(how short is each service's own: `services.runtime.config.busy_fetch_wait`). At rest the same
short wait is most of what the whole stack does: every consumer asked every 50 ms, and the broker
answering those polls used about half of the stack's CPU with no traffic at all.

`FetchWait` gives both: the short wait while messages arrive, and a long one once a consumer has
seen nothing for a while. In between the wait doubles for every further second of quiet: a
service sees an order's messages seconds apart (inventory its reservation, then its shipment), and
a message that comes a few seconds into a quiet spell should pay a fraction of the long wait, not
half of it on each hop. The wait is short again from the fetch after a message on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any


class FetchWait:
    """Switches one aiokafka consumer between a busy and an idle fetch wait.

    aiokafka 0.14 reads the wait from its fetcher for every fetch request it builds
    (`Fetcher._fetch_max_wait_ms`); it has no public setter, so this sets that attribute. A
    started consumer without it (another aiokafka) is left at its configured wait.
    """

    DOUBLING_SECONDS = 1.0
    """Once quiet, the wait doubles this often until it is the idle one."""

    def __init__(
        self,
        consumer: Any,
        *,
        busy_ms: int,
        idle_ms: int,
        quiet_after_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        doubling_seconds: float = DOUBLING_SECONDS,
    ) -> None:
        self._consumer = consumer
        self.busy_ms = busy_ms
        self.idle_ms = max(idle_ms, busy_ms)
        self._quiet_after = quiet_after_seconds
        self._doubling = doubling_seconds
        self._clock = clock
        self._last_message_at = clock()
        self.current_ms = busy_ms

    def observed(self, messages: int) -> None:
        """Call after each poll with the number of messages it returned."""
        now = self._clock()
        if messages:
            self._last_message_at = now
            self._set(self.busy_ms)
            return
        quiet = now - self._last_message_at - self._quiet_after
        if quiet < 0:
            return
        if self._doubling <= 0:
            self._set(self.idle_ms)
            return
        doublings = min(1 + int(quiet / self._doubling), 31)  # past the idle wait long before
        self._set(min(self.idle_ms, max(1, self.busy_ms) << doublings))

    def _set(self, wait_ms: int) -> None:
        if wait_ms == self.current_ms:
            return
        fetcher = getattr(self._consumer, "_fetcher", None)
        if fetcher is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
            return
        fetcher._fetch_max_wait_ms = wait_ms
        self.current_ms = wait_ms


class OffPathReads:
    """Reads the partitions of topics off the order path in short spells, one every
    `every_seconds`, while the partitions on it are fetched all the time.

    On the embedded broker a waiting fetch costs a pass over every partition it names at each of
    the broker's looks, so a consumer with a short wait that names all its topics pays for polling
    partitions whose messages nobody waits on in milliseconds (order's: PIM's, shipping's and the
    warehouses' events; inventory's: all but order's). Between spells those partitions are paused
    (aiokafka then leaves them out of its fetches, and their position stays where it was: what a
    fetch had brought of them before the pause is fetched again). A spell lasts at least
    `open_seconds` and as long as they keep bringing messages, so a backlog is read without pause.
    With no topic on the path named, or `every_seconds` 0, nothing is paused.
    """

    def __init__(
        self,
        consumer: Any,
        *,
        on_the_path: frozenset[str],
        every_seconds: float,
        open_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._consumer = consumer
        self._on_the_path = on_the_path
        self._every = every_seconds
        self._open_for = open_seconds
        self._clock = clock
        self._opened_at: float | None = clock()
        """When the last spell began (None: paused, between spells)."""
        self._reopening: asyncio.TimerHandle | None = None

    @staticmethod
    def reads_in_spells(on_the_path: Iterable[str], every_ms: float) -> bool:
        """Whether a consumer with these settings pauses the topics off the path at all."""
        return bool(tuple(on_the_path)) and every_ms > 0

    @property
    def enabled(self) -> bool:
        return self.reads_in_spells(self._on_the_path, self._every)

    def on_the_path(self, partition: Any) -> bool:
        return partition.topic in self._on_the_path

    def fetched(self, partitions: Iterable[Any]) -> None:
        """Call after each poll with the partitions it returned records of."""
        if not self.enabled or self._opened_at is None:
            return
        if any(partition.topic not in self._on_the_path for partition in partitions):
            return  # a spell lasts while its partitions bring messages
        if self._clock() - self._opened_at < self._open_for:
            return
        off_the_path = self._off_the_path()
        if off_the_path:
            self._consumer.pause(*off_the_path)
        self._opened_at = None
        self._reopening = asyncio.get_running_loop().call_later(self._every, self._open)

    def close(self) -> None:
        if self._reopening is not None:
            self._reopening.cancel()
            self._reopening = None

    def _open(self) -> None:
        self._reopening = None
        # aiokafka lists only assigned partitions as paused: one given up meanwhile is not there.
        resumed = [p for p in self._consumer.paused() if p.topic not in self._on_the_path]
        if resumed:
            self._consumer.resume(*resumed)
        self._opened_at = self._clock()

    def _off_the_path(self) -> list[Any]:
        return [p for p in self._consumer.assignment() if p.topic not in self._on_the_path]
