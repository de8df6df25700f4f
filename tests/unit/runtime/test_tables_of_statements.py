"""Which read-model tables a query reads and a statement writes: what a unit of work keeps the
rows of a read by, and forgets them by."""

from __future__ import annotations

import pytest

from services.runtime.eventstore import table_written, tables_named, tables_read

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


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("SELECT count(*) FROM dead_letters", {"dead_letters"}),
        ("SELECT 1", set()),
        (
            "WITH kits AS (SELECT * FROM bundle_components) SELECT * FROM kits",
            {"bundle_components", "kits"},
        ),
        ("SELECT card FROM rate_card JOIN dead_letters USING (id)", {"rate_card", "dead_letters"}),
    ],
)
def test_a_query_names_every_table_it_reads_whatever_they_are(query: str, names: set[str]) -> None:
    """What a batch's read-model changes waiting to be sent are checked against before a read."""
    assert tables_named(query) == frozenset(names)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM unnest(%s) AS u JOIN rate_card ON true",  # a function
        "SELECT b.bundle_sku FROM bundle_components b, rate_card r",  # a comma join
        "WITH gone AS (DELETE FROM rate_card RETURNING id) SELECT id FROM gone",  # a write
        "UPDATE dead_letters SET state = 'dead' RETURNING id",
    ],
)
def test_a_query_whose_tables_are_not_all_found_names_none(query: str) -> None:
    assert tables_named(query) is None
