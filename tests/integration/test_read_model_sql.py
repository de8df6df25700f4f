"""The runtime renders read-model changes to SQL (`services/runtime/projections.py`); unit tests
apply them in memory (`InMemoryReadModels`). On a real Postgres, the same random changes, one
statement each or as set statements, leave the same rows as in memory, and a declared query
answers the same rows."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from services.runtime.projections import (
    AnyOf,
    Change,
    Delete,
    Exists,
    Index,
    Insert,
    JsonPatch,
    Merge,
    Ordinal,
    Prefix,
    ReadModels,
    Select,
    Table,
    Update,
    Upsert,
)

pytestmark = pytest.mark.integration

MODELS = ReadModels(
    Table(
        "stock",
        {"sku": "text", "location": "text", "units": "integer", "cost": "numeric?"},
        key=("sku", "location"),
        indexes=(Index("stock_by_location", ("location",)),),
    ),
    Table(
        "holders",
        {
            "serial": 'text COLLATE "C"',
            "holder": "text?",
            "holder_version": 'text COLLATE "C"?',
            "origin": "text?",
            "origin_version": 'text COLLATE "C"?',
        },
        key=("serial",),
    ),
    Table(
        "requests",
        {"id": "uuid", "line": "integer", "number": "integer", "status": "text"},
        key=("id",),
    ),
    Table("addresses", {"id": "integer", "address": "jsonb", "tags": "text[]"}, key=("id",)),
)

SKUS = ("A", "B", "C")
LOCATIONS = ("L1", "L2")
SERIALS = ("S1", "S2", "S3")


def random_change(rng: random.Random, ids: list[uuid.UUID]) -> Change:
    kind = rng.randrange(8)
    sku, location = rng.choice(SKUS), rng.choice(LOCATIONS)
    stock = {"sku": sku, "location": location, "units": rng.randrange(10)}
    stock["cost"] = rng.choice([None, Decimal(rng.randrange(1000)) / 100])
    if kind == 0:
        return Insert("stock", stock)
    if kind == 1:
        return Upsert("stock", stock, update=rng.choice([None, ("units",)]))
    if kind == 2:
        where: dict[str, Any] = rng.choice(
            [{"sku": sku}, {"location": location, "sku": AnyOf((sku, "B"))}]
        )
        return Delete("stock", where)
    if kind in (3, 4):
        group = rng.choice(["holder", "origin"])
        return Merge(
            "holders",
            {"serial": rng.choice(SERIALS)},
            {group: f"{group}-{rng.randrange(5)}"},
            f"{group}_version",
            f"v{rng.randrange(20):02d}",
            "latest" if group == "holder" else "earliest",
        )
    if kind == 5:
        row = {"id": rng.choice(ids), "line": rng.randrange(2), "status": rng.choice("xyz")}
        row["number"] = Ordinal(("line",))
        return Upsert("requests", row, update=("status",))
    if kind == 6:
        address = {"line1": rng.choice(["sealed:k1:a", "sealed:k2:b"]), "country": "GB"}
        return Upsert(
            "addresses", {"id": rng.randrange(3), "address": address, "tags": ["a", "b\tc"]}
        )
    return Update(
        "addresses",
        {"address": Prefix("sealed:k1:", json_key="line1")},
        {"address": JsonPatch({"line1": "erased", "line2": None})},
        when=rng.choice([None, Exists("stock", {"sku": sku, "location": location})]),
    )


@pytest.fixture
def connection(postgres_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    schema = f"rm_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        for statement in MODELS.ddl(schema):
            connection.execute(statement.encode())
        connection.execute(f"SET search_path TO {schema}".encode())
        yield connection
        connection.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def table_rows(connection: psycopg.Connection[Any], table: str) -> list[dict[str, Any]]:
    key = ", ".join(MODELS.renderer.tables[table].key)
    with connection.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        return list(cursor.execute(f"SELECT * FROM {table} ORDER BY {key}".encode()))


@pytest.mark.parametrize("seed", range(6))
def test_sql_and_in_memory_leave_the_same_rows(
    connection: psycopg.Connection[Any], seed: int
) -> None:
    rng = random.Random(seed)
    ids = [uuid.UUID(int=n) for n in range(4)]
    memory = MODELS.in_memory()
    for _ in range(40):
        # Batches of one to a dozen: single statements and set statements over runs.
        batch = [random_change(rng, ids) for _ in range(rng.randrange(1, 12))]
        rendered = MODELS.render(batch)
        for statement, parameters in rendered:
            connection.execute(statement.encode(), parameters)
        # In memory, in the order the renderer writes: table by table, in order within one.
        memory.apply(sorted(batch, key=lambda change: MODELS.renderer.rank(change.table)))
    for name, table in MODELS.renderer.tables.items():

        def by_key(row: dict[str, Any], key: tuple[str, ...] = table.key) -> tuple[Any, ...]:
            return tuple(row[column] for column in key)

        expected = sorted(memory.rows(name), key=by_key)
        assert table_rows(connection, name) == expected, name
    # A declared query answers the same rows from either.
    query = Select(
        "stock",
        ("sku", "location", "cost"),
        where={"sku": "any", "location": "="},
        order_by=("sku",),
    )
    with connection.cursor(row_factory=psycopg.rows.dict_row) as cursor:
        answered = list(cursor.execute(query.sql().encode(), (["A", "B"], "L1")))
    assert answered == memory.select(query, (["A", "B"], "L1"))
