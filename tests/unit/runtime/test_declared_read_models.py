"""The declaration a database's read-model tables were built from is told apart by a digest of
their statements: any change to a table, a key or an index is a new declaration."""

from __future__ import annotations

from services.runtime.projections import Index, ReadModels, Table
from services.runtime.replay.declared import declaration_digest


def catalogue(*columns: str, index: Index | None = None) -> ReadModels:
    return ReadModels(
        Table(
            "catalogue",
            {"sku": "text", **{column: "text?" for column in columns}},
            key=("sku",),
            indexes=(index,) if index else (),
        )
    )


def test_the_same_declaration_has_the_same_digest_and_any_change_another() -> None:
    before = declaration_digest(catalogue("name"))
    assert declaration_digest(catalogue("name")) == before
    assert declaration_digest(catalogue("name", "entry")) != before
    assert declaration_digest(catalogue("title")) != before
    assert declaration_digest(catalogue("name", index=Index("by_name", ("name",)))) != before
