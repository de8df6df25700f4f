"""Rows as PostgreSQL's `COPY ... FROM STDIN` text, made without a connection: what a replay's
worker processes hand the writer (traceability's: each event's message), which copies it in as
it is and spends no Python per row. The values are those read models hold: text, numbers, uuids,
moments (for `timestamptz`), and JSON (a dict or a list, for `jsonb`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic_core import to_json

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
