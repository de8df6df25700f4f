"""The history the traceability benchmark generates, on the real store: its replay and recall
figures are only worth the history they run on, so a small one must flow as production does,
its orders delivered (or cancelled, or returned) and nothing dead-lettered."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from contracts.topics import SERVICES
from services.runtime.database import PostgresLocation, ensure_database

# The benchmark is a script, not a package.
sys.path.insert(0, str(Path(__file__).parents[2] / "scripts"))
from benchmark_traceability import generate

pytestmark = pytest.mark.integration


def test_a_small_history_delivers_its_orders_and_dead_letters_nothing(postgres_dsn: str) -> None:
    server = PostgresLocation.from_dsn(postgres_dsn)
    prefix = f"th{uuid.uuid4().hex[:6]}"
    for service in SERVICES:
        asyncio.run(ensure_database(server.with_database(f"{prefix}_{service}")))
    arguments = argparse.Namespace(
        events=3_000,
        wave=40,
        models=1,
        return_rate=0.1,
        cancel_rate=0.1,
        mis_scan_rate=0.05,
        seed=7,
    )

    history, bus, world = generate(server, prefix, arguments)

    assert not bus.dead_letters
    with psycopg.connect(server.with_database(f"{prefix}_order").dsn()) as connection:
        rows = connection.execute("SELECT state, count(*) FROM orders_by_state GROUP BY state")
        orders_by_state: dict[str, int] = dict(rows.fetchall())
    # Each wave flushes its saves between its orders: a load that missed what the wave saved so
    # far dead-lettered the first allocation and the first pick of every wave, and left every
    # later pack scan unpublished, so no order of the history was ever delivered.
    assert orders_by_state.get("delivered", 0) > history.orders // 2
    assert orders_by_state.get("cancelled", 0) > 0
    assert world.counts["returns requested"] > 0
