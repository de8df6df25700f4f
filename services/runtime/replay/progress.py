"""How far a replay got, as `GET /replays/latest` answers it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

Source = Literal["topics", "stores"]
State = Literal["starting", "reading", "swapping", "done", "refused", "failed"]


@dataclass
class ReplayProgress:
    """How far a replay got; `total` is known once the sources have been sized up (and grows by
    what arrived meanwhile, read at the swap)."""

    replay_id: str
    source: Source
    service: str = ""
    state: State = "starting"
    total: int = 0
    read: int = 0
    skipped: int = 0
    """Messages that are not events of a known contract (the live consumer dead-letters them)."""
    merged_from_live: int = 0
    """Events that arrived while the copy was built, taken into it at the swap."""
    notes: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """Why the copy was not swapped in (state `refused`): the sources do not hold the whole history,
    so the copy would lack facts the live read models have. The live read models are untouched."""
    counts: dict[str, int] = field(default_factory=dict)
    """Rows per read-model table once swapped in."""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    swapping_at: datetime | None = None
    """When the copy was complete and the swap began."""
    finished_at: datetime | None = None
    error: str | None = None

    @property
    def running(self) -> bool:
        return self.state not in ("done", "refused", "failed")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ReplayRunning(RuntimeError):
    """A replay of these read models is already running."""


class ReplayRefused(RuntimeError):
    """The sources do not hold the whole history: swapping the copy in would lose facts."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons
