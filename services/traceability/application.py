"""Traceability use cases: project events into the read models, answer analysts' queries, and
rebuild the read models from scratch beside the live ones.

The read models live in the Postgres schema `read_model` of the service's database. A rebuild
writes a fresh copy into `read_model_rebuild` while the live one keeps serving and consuming, then
swaps the two in one short transaction (see `finish_rebuild`).
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from contracts.order import CustomerForgotten
from contracts.registry import read_event
from services.runtime.aggregate import DomainError, NotFound
from services.runtime.database import PostgresLocation, WarmConnections
from services.runtime.eventstore import ServiceApplication
from services.runtime.privacy import (
    ERASED,
    CustomerKeyClient,
    KeyLookup,
    customers_named,
    reveal,
)
from services.runtime.projections import Table, Update
from services.runtime.replay.declared import (
    create_statement,
    declaration_digest,
    record_statement,
)
from services.traceability import projections
from services.traceability.projections import (
    EVENTS,
    LIVE,
    ORDERS,
    SHIPMENTS,
    TABLE_KEYS,
    UNIT_HISTORY,
    UNITS,
    read_models,
)

REBUILD = "read_model_rebuild"
"""Where a rebuild writes, until it becomes `LIVE`."""
RETIRED = "read_model_retired"
"""The previous live schema from the swap until the replay is done (`retire_rebuild`)."""
ARRIVALS = "read_model_arrivals"
"""The keys of the events the live audit log takes in while a rebuild runs (written by a trigger
on it, `ARRIVALS_DDL`): what the swap looks for in the copy, when its sources held everything
the live read models had at the start. Dropped with the retired schema."""

ARRIVALS_DDL = (
    f"CREATE SCHEMA {ARRIVALS}",
    # Of no use after a crash: the rebuild that reads it does not survive one.
    f"CREATE UNLOGGED TABLE {ARRIVALS}.events"
    " (producer text, aggregate_id uuid, aggregate_version integer)",
    f"CREATE FUNCTION {ARRIVALS}.noted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
    f" INSERT INTO {ARRIVALS}.events SELECT producer, aggregate_id, aggregate_version"
    " FROM arrived; RETURN NULL; END $$",
    # Once per statement, with the rows it inserted (an event already there inserts none).
    f"CREATE TRIGGER rebuild_arrivals AFTER INSERT ON {LIVE}.events"
    f" REFERENCING NEW TABLE AS arrived FOR EACH STATEMENT EXECUTE FUNCTION {ARRIVALS}.noted()",
)

LIFTED_TIMEOUTS = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
"""The service's timeouts a rebuild's transactions do without (building indexes over a million
rows, or waiting for the consumer's transactions to let go of the live tables, takes its time)."""

INDEX_BUILD_MEMORY = "256MB"
"""What building a rebuilt copy's indexes may sort in memory (Postgres's default is 64 MB)."""
REBUILD_WORK_MEMORY = "64MB"
"""What a rebuild's other statements may keep in memory (Postgres's default is 4 MB): a batch of
messages' rows, the history sorted to derive `units`."""

REBUILD_SETTINGS: Mapping[str, str] = {
    **dict.fromkeys(LIFTED_TIMEOUTS, "0"),
    "work_mem": REBUILD_WORK_MEMORY,
    # A million events' index keys sort in memory rather than on disk.
    "maintenance_work_mem": INDEX_BUILD_MEMORY,
    # A rebuild keeps both cores busy by itself (two copies, three finishing lists): a parallel
    # worker would be one more process to start and fill, for no core of its own (the swap's
    # comparison, planned in parallel, sorted all of the copy's keys in each process: 0.22 s
    # under the lock against 0.16).
    "max_parallel_workers_per_gather": "0",
    "max_parallel_maintenance_workers": "0",
}
"""The sessions of a rebuild's own connections."""

REBUILD_LOCK = 0x7472616365  # advisory lock key: one rebuild at a time, across processes

_REBUILD_FROM_MESSAGES = projections.rebuild_from_messages_sql(
    REBUILD, "(SELECT convert_from(%b, 'UTF8') AS message) AS block"
).encode()
"""A block of messages (the one parameter) written into the copy being rebuilt."""
assert _REBUILD_FROM_MESSAGES.count(b"%") == 1, "a `%` in the SQL would be read as a parameter"

Projected = tuple[Envelope, IntegrationEvent]
"""An event with its envelope, ready to project."""


# -- queries ---------------------------------------------------------------------------------

UNIT_FIELDS: tuple[str, ...] = (
    "serial",
    "sku",
    "batch",
    "reference",
    "received_at",
    "received_location",
    "status",
    "holder_kind",
    "holder",
    "customer_id",
    "customer_name",
    "customer_email",
    "ship_to",
    "channel",
    "channel_order_id",
    "order_id",
    "location",
    "condition",
    "carrier",
    "service",
    "tracking_number",
    "shipped_at",
    "delivered_at",
    "rma_id",
    "holder_event",
    "updated_at",
)
"""What a recall reports of each unit, in this order (also the CSV columns)."""

PERSONAL_FIELDS = ("holder", "customer_name", "customer_email", "ship_to")
"""The fields of answers that hold a customer's personal data (sealed in the read models)."""

HISTORY_FIELDS: tuple[str, ...] = (
    "occurred_at",
    "at",
    "milestone",
    "event_type",
    "producer",
    "aggregate_id",
    "aggregate_version",
    "summary",
    "sku",
    "order_id",
    "channel",
    "channel_order_id",
    "customer_id",
    "customer_name",
    "shipment_id",
    "rma_id",
    "location",
    "batch",
    "reference",
    "carrier",
    "service",
    "tracking_number",
    "condition",
    "grade",
    "status",
    "actor",
    "correlation_id",
)

_UNIT_COLUMNS = (
    "serial, sku, batch, reference, received_at, received_location, holder_kind, status,"
    " location, condition, order_id, shipment_id, rma_id, holder_event, updated_at"
)

_CURRENT_UNITS = f"""
unit AS (SELECT {_UNIT_COLUMNS} FROM {LIVE}.units WHERE {{unit_filter}}),
ship AS (SELECT shipment_id, carrier, service, tracking_number, shipped_at, delivered_at
         FROM {LIVE}.shipments)
"""
_CURRENT_SHIP_JOIN = """LEFT JOIN LATERAL (
    SELECT * FROM ship WHERE ship.shipment_id = unit.shipment_id OFFSET 0
) ship ON TRUE"""
"""Each unit's parcel looked up by its key, as its order is (`_UNITS_SELECT`)."""

# The same answer from the history alone, counting only what had happened by the moment: the
# holder is the unit's latest holder-changing fact by then, its origin its earliest receipt.
_UNITS_AS_OF = f"""
holder AS (
    SELECT DISTINCT ON (serial, sku) serial, sku, holder_kind, status, location, condition,
           order_id, shipment_id, rma_id, event_type AS holder_event, occurred_at AS updated_at
    FROM {LIVE}.unit_history
    WHERE holder_kind IS NOT NULL AND occurred_at <= %(as_of)s AND {{history_filter}}
    ORDER BY serial, sku, sort_key DESC
),
origin AS (
    SELECT DISTINCT ON (serial, sku) serial, sku, batch, reference, occurred_at AS received_at,
           location AS received_location
    FROM {LIVE}.unit_history
    WHERE event_type = 'StockReceived' AND occurred_at <= %(as_of)s AND {{history_filter}}
    ORDER BY serial, sku, sort_key
),
unit AS (
    SELECT holder.serial, holder.sku, origin.batch, origin.reference, origin.received_at,
           origin.received_location, holder.holder_kind, holder.status, holder.location,
           holder.condition, holder.order_id, holder.shipment_id, holder.rma_id,
           holder.holder_event, holder.updated_at
    FROM holder LEFT JOIN origin USING (serial, sku)
    WHERE {{unit_filter}}
),
ship AS (
    SELECT shipment_id,
        (array_agg(carrier ORDER BY sort_key DESC) FILTER (WHERE carrier IS NOT NULL))[1]
            AS carrier,
        (array_agg(service ORDER BY sort_key DESC) FILTER (WHERE service IS NOT NULL))[1]
            AS service,
        (array_agg(tracking_number ORDER BY sort_key DESC)
            FILTER (WHERE tracking_number IS NOT NULL))[1] AS tracking_number,
        (array_agg(at ORDER BY sort_key) FILTER (WHERE event_type = 'ShipmentConfirmed'))[1]
            AS shipped_at,
        (array_agg(at ORDER BY sort_key) FILTER (WHERE event_type = 'ShipmentDelivered'))[1]
            AS delivered_at
    FROM {LIVE}.unit_history
    WHERE shipment_id IN (SELECT shipment_id FROM unit) AND occurred_at <= %(as_of)s
    GROUP BY shipment_id
)
"""

_UNITS_SELECT = f"""
SELECT unit.*, o.channel, o.channel_order_id, o.customer_id, o.customer_name, o.customer_email,
       o.ship_to, ship.carrier, ship.service, ship.tracking_number, ship.shipped_at,
       ship.delivered_at
FROM unit
LEFT JOIN LATERAL (
    SELECT * FROM {LIVE}.orders o WHERE o.order_id = unit.order_id OFFSET 0
) o ON TRUE
{{ship_join}}
ORDER BY unit.serial, unit.sku
"""
"""Each unit's order, and now its parcel (`_CURRENT_SHIP_JOIN`), looked up by its key: `OFFSET 0`
keeps Postgres from making the lookups a join again, which it may hash. Its row estimates are
right (a batch: 200 units expected, 200 found; 228 in a generic plan) and the tables analysed;
its price of a lookup is not: a page read at `random_page_cost` 4, a disk's, where the read models
are in memory. A lookup weighed as much as about 50 rows of a whole scan, so for a batch's 200
units it hashed all 7,800 orders and 7,613 parcels of a quick history (13 ms; looked up, 1 ms),
and looked them up at a million events' 38,400. Looked up, no recall measured was slower: 8,347
units 23-26 ms against 29-32 hashed, all 54,788 alike. A `random_page_cost` of 1.1 moved the
batch but not the 8,347, and would move every service's plans. As of a moment `ship` holds only
the units' parcels: joined as it is."""

_HISTORY = f"""
WITH subject AS (
    SELECT shipment_id, rma_id FROM {LIVE}.unit_history
    WHERE serial = %(serial)s AND sku = %(sku)s AND holder_kind IS NOT NULL
)
SELECT h.*, o.channel, o.channel_order_id, o.customer_id, o.customer_name
FROM {LIVE}.unit_history h
LEFT JOIN {LIVE}.orders o ON o.order_id = h.order_id
WHERE ((h.serial = %(serial)s AND h.sku = %(sku)s)
       OR (h.serial IS NULL AND (
            h.shipment_id IN (SELECT shipment_id FROM subject WHERE shipment_id IS NOT NULL)
            OR h.rma_id IN (SELECT rma_id FROM subject WHERE rma_id IS NOT NULL))))
  AND {{time_filter}}
ORDER BY h.sort_key
"""

_AUDIT = f"""
SELECT producer, aggregate_id, aggregate_version, event_id, event_type, schema_version,
       aggregate_type, occurred_at, correlation_id, causation_id, actor, reason, payload
FROM {LIVE}.events
WHERE aggregate_id = %(aggregate_id)s AND {{time_filter}}
ORDER BY sort_key
"""


@dataclass(frozen=True)
class UnitSelection:
    """Which units a query is about: one serial, a batch, or a range of serials (optionally of
    one SKU)."""

    serial: str | None = None
    batch: str | None = None
    serial_from: str | None = None
    serial_to: str | None = None
    sku: str | None = None

    def __post_init__(self) -> None:
        chosen = [
            self.serial is not None,
            self.batch is not None,
            self.serial_from is not None or self.serial_to is not None,
        ]
        if sum(chosen) != 1:
            raise DomainError("choose units by a serial, a batch, or a range of serials")
        if chosen[2] and (self.serial_from is None or self.serial_to is None):
            raise DomainError("a serial range needs both ends")

    def parameters(self) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "batch": self.batch,
            "serial_from": self.serial_from,
            "serial_to": self.serial_to,
            "sku": self.sku,
        }

    def unit_filter(self) -> str:
        conditions = ["TRUE"]
        if self.serial is not None:
            conditions.append("serial = %(serial)s")
        if self.batch is not None:
            conditions.append("batch = %(batch)s")
        if self.serial_from is not None:
            # Bytewise: the columns are COLLATE "C", so the range does not depend on the locale.
            conditions.append("serial BETWEEN %(serial_from)s AND %(serial_to)s")
        if self.sku is not None:
            conditions.append("sku = %(sku)s")
        return " AND ".join(conditions)

    def history_filter(self) -> str:
        """A superset of the unit filter that can be checked on every history row: it keeps the
        as-of query from reading the whole history."""
        if self.batch is not None:
            sku = " AND sku = %(sku)s" if self.sku is not None else ""
            return (
                f"(serial, sku) IN (SELECT serial, sku FROM {LIVE}.unit_history"
                f" WHERE batch = %(batch)s{sku})"
            )
        return self.unit_filter()


