"""Stored events of every kind, recorded from real stores, that later code must still read.

The stores keep each event under the stable name of its class (`services.runtime.aggregate`).
`tests/unit/contracts/test_stored_event_names.py` reads every event recorded here with today's code: a class
moved to another module, or a value object renamed without declaring its old name, fails it.
Record with `UNITRAIL_RECORD_STORED_EVENTS=1` on an integration run (the stores of each test are
read before its stack goes): kinds already recorded are kept as they are, new kinds are added.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from contracts.topics import SERVICES

RECORD_STORED_EVENTS = "UNITRAIL_RECORD_STORED_EVENTS"
STORED_EVENTS_DIR = Path(__file__).parents[1] / "fixtures" / "stored_events"


def stored_events_file(service: str) -> Path:
    return STORED_EVENTS_DIR / f"{service}.json"


def load_stored_events(service: str) -> dict[str, dict[str, Any]]:
    """Stored name → one event stored under it: originator id and version, state (base64)."""
    path = stored_events_file(service)
    return json.loads(path.read_text()) if path.exists() else {}


def record_stored_events(postgres_dsn: str, database_prefix: str) -> list[str]:
    """Add the kinds of stored events the stack's stores hold and the fixtures lack; the names
    added."""
    added: list[str] = []
    for service in SERVICES:
        try:
            connection = psycopg.connect(postgres_dsn, dbname=f"{database_prefix}_{service}")
        except psycopg.OperationalError:
            continue  # the test did not start this service
        with connection:
            recorded = load_stored_events(service)
            for table in _event_tables(connection):
                rows = connection.execute(
                    sql.SQL(
                        "SELECT DISTINCT ON (topic) topic, originator_id, originator_version, state"
                        " FROM {} ORDER BY topic, notification_id"
                    ).format(sql.Identifier(table))
                ).fetchall()
                for topic, originator_id, version, state in rows:
                    if topic in recorded:
                        continue
                    recorded[topic] = {
                        "originator_id": str(originator_id),
                        "originator_version": version,
                        "state": base64.b64encode(bytes(state)).decode(),
                    }
                    added.append(f"{service} {topic}")
        if recorded:
            STORED_EVENTS_DIR.mkdir(parents=True, exist_ok=True)
            stored_events_file(service).write_text(
                json.dumps(dict(sorted(recorded.items())), indent=1) + "\n"
            )
    return added


def _event_tables(connection: psycopg.Connection[Any]) -> list[str]:
    rows = connection.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_name LIKE '%\\_events'"
    ).fetchall()
    return [str(row[0]) for row in rows]
