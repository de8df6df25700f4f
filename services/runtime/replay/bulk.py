"""Read-model changes in bulk, for a replay: folded, as PostgreSQL's `COPY ... FROM STDIN` text
made without a connection, and written with a few statements per table.

A replay's worker processes turn their events into the changes of the read models there
(`bulk_rows`), and hand the writer text it copies in as it is (`write_bulk`): the writer spends no
Python per row. The values are those the read models hold: text, numbers, uuids, moments (for
`timestamptz`), and JSON (a dict or a list, for `jsonb`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import psycopg
from pydantic_core import to_json

from services.runtime.projections import (
    Change,
    Insert,
    Merge,
    ReadModels,
    Table,
    fold_merges,
    insert_sql,
    merge_sql,
    qualified,
)

NULL = "\\N"
_ESCAPED = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: Any) -> str:
    """One value as a field of the text format (`\\N` for NULL; backslash escapes)."""
    kind = type(value)
    if kind is str:
        return _escaped(value)
    if value is None:
        return NULL
    if kind is uuid.UUID:
        return f"{value.int:032x}"  # what `uuid` input reads, without `UUID.__str__`'s dashes
    if kind is bool:
        return "t" if value else "f"
    if kind is int or kind is Decimal:
        return str(value)
    if kind is datetime or kind is date:
        return str(value.isoformat())
    if kind is dict or kind is list:
        return _json(value)
    if isinstance(value, str):  # an enumeration's member, say: its text
        return _escaped(str.__str__(value))
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    raise TypeError(f"no COPY text for a {kind.__name__}: {value!r}")


def copy_rows(rows: Iterable[Sequence[Any]]) -> str:
    """Rows as the text `COPY ... FROM STDIN` reads: tab-separated fields, a line each."""
    # An event's moment is in most of its rows (when it happened, when the row changed) and in
    # several columns of one: written once per batch. Equal moments with different offsets are
    # the same `timestamptz` and are written alike.
    unescaped = _UNESCAPED | {datetime: _Moments().__getitem__}
    return "".join([_line(row, unescaped) for row in rows])


class _Moments(dict[datetime, str]):
    """Moments as text, each written once."""

    def __missing__(self, moment: datetime) -> str:
        text = self[moment] = moment.isoformat()
        return text


_NO_TEXT = "\x00"
"""Stands for NULL in a line until it is checked: a character no PostgreSQL text can hold."""


def _json(value: Any) -> str:
    return _escaped(json_text(value))


def json_text(value: Any) -> str:
    """A dict or list as JSON text for a `jsonb` field (not yet escaped for `COPY`)."""
    # pydantic's serializer (Rust) writes the same JSON as the standard library's encoder, with
    # the text as it is (no ASCII escapes), in a fraction of its time: a replay writes every
    # event's payload so.
    return to_json(value).decode()


_UNESCAPED: dict[type[Any], Callable[[Any], str]] = {
    int: int.__repr__,
    uuid.UUID: "{0.int:032x}".format,
    datetime: datetime.isoformat,
    dict: json_text,
}
"""How the common kinds of value are written when the line is checked as a whole afterwards
(C functions, no Python frame per field); the rest go through `copy_text`."""


def _line(row: Sequence[Any], unescaped: dict[type[Any], Callable[[Any], str]]) -> str:
    # Most fields are plain text or NULL, and hardly any text holds a tab, a line break or a
    # backslash: the line is joined as it is and checked once, escaped field by field only when
    # it has any of them.
    line = "\t".join(
        [
            value
            if type(value) is str
            else _NO_TEXT
            if value is None
            else unescaped.get(type(value), copy_text)(value)
            for value in row
        ]
    )
    if "\\" in line or "\n" in line or "\r" in line or line.count("\t") >= len(row):
        return "\t".join(map(copy_text, row)) + "\n"
    return line.replace(_NO_TEXT, NULL) + "\n"


def _escaped(text: str) -> str:
    # Plain text is by far the most common: four scans in C beat a translation.
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_ESCAPED)
    return text


# -- changes in bulk -------------------------------------------------------------------------

MergeKind = tuple[str, tuple[str, ...], tuple[str, ...], str, Literal["latest", "earliest"]]
"""A merge's table, key columns, value columns, version column and which version wins."""


