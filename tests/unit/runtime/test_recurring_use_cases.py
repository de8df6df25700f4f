"""Use cases a service runs on the clock (e.g. the PIM re-deciding catalogues at midnight UTC)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from services.inventory.application import InventoryApplication
from services.pim.config import PimSettings
from services.runtime.service import Recurring, ServiceDefinition, ServiceRuntime


def noop(_: object) -> None:
    return None


def test_a_daily_use_case_runs_at_the_next_midnight_utc() -> None:
    daily = Recurring(timedelta(days=1), noop)
    assert daily.next_run(datetime(2026, 11, 23, 14, 5, tzinfo=UTC)) == datetime(
        2026, 11, 24, tzinfo=UTC
    )
    # exactly at midnight, the next run is the following midnight
    assert daily.next_run(datetime(2026, 11, 24, tzinfo=UTC)) == datetime(2026, 11, 25, tzinfo=UTC)
    hourly = Recurring(timedelta(hours=1), noop)
    assert hourly.next_run(datetime(2026, 11, 23, 14, 59, 59, tzinfo=UTC)) == datetime(
        2026, 11, 23, 15, tzinfo=UTC
    )


@pytest.mark.asyncio
async def test_a_running_service_runs_its_recurring_use_case_again_and_again_and_survives_errors() -> (
    None
):
    runs: list[datetime] = []
    three_runs = asyncio.Event()
    loop = asyncio.get_running_loop()

    def refresh(_: object) -> None:  # on a worker thread, as use cases are
        runs.append(datetime.now(UTC))
        if len(runs) == 3:
            loop.call_soon_threadsafe(three_runs.set)
        if len(runs) == 1:
            raise RuntimeError("the first run fails; the next ones still happen")

    job = Recurring(timedelta(milliseconds=100), refresh)
    runtime = ServiceRuntime(
        ServiceDefinition(settings=PimSettings(), application=InventoryApplication, recurring=[job])
    )
    runtime._application = InventoryApplication(None)  # the store is not what is tested
    task = asyncio.create_task(runtime._keep_running(job))
    try:
        await asyncio.wait_for(three_runs.wait(), 10)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        runtime.runner.shutdown()
    assert all(later > earlier for earlier, later in itertools.pairwise(runs))
