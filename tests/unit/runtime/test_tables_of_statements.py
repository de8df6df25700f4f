"""Which read-model tables a query reads and a statement writes: what a unit of work keeps the
rows of a read by, and forgets them by."""

from __future__ import annotations

import pytest

from services.runtime.eventstore import table_written, tables_read

DECLARED = frozenset({"bundle_components", "product_facts", "product_dimensions", "rate_card"})


@pytest.mark.parametrize(
    ("query", "tables"),
    [
        ("SELECT card FROM rate_card WHERE id = %s", {"rate_card"}),
        (
            "SELECT t.sku, j.volume_cm3 FROM read_model.product_facts AS t"
            " LEFT JOIN read_model.product_dimensions AS j ON j.sku = t.sku WHERE t.sku = ANY(%s)",
            {"product_facts", "product_dimensions"},
        ),
        (
            "SELECT bundle_sku FROM bundle_components WHERE bundle_sku IN"
            " (SELECT bundle_sku FROM bundle_components WHERE component_sku = ANY(%s))",
            {"bundle_components"},
        ),
        ('select card from "rate_card"', {"rate_card"}),
    ],
)
def test_a_query_of_declared_tables_names_them(query: str, tables: set[str]) -> None:
    assert tables_read(query, DECLARED) == frozenset(tables)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT count(*) FROM dead_letters",  # not a read model's
        "SELECT card FROM rate_card JOIN dead_letters USING (id)",
        "SELECT b.bundle_sku FROM bundle_components b, rate_card r",  # a comma join
        "SELECT * FROM unnest(%s) AS u JOIN rate_card ON true",  # a function
        "SELECT 1",  # no table
        "WITH kits AS (SELECT * FROM bundle_components) SELECT * FROM kits",  # an alias
    ],
)
def test_a_query_not_only_of_declared_tables_is_not_known_as_one(query: str) -> None:
    assert tables_read(query, DECLARED) is None


@pytest.mark.parametrize(
    ("statement", "table"),
    [
        (
            "INSERT INTO bundle_components (bundle_sku) VALUES (%s) ON CONFLICT DO NOTHING",
            "bundle_components",
        ),
        ("INSERT INTO read_model.units AS t (serial) SELECT 1", "units"),
        ("UPDATE rate_card SET card = %s WHERE id = 1", "rate_card"),
        ("DELETE FROM bundle_components WHERE bundle_sku = %s", "bundle_components"),
        ("SELECT 1", None),
        ("TRUNCATE rate_card", None),
    ],
)
def test_a_statement_names_the_table_it_writes(statement: str, table: str | None) -> None:
    assert table_written(statement) == table
