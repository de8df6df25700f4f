"""The collector in a service process: startup's objects set aside, young collections rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from services.runtime.heap import YOUNG_GENERATION_THRESHOLD, freeze_startup_objects


@pytest.fixture
def collector_restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector_restored")
def test_a_started_service_freezes_what_startup_made_and_collects_its_young_objects_less_often() -> (
    None
):
    freeze_startup_objects()

    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, 20, 20)
    # A batch's worth of live objects no longer sets a young collection off.
    collections = gc.get_stats()[0]["collections"]
    batch = [{"event": index} for index in range(5_000)]
    assert gc.get_stats()[0]["collections"] == collections
    assert len(batch) == 5_000
