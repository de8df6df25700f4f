"""Rebuilding a service's read models from scratch, from the topics or from the event stores.

- `sources`: what a replay reads (the topics from offset 0 without a consumer group; the event
  stores in notification order, translated and enveloped as their relays do).
- `shadow`: the rebuild of the read models a service declares (`ServiceApplication.read_models`)
  in a shadow schema, swapped in under a lock with what arrived meanwhile.
- `runner`: a replay in the background of the service process, with its progress.
- `api`: `POST /replays` and `GET /replays/latest`, included in every service's HTTP app.
"""

from services.runtime.replay.progress import ReplayProgress, ReplayRefused, ReplayRunning, Source
from services.runtime.replay.runner import (
    Rebuild,
    RebuildFactory,
    Replays,
    run_replay,
    sources_of,
)
from services.runtime.replay.shadow import ShadowRebuild
from services.runtime.replay.sources import (
    CopyMessages,
    EventStore,
    Projected,
    decode,
    open_store,
    read_stores,
)

__all__ = [
    "CopyMessages",
    "EventStore",
    "Projected",
    "Rebuild",
    "RebuildFactory",
    "ReplayProgress",
    "ReplayRefused",
    "ReplayRunning",
    "Replays",
    "ShadowRebuild",
    "Source",
    "decode",
    "open_store",
    "read_stores",
    "run_replay",
    "sources_of",
]
