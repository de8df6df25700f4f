"""Crash points: named places in the delivery path where a fault test can make the process die.

The guarantees (nothing lost, nothing applied twice) are about what happens when a process dies at
the worst moment: after a relay published but before it recorded its position, after a consumer
committed its transaction but before it committed the Kafka offset. Killing a process from outside
hits those moments only by luck; a crash point hits them every time.

`UNITRAIL_CRASH_AT=<point>[:<n>]` makes the process exit abruptly (as `kill -9` would: no cleanup,
no flush) the n-th time (default: the first) it passes `<point>`. Unset, a crash point costs one
dictionary lookup.
"""

from __future__ import annotations

import os
import sys
import threading

CRASH_AT_VARIABLE = "UNITRAIL_CRASH_AT"
CRASH_EXIT_CODE = 137
"""The exit status a shell reports for a process killed by SIGKILL."""


class _CrashPlan:
    def __init__(self, setting: str | None) -> None:
        self.point: str | None = None
        self.remaining = 0
        if setting:
            point, _, count = setting.partition(":")
            self.point = point.strip()
            self.remaining = int(count) if count.strip() else 1
        self._lock = threading.Lock()

    def passed(self, point: str) -> bool:
        if point != self.point:
            return False
        with self._lock:
            self.remaining -= 1
            return self.remaining == 0


_plan = _CrashPlan(os.environ.get(CRASH_AT_VARIABLE))


def crash_point(point: str) -> None:
    """Die here, at once, if the process was started to crash at `point` and its turn has come."""
    if _plan.point is not None and _plan.passed(point):
        print(f"crash point {point!r} reached: exiting", file=sys.stderr, flush=True)
        os._exit(CRASH_EXIT_CODE)
