import os

import pytest

from infra.embedded import shared_buffers_for_this_machine

GB = 2**30


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
    page = 4096
    sizes = {"SC_PAGE_SIZE": page, "SC_PHYS_PAGES": memory // page}
    monkeypatch.setattr(os, "sysconf", sizes.__getitem__)
    assert shared_buffers_for_this_machine() == shared_buffers
