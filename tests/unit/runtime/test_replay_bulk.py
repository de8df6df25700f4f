"""Rows as `COPY` text, made without a connection: what PostgreSQL reads back is the values."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from services.runtime.replay.bulk import copy_rows, copy_text, json_text

AGGREGATE = uuid.UUID("12345678-1234-5678-1234-567812345678")
MOMENT = datetime(2026, 12, 2, 22, 30, 0, 123456, tzinfo=UTC)


def test_plain_rows_are_joined_as_they_are_with_nulls_marked() -> None:
    rows = [("order", AGGREGATE, 3, None, MOMENT, {"sku": "A-1", "lines": [1, 2]})]
    assert copy_rows(rows) == (
        "order\t12345678123456781234567812345678\t3\t\\N\t2026-12-02T22:30:00.123456+00:00"
        '\t{"sku":"A-1","lines":[1,2]}\n'
    )


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("a\tb", "a\\tb"),
        ("line\nbreak", "line\\nbreak"),
        ("carriage\rreturn", "carriage\\rreturn"),
        ("C:\\New folder", "C:\\\\New folder"),
        ("\\N", "\\\\N"),  # the text, not NULL
    ],
)
def test_text_with_a_tab_a_break_or_a_backslash_is_escaped(text: str, field: str) -> None:
    assert copy_rows([(text, None, "plain")]) == f"{field}\t\\N\tplain\n"


def test_json_with_quotes_and_other_scripts_keeps_them() -> None:
    assert copy_text({"name": 'O"Brien', "city": "Zürich"}) == (
        '{"name":"O\\\\"Brien","city":"Zürich"}'
    )


@pytest.mark.parametrize(
    "value",
    [
        {"text": 'a\tb\nc\\d "e" \u00e9\u4e2d\U0001f600', "none": None, "flags": [True, False]},
        {"numbers": [0, -1, 2**70, 1.5, -2.25e-7, 1e300], "nested": {"list": [[], {}], "k": ""}},
        [{"a": 1}, "b", None],
    ],
)
def test_json_reads_back_as_the_standard_librarys(value: object) -> None:
    # Written by pydantic's serializer: compact, but the same JSON values.
    assert json.loads(json_text(value)) == json.loads(json.dumps(value)) == value


def test_other_values() -> None:
    assert [copy_text(value) for value in (True, False, Decimal("1.50"), 2.5)] == [
        "t",
        "f",
        "1.50",
        "2.5",
    ]
    with pytest.raises(TypeError, match="no COPY text for a bytes"):
        copy_text(b"raw")


def test_a_moment_in_many_rows_and_columns_is_the_same_text_each_time() -> None:
    later = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    rows = [(MOMENT, MOMENT, later), (later, MOMENT, None)]
    first, second = MOMENT.isoformat(), later.isoformat()
    assert copy_rows(rows) == f"{first}\t{first}\t{second}\n{second}\t{first}\t\\N\n"
