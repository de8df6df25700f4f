"""A service's read models, declared once as data: their tables, the pure functions from events to
changes, and the one place those changes become SQL.

**Tables** are `Table` values (name, typed columns, key, indexes); their `CREATE ... IF NOT EXISTS`
statements are generated (`Table.ddl`). **Changes** are values, never SQL:

- `Insert`: add a row; a row with the same key is left as it is;
- `Upsert`: add a row, or set the non-key columns (or those named in `update`) of the row there;
- `Merge`: set some columns of the row at a key unless a change with a later (`keep="latest"`) or
  earlier (`keep="earliest"`) version set them already (order-independent read models);
- `Delete`: remove the rows that match; `Update`: set columns of the rows that match
  (if some row of an earlier-declared table matches too, `Exists`).

`SqlRenderer.render` turns a list of changes into statements, table by table in the order the
tables are declared (so concurrent writers lock tables in one order), consecutive changes of one
shape as one set statement (`jsonb_to_recordset`): a save of a hundred products or a replay's batch
of a thousand events costs a few statements, not one per row. `InMemoryReadModels` applies the same
changes to dicts with the same semantics, for unit and component tests.

**Queries** a use case runs are values too (`Select`: a table's columns, equality conditions, a
left join by key, an order), rendered to SQL or answered from the tables in memory
(`ServiceApplication.query`): a service's consumer runs on an in-memory store with the same reads
(tests/component).

Each service with read models builds one `ReadModels` in its `projections.py` and registers its
projections on it, of three kinds:

- `on_event(Model, producer=...)`: a public event of another service (with its envelope) → its
  changes. The consumer applies it live, subscribed from this declaration
  (`subscribe_read_models`), unless a handler of the service handles that event itself (a use case
  that also decides something, and saves `projected(...)` with what it decides); a replay applies
  it to events read from the topics or the producers' stores.
- `on_own_event(Aggregate.Event)`: one of the service's own domain events → its changes.
- `on_own_aggregates(Aggregate)`: the state of some of the service's own aggregates → the rows
  that show it (for read models that are a view of the whole aggregate, not of one event).

A `ReadModels` may `include` another (a read model several services keep, like
`services.runtime.product_facts`). The service's own events are applied live by
`ServiceApplication.save_projected`, in the transaction that records them; a replay reads them
from the service's own store. So the live path and the replay call the same functions, and a
rebuilt read model equals the live one.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, TypeVar

from psycopg.types.json import Jsonb

from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from services.runtime.aggregate import Aggregate
from services.runtime.eventstore import ReadModelChange as ReadModelChange

Row = Mapping[str, Any]

# -- tables as data --------------------------------------------------------------------------


@dataclass(frozen=True)
class Index:
    """A secondary index: `columns` are column names or parenthesised expressions."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None
    using: str | None = None

    def ddl(self, table: str) -> str:
        unique = "UNIQUE " if self.unique else ""
        using = f" USING {self.using}" if self.using else ""
        where = f" WHERE {self.where}" if self.where else ""
        return (
            f"CREATE {unique}INDEX IF NOT EXISTS {self.name} ON {table}{using}"
            f" ({', '.join(self.columns)}){where}"
        )


