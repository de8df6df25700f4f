"""Traceability's replay: its read models rebuilt from every service's events, from the topics
(offset 0) or from the services' event stores.

What is generic is the runtime's (`services.runtime.replay`): the sources (a consumer without a
group up to the end offsets at the start; each service's store in notification order, decoded
and translated as the service's `StoredEvents` declaration says and wrapped as its relay wraps
them), the progress, the background runner and `POST /replays` /
`GET /replays/latest`. What is traceability's own is where the events go: a copy of its schema
(`TraceabilityApplication.begin_rebuild` / `rebuild_batch`; from the stores, the producers' kept
messages copied in as they are, `copy_messages`), swapped in after the events its live
audit log has and the copy lacks are projected into it (`finish_rebuild`), so it needs no second
read of the sources at the swap. Reading the stores runs other services' translators, through
the declarations they export (`services/stored_events.py`): an operator's recovery tool (the
topics may have lost what the stores still have).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from contracts.topics import SERVICES
from services.runtime.config import ServiceSettings
from services.runtime.eventstore import BlockingRunner
from services.runtime.replay import (
    CopyMessages,
    EventStore,
    Projected,
    ReplayProgress,
    decode,
    open_store,
    read_stores,
)
from services.runtime.service import ServiceRuntime
from services.traceability.application import TraceabilityApplication, prepare_batch

__all__ = ["ReplayProgress", "TraceabilityRebuild", "decode", "open_store", "read_stores"]


class TraceabilityRebuild:
    """Every other service's events into traceability's copy; its own swap."""

    own_store: EventStore | None = None  # it has no events of its own

    def __init__(
        self,
        application: TraceabilityApplication,
        settings: ServiceSettings,
        runner: BlockingRunner,
    ) -> None:
        self.application = application
        self.runner = runner
        self.producers: Sequence[str] = tuple(
            service for service in SERVICES if service != settings.service_name
        )
        self._begun = False
        # The producers' kept messages, copied as they are into the copy, where Postgres makes
        # their rows (`TraceabilityApplication.write_rebuilt`).
        self.copy_messages: CopyMessages | None = application.write_rebuilt

    @classmethod
    def of(cls, runtime: ServiceRuntime[Any]) -> TraceabilityRebuild:
        return cls(runtime.application, runtime.settings, runtime.runner)

    def wants(self, producer: str, event_type: str) -> bool:
        return True  # every event is in the audit log

    async def begin(self) -> None:
        await self.runner.run(self.application.begin_rebuild)
        self._begun = True

    prepare = staticmethod(prepare_batch)  # in worker processes, for a replay from the stores

    async def apply(self, events: list[Projected]) -> None:
        await self.runner.run(self.application.rebuild_batch, events)

    async def apply_prepared(self, prepared: Any) -> None:
        await self.runner.run(self.application.write_rebuilt, prepared)

    async def apply_own(self, events: list[Any]) -> None:
        raise TypeError("traceability stores no events of its own")

    async def swap(self, catch_up: Callable[[], Awaitable[int]], *, complete: bool) -> int:
        # The live audit log says what was consumed meanwhile: the sources need no second read.
        # Sources that held everything it had at the start leave only what arrived since.
        merged: int = await self.runner.run(self.application.finish_rebuild, arrivals_only=complete)
        return merged

    async def abandon(self) -> None:
        # Only a rebuild that began owns the copy: another one's must not be dropped.
        if self._begun:
            await self.runner.run(self.application.abandon_rebuild)

    async def counts(self) -> dict[str, int]:
        return await self.runner.run(self.application.counts)

    async def retire(self) -> None:
        await self.runner.run(self.application.retire_rebuild)