class UnknownSerial(NotFound):
    """No unit with this serial is known (by that moment)."""


class RebuildRunning(RuntimeError):
    """Another rebuild holds the rebuild lock."""


class TraceabilityApplication(ServiceApplication):
    """Where every serialized unit came from, who holds it now, and what happened to it on the
    way; plus every event of every service as an audit log. Owns no domain of its own: it projects
    the other services' events and answers queries."""

    read_models = projections.read_models

    def __init__(self, location: PostgresLocation | None, keys: KeyLookup | None = None) -> None:
        """`location`: the service's database; None keeps everything in memory (component tests:
        projecting, not rebuilding or answering queries)."""
        super().__init__(location)
        self.keys = keys
        """Customers' keys: answers show their name, e-mail and address in clear, or "erased"
        once forgotten (without keys, as recorded: sealed)."""
        self._rebuild_lock: psycopg.Connection[Any] | None = None
        self._rebuild_connections: WarmConnections | None = None

    @property
    def location(self) -> PostgresLocation:
        """The service's database: a rebuild opens a connection of its own to it."""
        if self._location is None:
            raise RuntimeError("the traceability read models are rebuilt in Postgres only")
        return self._location

    # -- projecting ---------------------------------------------------------------------------

    # -- queries ------------------------------------------------------------------------------

    def units(
        self, selection: UnitSelection, as_of: datetime | None = None
    ) -> list[dict[str, Any]]:
        """The selected units and their holders: now (the `units` table), or as of a moment
        (from the history, counting only what had happened by then)."""
        if as_of is None:
            ctes = _CURRENT_UNITS.format(unit_filter=selection.unit_filter())
            ship_join = _CURRENT_SHIP_JOIN
        else:
            ctes = _UNITS_AS_OF.format(
                unit_filter=selection.unit_filter(), history_filter=selection.history_filter()
            )
            ship_join = "LEFT JOIN ship ON ship.shipment_id = unit.shipment_id"
        rows = self._query(
            f"WITH {ctes} {_UNITS_SELECT.format(ship_join=ship_join)}",
            selection.parameters() | {"as_of": as_of},
        )
        return self._all_revealed([_unit_answer(row) for row in rows])

    def trace(
        self, serial: str, sku: str | None = None, as_of: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Each unit with this serial (one, unless two products share serials) and everything that
        happened to it, oldest first: its own facts and those of its parcels and RMAs."""
        units = self.units(UnitSelection(serial=serial, sku=sku), as_of)
        if not units:
            raise UnknownSerial(f"no unit with serial {serial}")
        time_filter = "TRUE" if as_of is None else "h.occurred_at <= %(as_of)s"
        for unit in units:
            rows = self._query(
                _HISTORY.format(time_filter=time_filter),
                {"serial": serial, "sku": unit["sku"], "as_of": as_of},
            )
            unit["history"] = self._all_revealed(
                [{field: row[field] for field in HISTORY_FIELDS} for row in rows]
            )
        return units

    def forget_customer(self, event: CustomerForgotten, envelope: Envelope) -> None:
        """Drop a forgotten customer's name, e-mail and address from the read models (they hold
        them sealed; now not at all); the orders, units and their history stay."""
        if isinstance(self.keys, CustomerKeyClient):
            self.keys.forget(event.customer_id)
        erased = dict.fromkeys(("customer_name", "customer_email", "ship_to"), ERASED)
        erase = Update(ORDERS.name, {"customer_id": event.customer_id}, erased)
        self.save_projected(read_model_changes=[*self.projected(event, envelope), erase])

    def _all_revealed(self, answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`answers`, each `_revealed`; their customers' keys asked for at once, not one
        customer after another (a recall may name thousands)."""
        if isinstance(self.keys, CustomerKeyClient):
            self.keys.fetch(customers_named(answers))
        return [self._revealed(answer) for answer in answers]

    def _revealed(self, answer: dict[str, Any]) -> dict[str, Any]:
        """`answer` with the customer's personal values opened, or "erased"."""
        if self.keys is None:
            return answer
        for field in PERSONAL_FIELDS:
            value = answer.get(field)
            if isinstance(value, str):
                answer[field] = reveal(value, self.keys)
        return answer

    def audit(self, aggregate_id: uuid.UUID, as_of: datetime | None = None) -> dict[str, Any]:
        """Every event of an aggregate (of any service that keys events by this id), in order,
        with who and why; and its state by then: per producer, the last value of every field its
        events carried (lists replaced whole), its version and last event."""
        time_filter = "TRUE" if as_of is None else "occurred_at <= %(as_of)s"
        events = self._query(
            _AUDIT.format(time_filter=time_filter), {"aggregate_id": aggregate_id, "as_of": as_of}
        )
        state: dict[str, dict[str, Any]] = {}
        for event in events:
            known = state.setdefault(
                event["producer"], {"aggregate_type": event["aggregate_type"], "fields": {}}
            )
            known["version"] = event["aggregate_version"]
            known["last_event"] = event["event_type"]
            known["last_changed_at"] = event["occurred_at"]
            known["fields"].update(event["payload"])
        return {"aggregate_id": aggregate_id, "as_of": as_of, "events": events, "state": state}

    def counts(self) -> dict[str, int]:
        """Rows per read-model table, counted side by side, each on a connection of its own: a
        replay reports them before it is done."""

        def count(table: str) -> int:
            return int(self._query(f"SELECT count(*) AS n FROM {LIVE}.{table}", {})[0]["n"])

        with ThreadPoolExecutor(max_workers=len(TABLE_KEYS)) as counting:
            return dict(zip(TABLE_KEYS, counting.map(count, TABLE_KEYS), strict=True))

    def _query(self, sql: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
        with self._datastore().get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(sql.encode(), parameters)
            return [dict(row) for row in cursor.fetchall()]

    # -- rebuilding ---------------------------------------------------------------------------

    def begin_rebuild(self) -> None:
        """Take the rebuild lock and start an empty copy of the read models beside the live one.

        Raises `RebuildRunning` when another rebuild (of any process of the service) runs.
        """
        connection = psycopg.connect(self.location.dsn(), autocommit=True)
        locked = connection.execute("SELECT pg_try_advisory_lock(%s)", (REBUILD_LOCK,)).fetchone()
        if not locked or not locked[0]:
            connection.close()
            raise RebuildRunning("a rebuild of the traceability read models is running")
        self._rebuild_lock = connection
        self._rebuild_connections = WarmConnections(self.location.dsn(), REBUILD_SETTINGS)
        with self._rebuilding() as cursor:
            # What a crashed rebuild left behind is of no use: start from nothing.
            _drop_leftovers(cursor)
            # Before anything is read: what the live audit log takes in from now on is noted;
            # what it had is in the stores, committed before a consumer could see it.
            for statement in ARRIVALS_DDL:
                cursor.execute(statement.encode())
            before, _ = read_models.bulk_load_ddl(REBUILD)
            for statement in before:
                cursor.execute(statement.encode())
            # Of no use after a crash, so not written to the log (`write_rebuilt` fills it).
            cursor.execute(
                f"CREATE UNLOGGED TABLE {REBUILD}.{projections.ORDER_AND_PARCEL_AUDIT}"
                f" (LIKE {REBUILD}.{EVENTS.name})".encode()
            )
            # Autovacuum would take the copy's tables up while they fill, and building their
            # keys and indexes would wait for it to give up (a second, each): the rebuild
            # gathers their statistics itself, and hands them to autovacuum once built.
            for table in TABLE_KEYS:
                cursor.execute(
                    f"ALTER TABLE {REBUILD}.{table} SET (autovacuum_enabled = false)".encode()
                )

    def rebuild_batch(self, events: Sequence[Projected]) -> None:
        """Project a batch of events into the copy being rebuilt, in one transaction: as their
        messages (`prepare_batch`), like every batch of a rebuild. Each envelope's payload is its
        event's JSON form, as the replay's sources hand them."""
        self.write_rebuilt(prepare_batch(events))

    def write_rebuilt(self, messages: bytes) -> None:
        """Write a block of messages into the copy being rebuilt, in a transaction of its own:
        one per line, each an event's envelope JSON as its producer's relay publishes it
        (`prepare_batch`, `EventStore.read_kept`). Postgres makes their audit-log and history
        rows (`projections.rebuild_from_messages_sql`): each event reaches the copy once in a
        replay, so its rows are new; the other tables are derived at the end."""
        with self._rebuilding() as cursor:
            # The copy is of no use until the swap, whose commit is flushed with everything
            # before it: a crash drops the copy anyway.
            cursor.execute(b"SET LOCAL synchronous_commit = off")
            # Prepared once per connection: the statement is large to plan, every batch alike.
            cursor.execute(_REBUILD_FROM_MESSAGES, (messages,), prepare=True)

    def finish_rebuild(self, *, arrivals_only: bool = False) -> int:
        """Make the rebuilt copy the live read models; returns how many events only the live
        copy had (consumed while the rebuild ran), which are projected into the copy first.

        In one transaction: the live tables are locked against writes (reads go on), the events
        the live copy has and the rebuilt one lacks are projected into it (the projections do not
        depend on arrival order, so late is as good as in order), the schemas are renamed, and
        the declaration the new tables were built from is recorded (`replay.declared`). A
        consumer transaction waiting on the lock then writes into the new tables: Postgres looks
        the table name up again once it gets the lock.

        `arrivals_only`: what the rebuild read held every event the live audit log had when it
        began (the stores, all of them read), so only the events it took in since (`ARRIVALS`)
        are looked for in the copy, however long the history; otherwise the whole audit log is.
        """
        # Before the lock (it only reads the live tables): the copy's keys, indexes, `units` and
        # statistics, the audit log's beside the rest's, each on a connection of its own (each
        # is one Postgres process's work: together they take both cores).
        work = finishing_work()
        with ThreadPoolExecutor(max_workers=len(work)) as finishing:
            for done in [finishing.submit(self._finish_copy, statements) for statements in work]:
                done.result()
        tables = ", ".join(f"{LIVE}.{table}" for table in TABLE_KEYS)
        with self._rebuilding() as cursor:
            cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE".encode())
            # The keys alone compared (the live ones from its key's index), and only the events
            # missing read whole: 0.16 s at 200k events, where comparing whole rows took 0.26 s,
            # under the lock. (Setting the copy's visibility map first, for its index alone, costs
            # more than it saves: a page image logged per page.) The arrivals are a few keys.
            keys = ", ".join(EVENTS.key)
            same = " AND ".join(f"rebuilt.{key} = live.{key}" for key in EVENTS.key)
            taken_in = f"{ARRIVALS}.events" if arrivals_only else f"{LIVE}.events"
            cursor.execute(
                f"WITH missing AS MATERIALIZED (SELECT DISTINCT {keys} FROM {taken_in} AS live"
                f" WHERE NOT EXISTS (SELECT 1 FROM {REBUILD}.events AS rebuilt WHERE {same}))"
                " SELECT producer, aggregate_id, aggregate_version, event_id, event_type,"
                " schema_version, aggregate_type, occurred_at, correlation_id, causation_id,"
                f" payload FROM {LIVE}.events JOIN missing USING ({keys})".encode()
            )
            missing = [_projected(dict(row)) for row in cursor.fetchall()]
            changes = [
                change
                for envelope, event in missing
                for change in projections.project(envelope, event)
            ]
            for statement, parameters in read_models.render(changes, REBUILD):
                cursor.execute(statement.encode(), parameters)
            cursor.execute(f"ALTER SCHEMA {LIVE} RENAME TO {RETIRED}".encode())
            cursor.execute(f"ALTER SCHEMA {REBUILD} RENAME TO {LIVE}".encode())
            # Outside the schemas swapped: the declaration the live tables are now built from.
            cursor.execute(create_statement().encode())
            cursor.execute(
                record_statement(parameter="%s").encode(), (declaration_digest(read_models),)
            )
        return len(missing)

    def retire_rebuild(self) -> None:
        """Drop the read models the swap retired and release the rebuild lock. Apart from the
        swap (`finish_rebuild`): dropping waits for queries still reading the old tables."""
        # The trigger noting arrivals goes with the retired audit log, then its schema.
        self._end_rebuild(RETIRED, ARRIVALS)

    def _finish_copy(self, statements: Sequence[str]) -> None:
        # Each in a transaction of its own: a statement's locks go with it (a derivation
        # reading the audit log would keep its key from being made until the last one ended).
        for statement in statements:
            with self._rebuilding() as cursor:
                cursor.execute(statement.encode())

    def abandon_rebuild(self) -> None:
        """Drop the copy of a failed rebuild; the live read models are untouched."""
        # With the arrivals' trigger: the live audit log stops noting them.
        self._end_rebuild(REBUILD, ARRIVALS)

    def _end_rebuild(self, *schemas: str) -> None:
        """Drop what the rebuild leaves behind, then release its lock, even if a drop failed."""
        try:
            with self._rebuilding() as cursor:
                _drop_schemas(cursor, schemas)
        finally:
            self._release_rebuild_lock()

    def drop_rebuild_leftovers(self) -> None:
        """What a rebuild that did not finish (its process killed) left behind, dropped when no
        rebuild runs: its copy, and above all the trigger noting every event the live audit log
        takes in, which would go on writing until the next rebuild (the service's start)."""
        with psycopg.connect(self.location.dsn(), autocommit=True) as connection:
            locked = connection.execute(
                "SELECT pg_try_advisory_lock(%s)", (REBUILD_LOCK,)
            ).fetchone()
            if not locked or not locked[0]:
                return  # another process rebuilds: they are its own
            try:
                with connection.transaction(), connection.cursor() as cursor:
                    _drop_leftovers(cursor)
            finally:
                _unlock_rebuild(connection)

    @contextlib.contextmanager
    def _rebuilding(self) -> Iterator[psycopg.Cursor[Any]]:
        """A transaction of the rebuild, on its own connections (the service's pool is for its
        requests and its consumer): an operator's long job, not a request, so none of the
        service's timeouts (statements, lock waits, idling between statements) apply to it
        (`REBUILD_SETTINGS`)."""
        assert self._rebuild_connections is not None, "no rebuild has begun"
        with (
            self._rebuild_connections.connection() as connection,
            connection.transaction(),
            connection.cursor(row_factory=dict_row) as cursor,  # as the pool's
        ):
            yield cursor

    def _release_rebuild_lock(self) -> None:
        if self._rebuild_connections is not None:
            self._rebuild_connections.close()
            self._rebuild_connections = None
        if self._rebuild_lock is not None:
            _unlock_rebuild(self._rebuild_lock)
            self._rebuild_lock.close()
            self._rebuild_lock = None


def _unlock_rebuild(connection: psycopg.Connection[Any]) -> None:
    """Let the rebuild lock go in its session, before the session closes: a closed session's
    backend lets its locks go only once it has exited, after the close returns, and a rebuild
    begun at once by another process would still find the lock taken. A session that is gone
    already (a database restart) took its lock with it."""
    with contextlib.suppress(psycopg.Error):
        connection.execute("SELECT pg_advisory_unlock(%s)", (REBUILD_LOCK,))


def _drop_schemas(cursor: psycopg.Cursor[Any], schemas: Sequence[str]) -> None:
    for schema in schemas:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())


