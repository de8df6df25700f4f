import os
from pathlib import Path

import pytest

from infra import embedded
from infra.embedded import shared_buffers_for_this_machine

GB = 2**30


def machine(monkeypatch: pytest.MonkeyPatch, memory: int) -> None:
    page = 4096
    sizes = {"SC_PAGE_SIZE": page, "SC_PHYS_PAGES": memory // page}
    monkeypatch.setattr(os, "sysconf", sizes.__getitem__)


@pytest.mark.parametrize(
    ("memory", "shared_buffers"),
    [
        (24 * GB, "1GB"),
        (4 * GB, "1GB"),
        (2 * GB, "512MB"),
        (GB * 3 // 2, "384MB"),
        (GB // 4, "128MB"),
    ],
)
def test_shared_buffers_are_a_quarter_of_memory_within_bounds(
    monkeypatch: pytest.MonkeyPatch, memory: int, shared_buffers: str
) -> None:
    machine(monkeypatch, memory)
    monkeypatch.setattr(embedded, "CGROUP_MEMORY_LIMITS", ())
    assert shared_buffers_for_this_machine() == shared_buffers


@pytest.mark.parametrize(
    ("limits", "shared_buffers"),
    [(["max"], "1GB"), ([str(2 * GB)], "512MB"), (["max", str(GB)], "256MB"), ([], "1GB")],
)
def test_a_containers_memory_limit_counts_as_the_machines_memory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, limits: list[str], shared_buffers: str
) -> None:
    machine(monkeypatch, 24 * GB)
    files = [tmp_path / f"limit{number}" for number in range(len(limits))]
    for file, limit in zip(files, limits, strict=True):
        file.write_text(f"{limit}\n")
    monkeypatch.setattr(embedded, "CGROUP_MEMORY_LIMITS", (*files, tmp_path / "absent"))
    assert shared_buffers_for_this_machine() == shared_buffers
