"""Traceability's rebuild writes in bulk (copied rows, folded merges): on a real Postgres, the
rebuilt tables equal the ones the live path writes event by event, whatever the batches."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from contracts import inventory
from services.runtime.database import PostgresLocation, ensure_database
from services.runtime.replay.bulk import copy_rows
from services.traceability.application import Projected, TraceabilityApplication
from services.traceability.projections import LIVE, TABLE_KEYS
from tests.unit.traceability.test_traceability_projections import STOCK, unit_life

pytestmark = pytest.mark.integration

Snapshot = dict[str, list[tuple[object, ...]]]


@pytest.fixture
async def traceability(postgres_dsn: str) -> AsyncIterator[TraceabilityApplication]:
    location = PostgresLocation.from_dsn(postgres_dsn).with_database(f"t{uuid.uuid4().hex[:10]}")
    await ensure_database(location)
    application = TraceabilityApplication(location)
    yield application
    application.close()


def snapshot(application: TraceabilityApplication) -> Snapshot:
    with psycopg.connect(application.location.dsn()) as connection:
        return {
            table: connection.execute(
                f"SELECT * FROM {LIVE}.{table} ORDER BY {', '.join(key)}".encode()
            ).fetchall()
            for table, key in TABLE_KEYS.items()
        }


def rebuild(application: TraceabilityApplication, batches: list[list[Projected]]) -> int:
    application.begin_rebuild()
    for batch in batches:
        application.rebuild_batch(batch)
    return application.finish_rebuild()


def test_a_rebuild_in_bulk_equals_the_live_read_models_whatever_the_batches(
    traceability: TraceabilityApplication,
) -> None:
    """Also the one table a rebuild derives set-wise in SQL (`units`, from the history rows):
    it must equal what the live merges leave, or this fails."""
    story = unit_life()
    # A unit received again later, elsewhere: its origin stays the first receipt, its holder
    # moves; two units in one event: positions order their history rows.
    story.add(
        "inventory",
        STOCK,
        inventory.StockReceived(
            sku="CAM-1",
            location="WH-B",
            quantity=2,
            reason="found in count",
            actor="auditor",
            serials=["SN-2", "SN-3"],
            batch="B2",
        ),
    )
    events: list[Projected] = story.envelopes
    for envelope, event in events:
        traceability.project(event, envelope)
    live = snapshot(traceability)
    assert all(live.values()), "every table has rows"

    assert rebuild(traceability, [events]) == 0, "one batch: merges folded across the story"
    assert snapshot(traceability) == live
    assert rebuild(traceability, [[event] for event in events]) == 0
    assert snapshot(traceability) == live
    shuffled = list(events)
    random.Random(11).shuffle(shuffled)
    batches = [shuffled[start : start + 4] for start in range(0, len(shuffled), 4)]
    assert rebuild(traceability, batches) == 0, "in any order"
    assert snapshot(traceability) == live
    # What the copy lacks is taken in from the live audit log at the swap.
    assert rebuild(traceability, [shuffled[5:]]) == 5
    assert snapshot(traceability) == live


def test_copy_text_reads_back_as_the_values(postgres_dsn: str) -> None:
    """Text a replay's workers make for `COPY` is read by PostgreSQL as the values themselves."""
    rows: list[tuple[object, ...]] = [
        (1, "tab\there", None, uuid.UUID(int=7), {"note": 'say "hi"\\n', "city": "Zürich"}),
        (2, "C:\\New folder\r\n", "\\N", None, [1, "two", None]),
        (3, "", "plain", uuid.UUID(int=2**128 - 1), {}),
    ]
    with psycopg.connect(postgres_dsn) as connection:
        connection.execute(
            "CREATE TEMPORARY TABLE copied (n integer, a text, b text, c uuid, d jsonb)"
        )
        with connection.cursor().copy("COPY copied (n, a, b, c, d) FROM STDIN") as copy:
            copy.write(copy_rows(rows))
        assert connection.execute("SELECT * FROM copied ORDER BY n").fetchall() == rows
