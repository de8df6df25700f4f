"""One running system per test module (`python -m infra.stack` in a temporary directory, on free
loopback ports), with the demo's catalogue registered and a ledger of what the tests put in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.flow import Ledger, register_catalogue
from tests.faults.system import System, running_system


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    for started in running_system(tmp_path_factory.mktemp("system")):
        register_catalogue(started)
        yield started


@pytest.fixture(scope="module")
def ledger(system: System) -> Ledger:
    return Ledger()