@dataclass(frozen=True)
class Table:
    """A read-model table: `columns` maps each column to its Postgres type, NOT NULL unless the
    type ends in `?` (`"text?"`); `key` is the primary key.

    `rows_once`: every row is written once, by the one event whose identity is in its key (an
    audit log, a history): a replay copies such rows in and builds the key after them.
    """

    name: str
    columns: Mapping[str, str]
    key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()
    checks: tuple[str, ...] = ()
    rows_once: bool = False

    def __post_init__(self) -> None:
        unknown = [column for column in self.key if column not in self.columns]
        if unknown or not self.key:
            raise ValueError(f"table {self.name}: key {self.key} is not of its columns")

    def type_of(self, column: str) -> str:
        """The column's type without nullability or collation (as a record definition takes it)."""
        return self.columns[column].rstrip("?").split(" COLLATE ")[0]

    def ddl(self, schema: str | None = None, *, key_later: bool = False) -> list[str]:
        """`CREATE TABLE IF NOT EXISTS` and its indexes; with `key_later`, the table alone (a
        bulk load adds the key and the indexes afterwards: `finishing_ddl`)."""
        name = qualified(schema, self.name)
        parts = [
            f"{column} {kind.rstrip('?')}{'' if kind.endswith('?') else ' NOT NULL'}"
            for column, kind in self.columns.items()
        ]
        if not key_later:
            parts.append(f"PRIMARY KEY ({', '.join(self.key)})")
        parts += [f"CHECK ({check})" for check in self.checks]
        create = f"CREATE TABLE IF NOT EXISTS {name} ({', '.join(parts)})"
        if key_later:
            return [create]
        return [create, *(index.ddl(name) for index in self.indexes)]

    def finishing_ddl(self, schema: str | None = None) -> list[str]:
        """What `ddl(key_later=True)` left out: the primary key and the indexes. The key is
        built as a unique index first: that lets others read the table meanwhile (a rebuild
        derives its other tables from it), where adding the key outright locks them out until
        it is built; making the index the key then takes a moment."""
        name = qualified(schema, self.name)
        key_index = f"{self.name}_pkey"
        return [
            f"CREATE UNIQUE INDEX {key_index} ON {name} ({', '.join(self.key)})",
            f"ALTER TABLE {name} ADD CONSTRAINT {key_index} PRIMARY KEY USING INDEX {key_index}",
            *(index.ddl(name) for index in self.indexes),
        ]


