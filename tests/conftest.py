"""Markers come from where a test lives, so none is forgotten: `tests/integration/` talks to a
real Postgres and broker (`integration`), `tests/faults/` runs and breaks the whole system
(`faults`); `-m "not integration and not faults"` is the fast loop."""

from __future__ import annotations

from pathlib import Path

import pytest

MARKER_OF_FOLDER = {"integration": pytest.mark.integration, "faults": pytest.mark.faults}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        folder = Path(item.path).relative_to(tests).parts[0]
        marker = MARKER_OF_FOLDER.get(folder)
        if marker is not None:
            item.add_marker(marker)