def _drop_leftovers(cursor: psycopg.Cursor[Any]) -> None:
    _drop_schemas(cursor, (ARRIVALS, REBUILD, RETIRED))


def finishing_work(schema: str = REBUILD) -> list[list[str]]:
    """What a rebuilt copy needs once its batches are written (the audit log and the history,
    `write_rebuilt`), in three lists that run side by side, each table's work in one of them:
    the audit log's keys, `orders` and `shipments` derived from the audit-log rows of orders and
    parcels (`ORDER_AND_PARCEL_AUDIT`, then dropped); the history's keys; `units` derived from
    the history. Each derived table is written before its keys and indexes are built, a bulk
    load's way; every table gets statistics. Fresh tables have none until autovacuum gets to
    them; the planner then guesses, and an as-of recall can take seconds instead of
    milliseconds. Three, not one per core: how long each takes varies with the history, and the
    server's processes share the cores among them as they go."""
    _, after = read_models.bulk_load_ddl(schema)
    orders_and_parcels = f"{schema}.{projections.ORDER_AND_PARCEL_AUDIT}"
    work: dict[str, list[str]] = {
        EVENTS.name: [
            projections.orders_from_audit_sql(schema, orders_and_parcels),
            projections.shipments_from_audit_sql(schema, orders_and_parcels),
            f"DROP TABLE {orders_and_parcels}",
        ],
        UNIT_HISTORY.name: [],
        UNITS.name: [projections.units_from_history_sql(schema)],
    }
    list_of = {ORDERS.name: EVENTS.name, SHIPMENTS.name: EVENTS.name}
    for statement in after:
        found = re.search(rf"\b{schema}\.(\w+)", statement)
        assert found is not None, f"a finishing statement names no table: {statement}"
        work[list_of.get(found.group(1), found.group(1))].append(statement)
    for table in read_models.tables:
        analyze = f"ANALYZE {schema}.{table.name} ({', '.join(_analyzed_columns(table))})"
        if table.name == EVENTS.name:
            analyze = f"SET LOCAL default_statistics_target = {AUDIT_LOG_STATISTICS}; {analyze}"
        work[list_of.get(table.name, table.name)].append(analyze)
    # Making an index a key locks its table: last, once the derivations that read it are done
    # (each statement commits on its own, so none holds it longer).
    for statements in work.values():
        statements.sort(key=lambda statement: "PRIMARY KEY USING INDEX" in statement)
    for table in read_models.tables:  # built: autovacuum's again (`begin_rebuild`)
        reset = f"ALTER TABLE {schema}.{table.name} RESET (autovacuum_enabled)"
        work[list_of.get(table.name, table.name)].append(reset)
    return list(work.values())


