"""Measure PIM's catalogue import beside the raw insert rate of the same database.

    python scripts/benchmark_pim.py                 # 5,000 rows, embedded Postgres
    python scripts/benchmark_pim.py --rows 20000    # POSTGRES_DSN=… to use another server

Prints rows/s of a first import (every row new), of a re-import (every row unchanged: no events),
of an import changing every row, and the rate of raw asyncpg INSERTs of one row per product in one
transaction on the same server: the floor any import writing one row per product stands on.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from infra.embedded import EmbeddedPostgres
from services.pim.application import PimApplication
from services.pim.importing import parse_rows
from services.runtime.database import PostgresLocation, ensure_database


def catalogue(rows: int, name: str) -> bytes:
    lines = ["sku,name,weight,ean,lithium_ion,attribute.refresh_rate,price,currency,certifications"]
    for number in range(1, rows + 1):
        body = f"200000{number:06d}"
        weights = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
        ean = body + str((10 - weights % 10) % 10)
        lines.append(
            f"SKU-{number:06d},{name} {number},1.2 kg,{ean},no,144 Hz,19.99,USD,"
            "FCC:2025-01-01;CE:2025-01-01"
        )
    return ("\n".join(lines) + "\n").encode()


async def raw_inserts(location: PostgresLocation, rows: int) -> float:
    connection = await asyncpg.connect(**location.asyncpg_kwargs())
    try:
        await connection.execute(
            "CREATE TEMPORARY TABLE raw_rows (id uuid PRIMARY KEY, body jsonb NOT NULL)"
        )
        started = time.perf_counter()
        async with connection.transaction():
            await connection.executemany(
                "INSERT INTO raw_rows (id, body) VALUES ($1, $2)",
                [(uuid.uuid4(), '{"sku": "SKU-1", "name": "product"}') for _ in range(rows)],
            )
        return rows / (time.perf_counter() - started)
    finally:
        await connection.close()


def timed_import(application: PimApplication, body: bytes) -> tuple[float, str]:
    started = time.perf_counter()
    result = application.import_catalogue(parse_rows(body, "text/csv"))
    seconds = time.perf_counter() - started
    summary = f"applied {result.applied}, unchanged {result.unchanged}, errors {len(result.errors)}"
    return seconds, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000, help="products in the catalogue")
    arguments = parser.parse_args()
    rows = arguments.rows
    with tempfile.TemporaryDirectory() as workdir:
        postgres: EmbeddedPostgres | None = None
        dsn = os.environ.get("POSTGRES_DSN")
        if dsn is None:
            postgres = EmbeddedPostgres(Path(workdir) / "pgdata", delete_on_stop=True)
            dsn = postgres.start()
        location = PostgresLocation.from_dsn(dsn).with_database(f"pim_bench_{uuid.uuid4().hex[:8]}")
        try:
            asyncio.run(ensure_database(location))
            application = PimApplication(location)
            raw = asyncio.run(raw_inserts(location, rows))
            print(f"raw asyncpg INSERT (one transaction): {raw:,.0f} rows/s")
            for label, body in (
                ("first import", catalogue(rows, "Product")),
                ("re-import, nothing changed", catalogue(rows, "Product")),
                ("import changing every row", catalogue(rows, "Renamed")),
            ):
                seconds, summary = timed_import(application, body)
                rate = rows / seconds
                print(
                    f"{label}: {rows} rows in {seconds:.2f} s = {rate:,.0f} rows/s "
                    f"({rate / raw:.1%} of raw; {summary})"
                )
            application.close()
        finally:
            if postgres is not None:
                postgres.stop()


if __name__ == "__main__":
    main()
