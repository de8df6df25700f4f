"""Processes off the order path yield the cores to order and inventory when all want them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.simulators.kafka import KafkaSettings
from services.inventory.config import InventorySettings
from services.order.config import OrderSettings
from services.runtime.config import OFF_PATH_NICENESS
from tests.unit.runtime.test_fetch_wait import SETTINGS


def test_order_and_inventory_keep_their_priority_and_every_other_process_is_nicer() -> None:
    for settings in SETTINGS:
        on_the_path = settings in (OrderSettings, InventorySettings)
        assert settings().niceness == (0 if on_the_path else OFF_PATH_NICENESS), settings
    assert KafkaSettings().off_path_niceness == OFF_PATH_NICENESS  # the simulated partners


def test_the_niceness_is_a_setting_shared_by_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNITRAIL_OFF_PATH_NICENESS", "0")
    assert {settings().niceness for settings in SETTINGS} == {0}
    assert KafkaSettings().off_path_niceness == 0
    monkeypatch.setenv("UNITRAIL_OFF_PATH_NICENESS", "20")
    with pytest.raises(ValidationError, match="less than or equal to 19"):
        OrderSettings()


# In a process of its own: a niceness once raised cannot be lowered again without privileges.
EVERY_THREAD = textwrap.dedent(
    """
    import os, threading
    from services.runtime.priority import be_nicer

    def niceness(tid):
        return os.getpriority(os.PRIO_PROCESS, tid)

    started = os.getpriority(os.PRIO_PROCESS, 0)
    done = threading.Event()
    before = threading.Thread(target=done.wait)
    before.start()
    be_nicer(int(os.environ["BY"]))
    after = threading.Thread(target=done.wait)
    after.start()
    print(started, *sorted(niceness(int(tid)) for tid in os.listdir("/proc/self/task")))
    done.set()
    """
)


@pytest.mark.parametrize(("by", "expected"), [(3, 3), (0, 0), (40, 19)])
def test_every_thread_of_the_process_and_each_started_later_is_nicer(
    by: int, expected: int
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", EVERY_THREAD],
        env={"BY": str(by), "PYTHONPATH": str(Path(__file__).parents[3])},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    started, *threads = (int(value) for value in result.stdout.split())
    assert len(threads) == 3  # the main thread, one started before, one after
    assert threads == [min(19, started + expected)] * 3
