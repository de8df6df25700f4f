"""A consumer's task stopped by an error nothing expected leaves the reason in the log."""

from __future__ import annotations

import asyncio

from structlog.testing import capture_logs

from services.runtime.inbox import _report_if_failed


async def test_a_consumer_stopped_by_an_error_logs_why() -> None:
    async def fails() -> None:
        raise RuntimeError("nothing expected this")

    async def ends() -> None:
        return None

    with capture_logs() as logs:
        for work in (fails, ends):
            task = asyncio.create_task(work())
            task.add_done_callback(_report_if_failed)
            await asyncio.wait([task])
            await asyncio.sleep(0)  # done callbacks run on the next turn of the loop
    assert [(entry["event"], entry["error"]) for entry in logs] == [
        ("consumer stopped", "RuntimeError('nothing expected this')")
    ]