def qualified(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


# -- changes as values -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ordinal:
    """A row value: one more than the number of rows with the same values of `within` (the
    row's number in its group, given when it is first inserted)."""

    within: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """A condition: the column's value is one of `values`."""

    values: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Prefix:
    """A condition: the column's text (or the text at `json_key` of a `jsonb` column) starts
    with `prefix`."""

    prefix: str
    json_key: str | None = None


@dataclass(frozen=True, slots=True)
class Exists:
    """A condition on another table: some row of `table` matches `where` (a value, `AnyOf` or
    `Prefix` per column). The table must be declared before the one it guards (see
    `SqlRenderer.render`)."""

    table: str
    where: Row


@dataclass(frozen=True, slots=True)
class JsonPatch:
    """A new value for a `jsonb` column: its object with these keys set, the others kept."""

    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Insert:
    """Add `row` once: a row with the same key is left as it is."""

    table: str
    row: Row


@dataclass(frozen=True, slots=True)
class Upsert:
    """Add `row`, or set the columns `update` names (every non-key column of `row` when None) of
    the row with its key."""

    table: str
    row: Row
    update: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Merge:
    """Set `values` on the row at `key` (creating it), unless a change of this kind with a later
    (`keep="latest"`) or earlier (`keep="earliest"`) `version` set them already."""

    table: str
    key: Row
    values: Row
    version_column: str
    version: str
    keep: Literal["latest", "earliest"]


@dataclass(frozen=True, slots=True)
class Delete:
    """Remove the rows whose columns match `where` (a value, `AnyOf` or `Prefix` per column)."""

    table: str
    where: Row


@dataclass(frozen=True, slots=True)
class Update:
    """Set `values` (a value or a `JsonPatch` per column) on the rows that match `where`, if
    `when` holds (always when None)."""

    table: str
    where: Row
    values: Row
    when: Exists | None = None


Change = Insert | Upsert | Merge | Delete | Update


# -- queries as values -----------------------------------------------------------------------


@dataclass(frozen=True)
class Join:
    """A left join: the row of `table` whose key is the joined-to row's `on` columns, adding its
    `columns` (None where there is none)."""

    table: str
    on: tuple[str, ...]
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Select:
    """A read-model query declared as data, so that a use case reads the same way from Postgres
    (`sql`) and from tables in memory (`InMemoryReadModels.select`).

    Its parameters, in order, one per `where` column: the value the column equals (`"="`), or the
    values it is one of (`"any"`). `columns` and `order_by` name columns of `table`.
    """

    table: str
    columns: tuple[str, ...]
    where: Mapping[str, Literal["=", "any"]] = field(default_factory=dict)
    join: Join | None = None
    order_by: tuple[str, ...] = ()

    def sql(self, schema: str | None = None) -> str:
        """The query as SQL against the tables in `schema` (the search path's when None)."""
        columns = [f"t.{column}" for column in self.columns]
        source = f"{qualified(schema, self.table)} AS t"
        if self.join is not None:
            columns += [f"j.{column}" for column in self.join.columns]
            on = " AND ".join(f"j.{column} = t.{column}" for column in self.join.on)
            source += f" LEFT JOIN {qualified(schema, self.join.table)} AS j ON {on}"
        conditions = [
            f"t.{column} = ANY(%s)" if kind == "any" else f"t.{column} = %s"
            for column, kind in self.where.items()
        ]
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        order = f" ORDER BY {', '.join(f't.{c}' for c in self.order_by)}" if self.order_by else ""
        return f"SELECT {', '.join(columns)} FROM {source}{where}{order}"


def merge_wins(keep: Literal["latest", "earliest"], version: str, current: str | None) -> bool:
    """Whether a merge of `version` replaces what a merge of `current` set."""
    return (
        current is None
        or (keep == "latest" and version > current)
        or (keep == "earliest" and version < current)
    )


# -- changes as SQL --------------------------------------------------------------------------


class SqlRenderer:
    """Renders changes to the declared `tables` as SQL, in tables of `schema` (unqualified names,
    for the connection's search path, when None)."""

    def __init__(self, tables: Sequence[Table]) -> None:
        self.tables: dict[str, Table] = {table.name: table for table in tables}
        self._rank = {table.name: rank for rank, table in enumerate(tables)}

    def rank(self, table: str) -> int:
        """The table's place in the writing order (its declaration's)."""
        return self._rank[table]

    def render(self, changes: Iterable[Change], schema: str | None = None) -> list[ReadModelChange]:
        """`changes` as statements: table by table in declaration order, in order within a
        table, consecutive inserts, upserts and merges of one shape as one statement over all
        their rows. A change writes its own table only, so tables commute; an `Exists` guard
        reads an earlier table as the whole batch leaves it, which suits facts that stay (a
        customer forgotten is forgotten for good)."""
        ordered = sorted(changes, key=lambda change: self._rank[change.table])
        return [
            statement
            for run in _runs_of_one_shape(ordered)
            for statement in self._render_run(run, schema)
        ]

    def _render_run(self, run: list[Change], schema: str | None) -> Iterator[ReadModelChange]:
        first = run[0]
        table = self.tables[first.table]
        if isinstance(first, Delete | Update) or (
            isinstance(first, Insert | Upsert) and _has_ordinal(first.row)
        ):
            for change in run:
                yield self._one(change, table, schema)
            return
        if len(run) == 1:
            yield self._one(first, table, schema)
            return
        if isinstance(first, Merge):
            winners = fold_merges(run)  # type: ignore[arg-type]
            columns = (*first.key, *first.values, first.version_column)
            merged: list[Row] = [
                {**m.key, **m.values, m.version_column: m.version} for m in winners
            ]
            statement = merge_sql(
                qualified(schema, table.name),
                tuple(first.key),
                tuple(first.values),
                first.version_column,
                first.keep,
                source=_recordset(table, columns),
            )
            yield statement, (_json_rows(merged, columns),)
            return
        columns = tuple(first.row)
        rows = _fold_rows(run, table)  # type: ignore[arg-type]
        yield (
            insert_sql(
                qualified(schema, table.name),
                columns,
                _conflict(first, table),
                source=_recordset(table, columns),
            ),
            (_json_rows(rows, columns),),
        )

    def _one(self, change: Change, table: Table, schema: str | None) -> ReadModelChange:
        name = qualified(schema, table.name)
        if isinstance(change, Insert | Upsert):
            columns = tuple(change.row)
            ordinals = {c: v for c, v in change.row.items() if isinstance(v, Ordinal)}
            conflict = _conflict(change, table)
            if not ordinals:
                return (
                    insert_sql(name, columns, conflict),
                    tuple(_parameter(value) for value in change.row.values()),
                )
            return _insert_numbered(name, change.row, ordinals, conflict)
        if isinstance(change, Merge):
            return (
                merge_sql(
                    name,
                    tuple(change.key),
                    tuple(change.values),
                    change.version_column,
                    change.keep,
                ),
                (
                    *map(_parameter, change.key.values()),
                    *map(_parameter, change.values.values()),
                    change.version,
                ),
            )
        where, where_parameters = _where(change.where)
        if isinstance(change, Delete):
            return f"DELETE FROM {name} WHERE {where}", where_parameters
        sets: list[str] = []
        parameters: list[Any] = []
        for column, value in change.values.items():
            if isinstance(value, JsonPatch):
                sets.append(f"{column} = {column} || %s::jsonb")
                parameters.append(Jsonb(dict(value.values)))
            else:
                sets.append(f"{column} = %s")
                parameters.append(_parameter(value))
        if change.when is not None:
            if self._rank[change.when.table] >= self._rank[table.name]:
                raise ValueError(
                    f"an update of {table.name} guarded by {change.when.table} needs that table"
                    " declared before it"
                )
            guard, guard_parameters = _where(change.when.where)
            guarded = qualified(schema, change.when.table)
            where = f"{where} AND EXISTS (SELECT 1 FROM {guarded} WHERE {guard})"
            where_parameters = (*where_parameters, *guard_parameters)
        return f"UPDATE {name} SET {', '.join(sets)} WHERE {where}", (
            *parameters,
            *where_parameters,
        )


def _shape(change: Change) -> tuple[Any, ...]:
    if isinstance(change, Insert):
        return ("insert", change.table, tuple(change.row))
    if isinstance(change, Upsert):
        return ("upsert", change.table, tuple(change.row), change.update)
    if isinstance(change, Merge):
        return (
            "merge",
            change.table,
            tuple(change.key),
            tuple(change.values),
            change.version_column,
            change.keep,
        )
    return (type(change).__name__, change.table, id(change))  # never grouped


def _runs_of_one_shape(changes: Sequence[Change]) -> Iterator[list[Change]]:
    run: list[Change] = []
    shape: tuple[Any, ...] | None = None
    for change in changes:
        this = _shape(change)
        if run and this != shape:
            yield run
            run = []
        shape = this
        run.append(change)
    if run:
        yield run


def _has_ordinal(row: Row) -> bool:
    return any(isinstance(value, Ordinal) for value in row.values())


def _key_of(row: Row, table: Table) -> tuple[Any, ...]:
    return tuple(row[column] for column in table.key)


def _fold_rows(run: Sequence[Insert | Upsert], table: Table) -> list[Row]:
    """One row per key, as applying the run one change after the other leaves it: an insert
    keeps the first row; an upsert the first row's other columns and the last's `update` ones
    (one statement may not touch a row twice)."""
    folded: dict[tuple[Any, ...], dict[str, Any]] = {}
    for change in run:
        key = _key_of(change.row, table)
        current = folded.get(key)
        if current is None:
            folded[key] = dict(change.row)
        elif isinstance(change, Upsert):
            for column in _updated_columns(change, table):
                current[column] = change.row[column]
    return list(folded.values())


def fold_merges(merges: Iterable[Merge]) -> list[Merge]:
    """The winning merge per key (of merges of one kind)."""
    winners: dict[tuple[Any, ...], Merge] = {}
    for merge in merges:
        key = tuple(merge.key.values())
        current = winners.get(key)
        if current is None or merge_wins(merge.keep, merge.version, current.version):
            winners[key] = merge
    return list(winners.values())


def _updated_columns(change: Upsert, table: Table) -> tuple[str, ...]:
    if change.update is not None:
        return change.update
    return tuple(column for column in change.row if column not in table.key)


def _conflict(change: Insert | Upsert, table: Table) -> str:
    if isinstance(change, Insert):
        return "ON CONFLICT DO NOTHING"
    updated = _updated_columns(change, table)
    target = f"ON CONFLICT ({', '.join(table.key)})"
    if not updated:
        return f"{target} DO NOTHING"
    return f"{target} DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in updated)


@functools.cache
def insert_sql(table: str, columns: tuple[str, ...], conflict: str, source: str = "") -> str:
    """An insert of one row of parameters, or of every row of `source`."""
    rows = (
        f"SELECT {', '.join(columns)} FROM {source}"
        if source
        else f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    return f"INSERT INTO {table} ({', '.join(columns)}) {rows} {conflict}"


@functools.cache
def merge_sql(
    table: str,
    key: tuple[str, ...],
    values: tuple[str, ...],
    version_column: str,
    keep: Literal["latest", "earliest"],
    source: str = "",
) -> str:
    """The upsert of a merge: of one row of parameters, or of every row of `source`."""
    columns = (*key, *values, version_column)
    updates = ", ".join(f"{column} = excluded.{column}" for column in (*values, version_column))
    newer = ">" if keep == "latest" else "<"
    rows = (
        f"SELECT {', '.join(columns)} FROM {source}"
        if source
        else f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    return (
        f"INSERT INTO {table} AS t ({', '.join(columns)}) {rows}"
        f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
        f" WHERE t.{version_column} IS NULL"
        f" OR excluded.{version_column} {newer} t.{version_column}"
    )


def _insert_numbered(
    table: str, row: Row, ordinals: Mapping[str, Ordinal], conflict: str
) -> ReadModelChange:
    """An insert whose `Ordinal` columns count the rows of their group in the table."""
    selected: list[str] = []
    parameters: list[Any] = []
    for value in row.values():
        if isinstance(value, Ordinal):
            selected.append("count(*) + 1")
        else:
            selected.append("%s")
            parameters.append(_parameter(value))
    (ordinal,) = ordinals.values()  # one numbered column per table is all any read model needs
    where = " AND ".join(f"{column} = %s" for column in ordinal.within)
    parameters += [_parameter(row[column]) for column in ordinal.within]
    return (
        f"INSERT INTO {table} ({', '.join(row)}) SELECT {', '.join(selected)} FROM {table}"
        f" WHERE {where} {conflict}",
        tuple(parameters),
    )


def _where(where: Row) -> tuple[str, tuple[Any, ...]]:
    conditions: list[str] = []
    parameters: list[Any] = []
    for column, value in where.items():
        if isinstance(value, AnyOf):
            conditions.append(f"{column} = ANY(%s)")
            parameters.append([_parameter(v) for v in value.values])
        elif isinstance(value, Prefix):
            text = f"{column}->>'{value.json_key}'" if value.json_key else column
            conditions.append(f"left({text}, %s) = %s")
            parameters += [len(value.prefix), value.prefix]
        else:
            conditions.append(f"{column} = %s")
            parameters.append(_parameter(value))
    return " AND ".join(conditions), tuple(parameters)


def _parameter(value: Any) -> Any:
    return Jsonb(value) if isinstance(value, dict) else value


def _recordset(table: Table, columns: Sequence[str]) -> str:
    definition = ", ".join(f"{column} {table.type_of(column)}" for column in columns)
    return f"jsonb_to_recordset(%s::jsonb) AS r({definition})"


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"no JSON form for a {type(value).__name__}: {value!r}")


_to_json = json.JSONEncoder(ensure_ascii=False, default=_json_value).encode


def _json_rows(rows: Iterable[Row], columns: Sequence[str]) -> str:
    """Rows as one JSON document of objects (what `jsonb_to_recordset` reads): passing arrays
    per column costs more in the driver's array escaping than the database needs for the
    writes."""
    return _to_json([{column: row[column] for column in columns} for row in rows])


# -- the same semantics, in memory -----------------------------------------------------------


class InMemoryReadModels:
    """Read-model tables in memory, changed with the semantics the SQL gives each change and
    queried as `Select`'s SQL would answer: for unit tests of projections, and the read models of
    an application on an in-memory store (component tests)."""

    def __init__(self, tables: Sequence[Table]) -> None:
        self.declared = {table.name: table for table in tables}
        self.tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {
            table.name: {} for table in tables
        }

    def apply(self, changes: Iterable[Change]) -> None:
        for change in changes:
            table = self.declared[change.table]
            rows = self.tables[change.table]
            if isinstance(change, Insert | Upsert):
                row = {
                    column: self._ordinal(rows, change.row, value)
                    if isinstance(value, Ordinal)
                    else value
                    for column, value in change.row.items()
                }
                key = _key_of(row, table)
                if key not in rows:
                    rows[key] = dict.fromkeys(table.columns) | row
                elif isinstance(change, Upsert):
                    for column in _updated_columns(change, table):
                        rows[key][column] = row[column]
            elif isinstance(change, Merge):
                key = tuple(change.key[column] for column in table.key)
                existing = rows.get(key)
                if existing is None:
                    rows[key] = {
                        **dict.fromkeys(table.columns),
                        **change.key,
                        **change.values,
                        change.version_column: change.version,
                    }
                elif merge_wins(change.keep, change.version, existing.get(change.version_column)):
                    existing.update(change.values)
                    existing[change.version_column] = change.version
            elif isinstance(change, Delete):
                for key in [k for k, row in rows.items() if _matches(row, change.where)]:
                    del rows[key]
            elif change.when is None or any(
                _matches(other, change.when.where)
                for other in self.tables[change.when.table].values()
            ):
                for row in rows.values():
                    if _matches(row, change.where):
                        for column, value in change.values.items():
                            row[column] = (
                                {**row[column], **value.values}
                                if isinstance(value, JsonPatch)
                                else value
                            )

    def rows(self, table: str) -> list[dict[str, Any]]:
        """The rows of a table in key order (every declared column, NULL as None)."""
        rows = self.tables[table]
        return [rows[key] for key in sorted(rows)]

    def select(self, query: Select, parameters: Sequence[Any]) -> list[dict[str, Any]]:
        """The rows `query` answers with `parameters`, as its SQL would."""
        if len(parameters) != len(query.where):
            raise TypeError(f"{query.sql()} takes {len(query.where)} parameters")
        where = {
            column: AnyOf(tuple(value)) if kind == "any" else value
            for (column, kind), value in zip(query.where.items(), parameters, strict=True)
        }
        found = [row for row in self.tables[query.table].values() if _matches(row, where)]
        found.sort(key=lambda row: tuple(row[column] for column in query.order_by))
        answers = [{column: row[column] for column in query.columns} for row in found]
        join = query.join
        if join is not None:
            if join.on != self.declared[join.table].key:
                raise ValueError(f"a join finds a row of {join.table} by its key, not {join.on}")
            joined = self.tables[join.table]
            for row, answer in zip(found, answers, strict=True):
                other = joined.get(tuple(row[column] for column in join.on), {})
                answer.update({column: other.get(column) for column in join.columns})
        return answers

    @staticmethod
    def _ordinal(
        rows: Mapping[tuple[Any, ...], Mapping[str, Any]], row: Row, ordinal: Ordinal
    ) -> int:
        group = [row[column] for column in ordinal.within]
        return 1 + sum(1 for other in rows.values() if [other[c] for c in ordinal.within] == group)


def _matches(row: Mapping[str, Any], where: Row) -> bool:
    for column, condition in where.items():
        value = row.get(column)
        if isinstance(condition, AnyOf):
            if value not in condition.values:
                return False
        elif isinstance(condition, Prefix):
            text = value.get(condition.json_key) if condition.json_key and value else value
            if not isinstance(text, str) or not text.startswith(condition.prefix):
                return False
        elif value != condition:
            return False
    return True


# -- a service's read models and their projections -------------------------------------------

F = TypeVar("F", bound=Callable[..., list[Change]])

ContractProjection = Callable[[Any, Envelope], list[Change]]
"""A public event and its envelope → read-model changes."""
EventProjection = Callable[[Any], list[Change]]
"""One of the service's own domain events → read-model changes."""
StateProjection = Callable[[Sequence[Any]], list[Change]]
"""The current state of some of the service's own aggregates of one kind → read-model changes."""


@dataclass
class _Registered:
    model: type[IntegrationEvent]
    projections: list[ContractProjection] = field(default_factory=list)


class ReadModels:
    """The read models of one service: their tables (see `Table`), in `schema` (the connection's
    search path when None), and the projections that fill them."""

    def __init__(
        self,
        *tables: Table,
        schema: str | None = None,
        include: Sequence[ReadModels] = (),
    ) -> None:
        self.schema = schema
        self._tables: list[Table] = []
        self._contracts: dict[tuple[str, str], _Registered] = {}
        self._events: list[tuple[type[Any], EventProjection]] = []
        self._states: list[tuple[type[Aggregate], StateProjection]] = []
        for included in include:
            self.include(included)
        for table in tables:
            self._add_table(table)

    # -- declaring ----------------------------------------------------------------------------

    def include(self, other: ReadModels) -> None:
        """Keep `other`'s tables and projections too (read models several services keep)."""
        for table in other.tables:
            self._add_table(table)
        for (producer, _), registered in other._contracts.items():
            for project in registered.projections:
                self.on_event(registered.model, producer=producer)(project)
        self._events += other._events
        self._states += other._states

    def _add_table(self, table: Table) -> None:
        if any(known.name == table.name for known in self._tables):
            raise ValueError(f"read model table {table.name} is declared twice")
        self._tables.append(table)
        self.__dict__.pop("renderer", None)

    def on_event(self, model: type[IntegrationEvent], *, producer: str) -> Callable[[F], F]:
        """Register the decorated function, `(event, envelope) -> changes`, as a projection of
        `model` events of `producer` (decorators stack: one function may project several; several
        functions may project one event, applied in the order registered)."""

        def register(project: F) -> F:
            registered = self._contracts.setdefault(
                (producer, model.event_type), _Registered(model)
            )
            registered.projections.append(project)
            return project

        return register

    def on_own_event(self, event_class: type[Any]) -> Callable[[F], F]:
        """Register the decorated function, `(domain_event) -> changes`, as the projection of the
        service's own `event_class` events (subclasses included)."""

        def register(project: F) -> F:
            self._events.append((event_class, project))
            return project

        return register

    def on_own_aggregates(self, kind: type[Aggregate]) -> Callable[[F], F]:
        """Register the decorated function, `(aggregates) -> changes`, as the projection of the
        state of `kind` aggregates, given several at once (as saved together, in that order)."""

        def register(project: F) -> F:
            self._states.append((kind, project))
            return project

        return register

    # -- the tables ---------------------------------------------------------------------------

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(self._tables)

    @functools.cached_property
    def renderer(self) -> SqlRenderer:
        return SqlRenderer(self._tables)

    def ddl(self, schema: str | None = None) -> list[str]:
        """The statements that create the tables (if missing) in `schema` (default: theirs)."""
        schema = schema or self.schema
        create_schema = [f"CREATE SCHEMA IF NOT EXISTS {schema}"] if schema else []
        return create_schema + [s for table in self._tables for s in table.ddl(schema)]

    def bulk_load_ddl(self, schema: str) -> tuple[list[str], list[str]]:
        """What creates the tables in `schema` for a bulk load, before it (the tables, without
        the keys of `rows_once` tables and without indexes) and after it (those keys and every
        index): an index built once from all rows costs less than kept up row by row."""
        before = [f"CREATE SCHEMA IF NOT EXISTS {schema}"]
        after: list[str] = []
        for table in self._tables:
            before += table.ddl(schema, key_later=table.rows_once)[:1]
            name = qualified(schema, table.name)
            after += table.finishing_ddl(schema) if table.rows_once else []
            after += [] if table.rows_once else [index.ddl(name) for index in table.indexes]
        return before, after

    def render(self, changes: Iterable[Change], schema: str | None = None) -> list[ReadModelChange]:
        """`changes` as SQL against the tables in `schema` (default: theirs)."""
        return self.renderer.render(changes, schema or self.schema)

    def in_memory(self) -> InMemoryReadModels:
        """Empty tables in memory (unit tests; an application on an in-memory store)."""
        return InMemoryReadModels(self._tables)

    # -- what they follow ---------------------------------------------------------------------

    @property
    def producers(self) -> tuple[str, ...]:
        """The services whose public events are projected: a replay reads their topics or stores."""
        return tuple(sorted({producer for producer, _ in self._contracts}))

    @property
    def follows_own_events(self) -> bool:
        """Some read models are derived from the service's own events (a replay reads its store)."""
        return bool(self._events or self._states)

    @property
    def contract_routes(self) -> list[tuple[type[IntegrationEvent], str]]:
        """Every (public event model, producer) projected: each is consumed live."""
        return [
            (registered.model, producer) for (producer, _), registered in self._contracts.items()
        ]

    def projects(self, producer: str, event_type: str) -> bool:
        """Whether events of this type by this producer change anything (a replay decodes only
        those)."""
        return (producer, event_type) in self._contracts

    # -- projecting ---------------------------------------------------------------------------

    def project(self, event: IntegrationEvent, envelope: Envelope) -> list[Change]:
        """The changes a public event makes (none for one that is not projected)."""
        registered = self._contracts.get((envelope.producer, envelope.event_type))
        if registered is None or not isinstance(event, registered.model):
            return []
        return [change for project in registered.projections for change in project(event, envelope)]

    def project_own_event(self, event: Any) -> list[Change]:
        """The changes one of the service's own domain events makes by itself."""
        return [
            change
            for event_class, project in self._events
            if isinstance(event, event_class)
            for change in project(event)
        ]

    def project_saved(self, *aggregates: Any) -> list[Change]:
        """The changes of aggregates about to be saved: their new events' changes, in order, then
        the rows of those whose state is projected."""
        changes = [
            change
            for aggregate in aggregates
            if aggregate is not None
            for event in aggregate.pending_events
            for change in self.project_own_event(event)
        ]
        return changes + self.project_states([a for a in aggregates if a is not None])

    def state_kind_of(self, event: Any) -> type[Aggregate] | None:
        """The aggregate kind whose state is projected that `event` belongs to, if any."""
        for kind, _ in self._states:
            if isinstance(event, kind.Event):
                return kind
        return None

    def project_states(self, aggregates: Sequence[Any]) -> list[Change]:
        """The rows of these aggregates (of any projected kinds), kind by kind, in their order."""
        changes: list[Change] = []
        for kind, project in self._states:
            of_kind = [aggregate for aggregate in aggregates if isinstance(aggregate, kind)]
            if of_kind:
                changes += project(of_kind)
        return changes


class OwnEventReplay:
    """Turns a service's own stored events, in notification order, into the read-model changes its
    saves made: each event's own changes, and the rows of projected aggregates as each save left
    them.

    One save writes one aggregate's events consecutively, so a run of consecutive events of one
    aggregate is (at least) one save; its rows are projected as of the run's last event. Runs are
    projected in batches of distinct aggregates, in order, so a batch's rows go in as the saves
    wrote them one after another (unique columns that moved from one product to another never
    collide with a row that was already updated live).
    """

    def __init__(self, read_models: ReadModels, load: Callable[[uuid.UUID, int], Any]) -> None:
        """`load(aggregate_id, version)`: the aggregate as of that version (from the store)."""
        self.read_models = read_models
        self.load = load

    def changes(self, events: Sequence[Any]) -> list[list[Change]]:
        """The changes in groups that must be written one group after the other (a group's
        changes may be reordered by table: `SqlRenderer.render`)."""
        groups: list[list[Change]] = []
        changes: list[Change] = []
        folded: dict[uuid.UUID, Any] = {}
        batch: dict[uuid.UUID, Any] = {}
        previous: uuid.UUID | None = None
        for event in events:
            changes += self.read_models.project_own_event(event)
            originator = event.originator_id
            if self.read_models.state_kind_of(event) is not None:
                if originator in batch and originator != previous:
                    # A later save of an aggregate already in the batch: write the batch first.
                    groups.append(changes + self.read_models.project_states(list(batch.values())))
                    changes, batch = [], {}
                aggregate = folded.get(originator)
                if aggregate is None and event.originator_version > 1:
                    aggregate = self.load(originator, event.originator_version - 1)
                folded[originator] = batch[originator] = event.mutate(aggregate)
            previous = originator
        groups.append(changes + self.read_models.project_states(list(batch.values())))
        return groups
