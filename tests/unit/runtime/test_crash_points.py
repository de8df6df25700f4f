"""Crash points die exactly at the n-th pass of the named point, and nowhere else."""

from __future__ import annotations

import os
import subprocess
import sys

from services.runtime.faults import CRASH_AT_VARIABLE, CRASH_EXIT_CODE

PROGRAM = """
from services.runtime.faults import crash_point
for turn in range(1, 4):
    crash_point("other")
    print(turn, flush=True)
    crash_point("relay.after-publish")
"""


def run_with(setting: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != CRASH_AT_VARIABLE}
    if setting is not None:
        env[CRASH_AT_VARIABLE] = setting
    return subprocess.run(
        [sys.executable, "-c", PROGRAM], env=env, capture_output=True, text=True, check=False
    )


def test_without_a_setting_nothing_crashes() -> None:
    finished = run_with(None)
    assert (finished.returncode, finished.stdout.split()) == (0, ["1", "2", "3"])


def test_the_process_dies_at_the_nth_pass() -> None:
    crashed = run_with("relay.after-publish:2")
    assert (crashed.returncode, crashed.stdout.split()) == (CRASH_EXIT_CODE, ["1", "2"])


def test_the_first_pass_by_default() -> None:
    crashed = run_with("relay.after-publish")
    assert (crashed.returncode, crashed.stdout.split()) == (CRASH_EXIT_CODE, ["1"])
