"""A service starting on read-model tables built from another declaration rebuilds them before it
consumes: from the stores, else from the topics; if neither finishes, it does not start."""

from __future__ import annotations

from typing import Any, cast

import pytest

from services.inventory.application import InventoryApplication
from services.inventory.config import InventorySettings
from services.inventory.projections import read_models
from services.runtime import service
from services.runtime.replay import ReplayProgress
from services.runtime.replay.declared import declaration_digest
from services.runtime.service import ReadModelsNotRebuilt, ServiceDefinition, ServiceRuntime

DECLARED = declaration_digest(read_models)


class Replays:
    """Replays that end as told, by source."""

    def __init__(self, **ends: str) -> None:
        self.ends = ends
        self.sources: list[str] = []

    async def run_to_the_end(self, source: Any) -> ReplayProgress:
        self.sources.append(source)
        progress = ReplayProgress(replay_id=str(len(self.sources)), source=source)
        progress.state = cast(Any, self.ends[source])
        if progress.state == "refused":
            progress.refused = [f"the {source} lack history"]
        elif progress.state == "failed":
            progress.error = f"the {source} failed"
        return progress


def starting(
    monkeypatch: pytest.MonkeyPatch, recorded: str | None, *, history: bool, replays: Replays
) -> tuple[ServiceRuntime[InventoryApplication], list[str]]:
    runtime = ServiceRuntime(
        ServiceDefinition(settings=InventorySettings(), application=InventoryApplication)
    )
    application = InventoryApplication(None)  # the database's answers are given below
    monkeypatch.setattr(application, "has_history", lambda: history)
    runtime._application = application
    runtime._pool = cast(Any, object())
    runtime.replays = cast(Any, replays)
    written: list[str] = []

    async def recorded_digest(_: object) -> str | None:
        return recorded

    async def record_digest(_: object, digest: str) -> None:
        written.append(digest)

    monkeypatch.setattr(service, "recorded_digest", recorded_digest)
    monkeypatch.setattr(service, "record_digest", record_digest)
    return runtime, written


@pytest.mark.parametrize(
    ("recorded", "history", "written"),
    [
        (DECLARED, True, []),  # tables of this declaration: left as they are
        (None, False, [DECLARED]),  # a fresh store: the declaration recorded
    ],
)
async def test_tables_of_this_declaration_or_none_yet_are_not_rebuilt(
    monkeypatch: pytest.MonkeyPatch, recorded: str | None, history: bool, written: list[str]
) -> None:
    replays = Replays()
    runtime, recorded_now = starting(monkeypatch, recorded, history=history, replays=replays)
    await runtime._read_models_as_declared()
    assert (replays.sources, recorded_now) == ([], written)


@pytest.mark.parametrize(
    ("recorded", "ends", "sources"),
    [
        ("another", {"stores": "done"}, ["stores"]),
        (None, {"stores": "done"}, ["stores"]),  # history from before declarations were recorded
        ("another", {"stores": "failed", "topics": "done"}, ["stores", "topics"]),
    ],
)
async def test_tables_of_another_declaration_are_rebuilt_from_the_stores_else_the_topics(
    monkeypatch: pytest.MonkeyPatch, recorded: str | None, ends: dict[str, str], sources: list[str]
) -> None:
    replays = Replays(**ends)
    runtime, written = starting(monkeypatch, recorded, history=True, replays=replays)
    await runtime._read_models_as_declared()
    assert replays.sources == sources
    assert written == []  # the swap records it, in its own transaction


async def test_a_service_whose_tables_could_not_be_rebuilt_does_not_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replays = Replays(stores="failed", topics="refused")
    runtime, _ = starting(monkeypatch, "another", history=True, replays=replays)
    with pytest.raises(ReadModelsNotRebuilt) as refused:
        await runtime._read_models_as_declared()
    assert "the stores failed" in str(refused.value)
    assert "the topics lack history" in str(refused.value)
