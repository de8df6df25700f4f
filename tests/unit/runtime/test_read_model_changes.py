"""Read models as data (`services/runtime/projections.py`): tables declared with their DDL
generated, changes as values rendered to SQL in one place, and the same changes applied in memory
with the semantics the SQL gives them; queries as values, rendered to SQL or answered in memory."""

from __future__ import annotations

import json
import uuid

import pytest

from services.runtime.projections import (
    AnyOf,
    Change,
    Delete,
    Exists,
    Index,
    Insert,
    Join,
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

STOCK = Table(
    "stock",
    {"sku": "text", "location": "text", "units": "integer", "note": "text?"},
    key=("sku", "location"),
    indexes=(Index("stock_by_location", ("location",), where="units > 0"),),
    checks=("units >= 0",),
)
LINES = Table(
    "lines",
    {"order_id": "uuid", "line": "integer", "number": "integer", "status": "text"},
    key=("order_id", "line"),
)
UNITS = Table(
    "units",
    {"serial": 'text COLLATE "C"', "holder": "text?", "holder_version": "text?"},
    key=("serial",),
)
ADDRESSES = Table("addresses", {"id": "integer", "address": "jsonb"}, key=("id",))
MODELS = ReadModels(STOCK, LINES, UNITS, ADDRESSES)


def test_the_ddl_is_generated_from_the_declaration() -> None:
    assert STOCK.ddl() == [
        "CREATE TABLE IF NOT EXISTS stock (sku text NOT NULL, location text NOT NULL,"
        " units integer NOT NULL, note text, PRIMARY KEY (sku, location), CHECK (units >= 0))",
        "CREATE INDEX IF NOT EXISTS stock_by_location ON stock (location) WHERE units > 0",
    ]
    assert MODELS.ddl("shadow")[:2] == [
        "CREATE SCHEMA IF NOT EXISTS shadow",
        "CREATE TABLE IF NOT EXISTS shadow.stock (sku text NOT NULL, location text NOT NULL,"
        " units integer NOT NULL, note text, PRIMARY KEY (sku, location), CHECK (units >= 0))",
    ]
    assert STOCK.ddl(key_later=True)[0].endswith("note text, CHECK (units >= 0))")
    assert STOCK.finishing_ddl("s")[:2] == [
        "CREATE UNIQUE INDEX stock_pkey ON s.stock (sku, location)",
        "ALTER TABLE s.stock ADD CONSTRAINT stock_pkey PRIMARY KEY USING INDEX stock_pkey",
    ]


def test_consecutive_changes_of_one_shape_are_one_set_statement_per_table_in_declared_order() -> (
    None
):
    changes: list[Change] = [
        Merge("units", {"serial": "S1"}, {"holder": "WH-A"}, "holder_version", "2", "latest"),
        Upsert("stock", {"sku": "A", "location": "WH-A", "units": 1, "note": None}),
        Upsert("stock", {"sku": "B", "location": "WH-A", "units": 2, "note": None}),
        Upsert("stock", {"sku": "A", "location": "WH-A", "units": 3, "note": None}),
        Delete("stock", {"sku": AnyOf(("C", "D"))}),
        Merge("units", {"serial": "S1"}, {"holder": "WH-B"}, "holder_version", "1", "latest"),
    ]
    statements = MODELS.render(changes)
    assert [sql.split(" ")[0:3] for sql, _ in statements] == [
        ["INSERT", "INTO", "stock"],
        ["DELETE", "FROM", "stock"],
        ["INSERT", "INTO", "units"],
    ]
    upsert, parameters = statements[0]
    assert "jsonb_to_recordset" in upsert
    assert "ON CONFLICT (sku, location) DO UPDATE SET units = excluded.units" in upsert
    # One row per key (a statement may not touch a row twice), as one after the other leaves it.
    assert json.loads(parameters[0]) == [
        {"sku": "A", "location": "WH-A", "units": 3, "note": None},
        {"sku": "B", "location": "WH-A", "units": 2, "note": None},
    ]
    assert statements[1] == ("DELETE FROM stock WHERE sku = ANY(%s)", (["C", "D"],))
    merge, merged = statements[2]
    assert "r(serial text, holder text, holder_version text)" in merge  # no collation there
    assert json.loads(merged[0]) == [{"serial": "S1", "holder": "WH-A", "holder_version": "2"}]


def test_a_single_change_is_one_row_of_parameters_in_the_schema_asked_for() -> None:
    ((sql, parameters),) = MODELS.render(
        [Insert("stock", {"sku": "A", "location": "L", "units": 1, "note": None})], "shadow"
    )
    assert sql == (
        "INSERT INTO shadow.stock (sku, location, units, note) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT DO NOTHING"
    )
    assert parameters == ("A", "L", 1, None)


def test_in_memory_inserts_keep_the_first_row_and_upserts_set_what_they_update() -> None:
    tables = MODELS.in_memory()
    tables.apply(
        [
            Insert("stock", {"sku": "A", "location": "L", "units": 1, "note": "first"}),
            Insert("stock", {"sku": "A", "location": "L", "units": 9, "note": "second"}),
            Upsert("stock", {"sku": "A", "location": "L", "units": 2, "note": "x"}, ("units",)),
            Upsert("stock", {"sku": "B", "location": "L", "units": 5, "note": None}),
        ]
    )
    assert [(r["sku"], r["units"], r["note"]) for r in tables.rows("stock")] == [
        ("A", 2, "first"),
        ("B", 5, None),
    ]
    tables.apply([Delete("stock", {"sku": AnyOf(("A",)), "location": "L"})])
    assert [r["sku"] for r in tables.rows("stock")] == ["B"]


def test_in_memory_merges_keep_the_latest_or_earliest_whatever_the_order() -> None:
    def merge(holder: str, version: str) -> Merge:
        return Merge(
            "units", {"serial": "S"}, {"holder": holder}, "holder_version", version, "latest"
        )

    for order in (
        [merge("a", "1"), merge("b", "3"), merge("c", "2")],
        [merge("b", "3"), merge("a", "1"), merge("c", "2")],
    ):
        tables = MODELS.in_memory()
        tables.apply(order)
        tables.apply(order)  # again: nothing changes
        assert tables.rows("units") == [{"serial": "S", "holder": "b", "holder_version": "3"}]


def test_in_memory_ordinals_number_rows_in_their_group_and_updates_patch_json() -> None:
    order_id = uuid.uuid4()
    tables = MODELS.in_memory()

    def line(line: int, status: str) -> Upsert:
        row = {
            "order_id": order_id,
            "line": line,
            "number": Ordinal(("order_id",)),
            "status": status,
        }
        return Upsert("lines", row, update=("status",))

    tables.apply([line(1, "new"), line(2, "new"), line(1, "done")])
    assert [(r["line"], r["number"], r["status"]) for r in tables.rows("lines")] == [
        (1, 1, "done"),
        (2, 2, "new"),
    ]
    ((numbered, parameters),) = MODELS.render([line(3, "new")])
    assert "SELECT %s, %s, count(*) + 1, %s FROM lines WHERE order_id = %s" in numbered
    assert parameters == (order_id, 3, "new", order_id)

    tables.apply(
        [
            Insert("addresses", {"id": 1, "address": {"line1": "sealed:k1:xyz", "country": "GB"}}),
            Insert("addresses", {"id": 2, "address": {"line1": "sealed:k2:abc", "country": "FR"}}),
            Update(
                "addresses",
                {"address": Prefix("sealed:k1:", json_key="line1")},
                {"address": JsonPatch({"line1": "erased"})},
            ),
        ]
    )
    assert [r["address"] for r in tables.rows("addresses")] == [
        {"line1": "erased", "country": "GB"},
        {"line1": "sealed:k2:abc", "country": "FR"},
    ]


def test_an_update_guarded_by_another_table_applies_only_when_a_row_there_matches() -> None:
    tables = MODELS.in_memory()
    address = {"line1": "sealed:k2:abc", "country": "FR"}
    erase = Update(
        "addresses",
        {"id": 2},
        {"address": JsonPatch({"line1": "erased"})},
        when=Exists("units", {"serial": "S9"}),
    )
    tables.apply([Insert("addresses", {"id": 2, "address": address}), erase])
    assert tables.rows("addresses")[0]["address"]["line1"] == "sealed:k2:abc"
    tables.apply([Insert("units", {"serial": "S9"}), erase])
    assert tables.rows("addresses")[0]["address"]["line1"] == "erased"

    ((sql, parameters),) = MODELS.render([erase], "s")
    assert sql.endswith("WHERE id = %s AND EXISTS (SELECT 1 FROM s.units WHERE serial = %s)")
    assert parameters[1:] == (2, "S9")
    # The guard's table is written first in a batch: one declared later could not guard.
    backwards = Update("stock", {"sku": "A"}, {"units": 0}, when=Exists("units", {"serial": "S9"}))
    with pytest.raises(ValueError, match="declared before"):
        MODELS.render([backwards])


def test_a_declared_query_is_sql_and_the_same_answer_in_memory() -> None:
    prices = Table("prices", {"sku": "text", "price": "integer"}, key=("sku",))
    tables = ReadModels(STOCK, prices).in_memory()
    stock_of = Select(
        "stock",
        ("sku", "units"),
        where={"sku": "any", "location": "="},
        join=Join("prices", on=("sku",), columns=("price",)),
        order_by=("units",),
    )
    assert stock_of.sql("s") == (
        "SELECT t.sku, t.units, j.price FROM s.stock AS t LEFT JOIN s.prices AS j ON j.sku = t.sku"
        " WHERE t.sku = ANY(%s) AND t.location = %s ORDER BY t.units"
    )
    tables.apply(
        [
            *(
                Insert("stock", {"sku": sku, "location": location, "units": units})
                for sku, location, units in [("A", "L", 3), ("B", "L", 1), ("C", "L", 2)]
            ),
            Insert("stock", {"sku": "A", "location": "M", "units": 7}),
            Insert("prices", {"sku": "A", "price": 10}),
        ]
    )
    assert tables.select(stock_of, (["A", "B"], "L")) == [
        {"sku": "B", "units": 1, "price": None},
        {"sku": "A", "units": 3, "price": 10},
    ]
    assert tables.select(stock_of, (["C"], "M")) == []
    with pytest.raises(TypeError, match="takes 2 parameters"):
        tables.select(stock_of, (["A"],))
