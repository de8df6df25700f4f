"""The loops that keep a service working (its consumer, its relays, its recurring use cases) stop
only when their owner cancels them. A `CancelledError` that a library lets out of a future of its
own (aiokafka cancels its requests when the broker goes away under them) is a failure like any
other: the loop starts again, instead of ending and leaving the process up with nothing consuming
or publishing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any, cast

import pytest

from services.inventory.application import InventoryApplication
from services.pim.config import PimSettings
from services.runtime.config import ServiceSettings
from services.runtime.consumer import Consumer
from services.runtime.inbox import KafkaInbox
from services.runtime.outages import asked_to_stop
from services.runtime.service import Recurring, ServiceDefinition, ServiceRuntime
from tests.unit.runtime.relays import unconnected_relay


class Settings(ServiceSettings):
    service_name = "order"


async def test_a_cancellation_is_asked_for_only_when_the_task_itself_is_cancelled() -> None:
    seen: list[bool] = []
    inner_cancelled = asyncio.Event()

    async def meets_a_library_s_cancelled_future() -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.cancel()
        try:
            await future
        except asyncio.CancelledError:
            seen.append(asked_to_stop())
        inner_cancelled.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            seen.append(asked_to_stop())
            raise

    task = asyncio.create_task(meets_a_library_s_cancelled_future())
    await inner_cancelled.wait()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert seen == [False, True]


class StrayCancellations:
    """A loop body that fails with a stray `CancelledError` the first time, then counts its runs
    and waits to be cancelled."""

    def __init__(self) -> None:
        self.runs = 0
        self.second_run = asyncio.Event()

    async def __call__(self, *_: Any) -> Any:
        self.runs += 1
        if self.runs == 1:
            raise asyncio.CancelledError("cancelled inside a library, not by the owner")
        self.second_run.set()
        await asyncio.Event().wait()


async def runs_again_and_stops_when_cancelled(
    loop: Callable[[], Coroutine[Any, Any, None]], body: StrayCancellations
) -> None:
    task = asyncio.create_task(loop())
    await asyncio.wait_for(body.second_run.wait(), 10)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert body.runs == 2


async def test_the_consumer_joins_again_after_a_stray_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox = KafkaInbox(cast(Consumer, None), Settings())
    body = StrayCancellations()
    monkeypatch.setattr(inbox, "_consume", body)
    monkeypatch.setattr("services.runtime.inbox.OUTAGE_PAUSE_SECONDS", (0.0,) * 4)
    await runs_again_and_stops_when_cancelled(inbox._run, body)


class StoppedByItsOwnCancelledTask:
    """An aiokafka consumer whose `stop` awaits a task of its own that was cancelled (its
    heartbeat, when the broker went away under it): the `CancelledError` comes out of `stop`."""

    async def stop(self) -> None:
        raise asyncio.CancelledError("a task of the client's own was cancelled")


async def test_the_consumer_leaves_a_member_whose_stop_lets_a_cancellation_out() -> None:
    inbox = KafkaInbox(cast(Consumer, None), Settings())
    inbox._client = cast(Any, StoppedByItsOwnCancelledTask())
    await inbox._leave()
    assert inbox._client is None


async def test_a_relay_starts_again_after_a_stray_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = unconnected_relay("order", "order.events.v1")
    body = StrayCancellations()
    monkeypatch.setattr(relay, "run", body)
    monkeypatch.setattr("services.runtime.relay.RESTART_DELAY_SECONDS", 0.0)
    await runs_again_and_stops_when_cancelled(relay.keep_running, body)
    assert not relay.alive


async def test_a_recurring_use_case_runs_again_after_a_stray_cancellation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = StrayCancellations()
    runtime = ServiceRuntime(
        ServiceDefinition(
            settings=PimSettings(),
            application=InventoryApplication,
            recurring=[Recurring(timedelta(milliseconds=50), lambda _: None)],
        )
    )
    runtime._application = cast(Any, object())  # the use case is what is replaced
    job = runtime.definition.recurring[0]
    monkeypatch.setattr(runtime, "run_command", body)
    await runs_again_and_stops_when_cancelled(lambda: runtime._keep_running(job), body)