QUERIED_COLUMNS = frozenset(
    {"aggregate_id", "batch", "event_type", "holder_kind", "occurred_at", "order_id"}
    | {"rma_id", "serial", "shipment_id", "sku"}
)
"""The columns the queries above filter or join on: the ones whose statistics the planner uses.
Gathering them for the others would be most of an `ANALYZE`, for nothing: payloads, summaries,
carriers, people's names; the sort keys, which are only ordered by (the widest column of the
history: a fifth of its `ANALYZE`); and the keys of the history and the derived tables, which
no query joins on whole (a unique index tells the planner a key's lookup finds one row)."""


AUDIT_LOG_STATISTICS = 10
"""The statistics target of the audit log's `ANALYZE` in a rebuild (Postgres's default is 100):
it is only ever read by its key's leading column, one aggregate at a time, which any sample
plans as an index scan; a sample of 300 rows per unit of target reads most of its pages (at
200,000 events, 0.15-0.2 s against 0.013 s at 10, the plans unchanged)."""


def _analyzed_columns(table: Table) -> list[str]:
    # The audit log's key, too: the swap compares the live copy's keys with the rebuilt one's.
    whole_key = table.name == EVENTS.name
    return [
        column
        for column in table.columns
        if column in QUERIED_COLUMNS or (whole_key and column in table.key)
    ]


# -- a rebuild's batches, prepared where they are read ----------------------------------------


def prepare_batch(events: Sequence[Projected]) -> bytes:
    """A replay's batch of events as the messages `write_rebuilt` takes (in a worker process:
    pure): each envelope's JSON, as its relay publishes it, one per line."""
    return b"\n".join(envelope.model_dump_json().encode() for envelope, _ in events)


def _projected(row: dict[str, Any]) -> Projected:
    """An event back from its audit-log row."""
    envelope = Envelope(**row)
    return envelope, read_event(envelope.event_type, envelope.schema_version, envelope.payload)


def _unit_answer(row: Mapping[str, Any]) -> dict[str, Any]:
    """A unit as the recall reports it: who or where holds it, in `UNIT_FIELDS` order."""
    answer = {field: row.get(field) for field in UNIT_FIELDS}
    if row["holder_kind"] == projections.CUSTOMER:
        answer["holder"] = row.get("customer_name") or f"the customer of order {row['order_id']}"
    else:
        answer["holder"] = row["location"]
    return answer
