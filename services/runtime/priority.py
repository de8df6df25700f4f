"""A process's share of the cores when the whole stack runs on one machine."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

NICEST = 19


def be_nicer(niceness: int) -> None:
    """Make every thread of this process, and each it starts later, `niceness` nicer (Unix
    `nice`, at most 19): when the cores are wanted by all, its threads run after those of
    processes that are less nice, and whenever a core is free they run as before.

    Linux keeps a niceness per thread and a new thread takes its creator's, so each thread
    running now is changed (a library may have started one already), not only the calling one.
    """
    if niceness <= 0:
        return
    threads = Path("/proc/self/task")
    if not threads.is_dir():  # not Linux: the calling thread's is the process's
        os.nice(niceness)
        return
    for thread in threads.iterdir():
        with contextlib.suppress(ProcessLookupError):  # a thread that has ended meanwhile
            tid = int(thread.name)
            now = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(NICEST, now + niceness))