@dataclass(frozen=True)
class BulkRows:
    """A batch of changes as `COPY` text, folded (see `bulk_rows`)."""

    copied: list[tuple[str, tuple[str, ...], str]]
    """Per table and columns: every row."""
    inserted: list[tuple[str, tuple[str, ...], str]]
    """Per table and columns: the first row of each key."""
    merged: list[tuple[MergeKind, str]]
    """Per kind of merge: the winning row of each key (key, values, version)."""


def bulk_rows(changes: Iterable[Change], tables: Mapping[str, Table]) -> BulkRows:
    """Changes made by events that are each applied once (a replay's), and that do not depend on
    the order they are applied in (inserts and merges), folded into as few rows as give the same
    tables as applying them one by one:

    - rows of `rows_once` tables (keyed by the event that made them) are new: copied in;
    - other inserts keep the first row per key, as `ON CONFLICT DO NOTHING` would;
    - merges keep the winning version per key and kind (the upsert still compares it with what
      the table has).
    """
    copied: dict[tuple[str, tuple[str, ...]], list[tuple[Any, ...]]] = {}
    inserted: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], tuple[Any, ...]]] = {}
    merges: dict[MergeKind, list[Merge]] = {}
    for change in changes:
        if isinstance(change, Insert):
            table = tables[change.table]
            columns = tuple(change.row)
            values = tuple(change.row.values())
            if table.rows_once:
                copied.setdefault((change.table, columns), []).append(values)
            else:
                key = tuple(change.row[column] for column in table.key)
                inserted.setdefault((change.table, columns), {}).setdefault(key, values)
        elif isinstance(change, Merge):
            kind: MergeKind = (
                change.table,
                tuple(change.key),
                tuple(change.values),
                change.version_column,
                change.keep,
            )
            merges.setdefault(kind, []).append(change)
        else:
            raise TypeError(f"a bulk load takes inserts and merges only, not {change!r}")
    return BulkRows(
        copied=[(table, columns, copy_rows(rows)) for (table, columns), rows in copied.items()],
        inserted=[
            (table, columns, copy_rows(first.values()))
            for (table, columns), first in inserted.items()
        ],
        merged=[
            (
                kind,
                copy_rows(
                    (*change.key.values(), *change.values.values(), change.version)
                    for change in fold_merges(kinds)
                ),
            )
            for kind, kinds in merges.items()
        ],
    )


def write_bulk(
    cursor: psycopg.Cursor[Any], rows: BulkRows, read_models: ReadModels, schema: str
) -> None:
    """Write `rows` to the tables in `schema`, table by table in the declared order (so
    concurrent writers lock them in the same order): copied in, or staged by `COPY` and then
    inserted or upserted by one statement per table and kind."""
    rank = read_models.renderer.rank
    for table, columns, text in sorted(rows.copied, key=lambda copied: rank(copied[0])):
        _copy(cursor, qualified(schema, table), columns, text)
    for table, columns, text in sorted(rows.inserted, key=lambda first: rank(first[0])):
        target = qualified(schema, table)
        stage = _stage(cursor, f"stage_{table}", target, columns, text)
        conflict = "ON CONFLICT DO NOTHING"
        cursor.execute(insert_sql(target, columns, conflict, source=stage).encode())
    for kind, text in sorted(rows.merged, key=lambda merged: rank(merged[0][0])):
        # Staged, then upserted by one statement: one key per kind, so no row is hit twice.
        table, key, values, version_column, keep = kind
        target = qualified(schema, table)
        columns = (*key, *values, version_column)
        stage = _stage(cursor, f"stage_{table}_{version_column}", target, columns, text)
        cursor.execute(merge_sql(target, key, values, version_column, keep, source=stage).encode())


def _stage(
    cursor: psycopg.Cursor[Any], stage: str, table: str, columns: tuple[str, ...], text: str
) -> str:
    """A temporary table `stage` of `columns` of `table`, holding the rows of `text` until the
    commit; returns its name. The table stays with the connection, emptied at each commit:
    creating and dropping tables in every batch costs more than the batch's upserts."""
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS"
        f" SELECT {', '.join(columns)} FROM {table} WITH NO DATA".encode()
    )
    _copy(cursor, stage, columns, text)
    return stage


def _copy(cursor: psycopg.Cursor[Any], table: str, columns: Sequence[str], text: str) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN".encode()) as copy:
        copy.write(text)
