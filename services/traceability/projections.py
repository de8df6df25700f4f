"""How each integration event becomes read-model rows: pure functions, no I/O.

`project(envelope, event)` returns the changes one event makes. Every change is one of two kinds,
and both are chosen so that the read models do not depend on the order in which events arrive
(events of different topics interleave arbitrarily) nor on how often they arrive (a re-published
event is the same event):

- `Insert`: add a row keyed by the event's identity; a row with that key is left as it is.
- `Merge`: set some columns of the row at a key, unless a change with a later (`keep="latest"`) or
  earlier (`keep="earliest"`) version already set them. The version is the event's position in
  the total order (occurred at, producer, aggregate id, version), as a string that sorts that way.

So applying any set of events, in any order, any number of times, gives the same rows. Facts that
join events of different topics (the customer of the order a unit shipped in, the delivery of the
parcel it is in, the grade of the RMA it came back under) are joined when queried, never copied
at write time.

The tables and changes are the runtime's (`services.runtime.projections`): declared here as data
(`read_models`, in the schema `read_model`), rendered to SQL by the runtime, applied in memory by
`read_models.in_memory()` with the same semantics for the unit tests. Every published event type
is projected (the audit log must not miss one added later), so the consumer subscribes them all
from this declaration.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from contracts import inventory, order, registry, returns, shipping, warehouse
from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from contracts.registry import EVENT_MODELS
from services.runtime.projections import Change, Index, Insert, Merge, ReadModels, Table, qualified


def producer_of(model: type[IntegrationEvent]) -> str:
    """The service that publishes `model` events."""
    producer = registry.producer_of(model)
    if producer is None:
        raise LookupError(f"{model.__name__} is published by no service")
    return producer


# -- the tables ------------------------------------------------------------------------------

LIVE = "read_model"
"""The schema queries read and the consumer writes."""

SORTABLE = 'text COLLATE "C"'
"""Text that sorts bytewise, whatever the locale: sort keys, serials, SKUs."""

EVENTS = Table(
    # Every event of every service, with its envelope: the audit log across services.
    "events",
    {
        "producer": "text",
        "aggregate_id": "uuid",
        "aggregate_version": "integer",
        "event_id": "uuid",
        "event_type": "text",
        "schema_version": "integer",
        "aggregate_type": "text",
        "occurred_at": "timestamptz",
        "correlation_id": "text",
        "causation_id": "text?",
        "actor": "text?",
        "reason": "text?",
        "payload": "jsonb",
        "sort_key": SORTABLE,
    },
    # The aggregate first: an aggregate's audit trail is read by it (`_AUDIT` sorts its few
    # rows), and a uuid sorts by its bytes where text sorts by the locale (a rebuild builds
    # this key from every event, in half the time of the producer first).
    key=("aggregate_id", "aggregate_version", "producer"),
    rows_once=True,
)
UNIT_HISTORY = Table(
    # One row per fact about a unit (serial set), or about the parcel or RMA it is in (serial
    # null: joined to the unit's rows by shipment or RMA when queried).
    "unit_history",
    {
        "producer": "text",
        "aggregate_id": "uuid",
        "aggregate_version": "integer",
        "position": "integer",
        "sort_key": SORTABLE,
        "occurred_at": "timestamptz",
        "at": "timestamptz",
        "event_type": "text",
        "milestone": "text",
        "serial": SORTABLE + "?",
        "sku": SORTABLE + "?",
        **dict.fromkeys(("order_id", "shipment_id", "rma_id"), "uuid?"),
        **dict.fromkeys(
            (
                "location",
                "batch",
                "reference",
                "carrier",
                "service",
                "tracking_number",
                "condition",
                "grade",
                "holder_kind",
                "status",
                "actor",
            ),
            "text?",
        ),
        "summary": "text",
        "correlation_id": "text",
    },
    key=("aggregate_id", "aggregate_version", "position", "producer"),  # as the audit log's
    indexes=(
        # A unit's rows are few: ordered by their sort key after the lookup, not by the index
        # (the widest column: without it the index builds in two thirds of the time).
        Index("history_by_unit", ("serial", "sku")),
        Index("history_by_shipment", ("shipment_id",), where="shipment_id IS NOT NULL"),
        Index("history_by_rma", ("rma_id",), where="rma_id IS NOT NULL"),
        Index("history_by_batch", ("batch",), where="batch IS NOT NULL"),
    ),
    rows_once=True,
)
UNITS = Table(
    # The current holder of every serialized unit; origin and holder are merged separately.
    "units",
    {
        "serial": SORTABLE,
        "sku": SORTABLE,
        "batch": "text?",
        "reference": "text?",
        "received_at": "timestamptz?",
        "received_location": "text?",
        "origin_version": SORTABLE + "?",
        "holder_kind": "text?",
        "status": "text?",
        "location": "text?",
        "condition": "text?",
        "order_id": "uuid?",
        "shipment_id": "uuid?",
        "rma_id": "uuid?",
        "holder_event": "text?",
        "updated_at": "timestamptz?",
        "holder_version": SORTABLE + "?",
    },
    key=("serial", "sku"),
    indexes=(Index("units_by_batch", ("batch",)),),
)
ORDERS = Table(
    "orders",
    {
        "order_id": "uuid",
        "channel": "text",
        "channel_order_id": "text",
        "customer_id": "text",
        "customer_name": "text",
        "customer_email": "text",
        "ship_to": "text",
        "placed_at": "timestamptz",
    },
    key=("order_id",),
)
SHIPMENTS = Table(
    "shipments",
    {
        "shipment_id": "uuid",
        "order_id": "uuid?",
        "location": "text?",
        "carrier": "text?",
        "service": "text?",
        "tracking_number": "text?",
        "label_version": SORTABLE + "?",
        "shipped_at": "timestamptz?",
        "dispatch_version": SORTABLE + "?",
        "delivered_at": "timestamptz?",
        "delivery_version": SORTABLE + "?",
    },
    key=("shipment_id",),
)

read_models = ReadModels(EVENTS, UNIT_HISTORY, UNITS, ORDERS, SHIPMENTS, schema=LIVE)
"""Every read-model table, in the order a transaction writes them (the order a rebuild locks them
in, so the two never wait for each other in a circle)."""

TABLE_KEYS: Mapping[str, tuple[str, ...]] = {table.name: table.key for table in read_models.tables}
"""Every table's primary key."""

EVENT_COLUMNS: tuple[str, ...] = tuple(EVENTS.columns)
HISTORY_COLUMNS: tuple[str, ...] = tuple(UNIT_HISTORY.columns)
_HISTORY_COLUMN_SET = frozenset(HISTORY_COLUMNS)
_EMPTY_HISTORY_ROW = dict.fromkeys(HISTORY_COLUMNS)


ACTOR_FIELDS = ("actor", "reviewer", "inspector", "technician")
REASON_FIELDS = ("reason", "reason_code", "note", "override_reason")

CUSTOMER = "customer"
LOCATION = "location"


def order_key(envelope: Envelope) -> str:
    """The event's place in the total order (occurred at, producer, aggregate id, version), as a
    string that sorts bytewise in that order: reads are reproducible and merges deterministic."""
    # isoformat is strftime's "%Y-%m-%dT%H:%M:%S.%f" at a fraction of its cost (once per event).
    occurred = (
        envelope.occurred_at.astimezone(UTC).replace(tzinfo=None).isoformat("T", "microseconds")
        + "Z"
    )
    # A space sorts before every character of a service name, so "order" comes before "orders".
    return (
        f"{occurred} {envelope.producer} {envelope.aggregate_id} {envelope.aggregate_version:010d}"
    )


# -- projecting one event --------------------------------------------------------------------


def project(
    envelope: Envelope,
    event: IntegrationEvent,
    payload: dict[str, Any] | None = None,
) -> list[Change]:
    """Every change `event` (published in `envelope`) makes to the read models. `payload`: the
    event's JSON form when the caller has it already (`event.model_dump(mode="json")`)."""
    context = _Context(envelope)
    changes: list[Change] = [Insert("events", event_row(envelope, event, payload, context.key))]
    projector = _PROJECTORS.get(type(event))
    if projector is not None:
        changes.extend(projector(context, event))
    return changes


def event_row(
    envelope: Envelope,
    event: IntegrationEvent,
    payload: dict[str, Any] | None = None,
    sort_key: str | None = None,
) -> dict[str, Any]:
    """The audit-log row of an event: its envelope, who did it and why, and its payload (the
    event's JSON form, `payload` when given; `sort_key`: `order_key(envelope)`, when known)."""
    if payload is None:
        payload = event.model_dump(mode="json")
    return {
        "producer": envelope.producer,
        "aggregate_id": envelope.aggregate_id,
        "aggregate_version": envelope.aggregate_version,
        "event_id": envelope.event_id,
        "event_type": envelope.event_type,
        "schema_version": envelope.schema_version,
        "aggregate_type": envelope.aggregate_type,
        "occurred_at": envelope.occurred_at,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
        "actor": _first_text(payload, ACTOR_FIELDS),
        "reason": _first_text(payload, REASON_FIELDS),
        "payload": payload,
        "sort_key": sort_key or order_key(envelope),
    }


def _first_text(payload: Mapping[str, Any], fields: Sequence[str]) -> str | None:
    for field in fields:
        value = payload.get(field)
        if isinstance(value, str) and value:
            return value
    return None


class _Context:
    """Builds the rows of one event: history rows numbered in order, merges versioned by them."""

    def __init__(self, envelope: Envelope) -> None:
        self.envelope = envelope
        self.key = order_key(envelope)
        self.changes: list[Change] = []
        self._position = 0

    def history(
        self,
        milestone: str,
        summary: str,
        *,
        at: datetime | None = None,
        actor: str | None = None,
        **columns: Any,
    ) -> str:
        """Add a history row; returns its sort key (the version of the merges it causes)."""
        unknown = columns.keys() - _HISTORY_COLUMN_SET
        assert not unknown, f"not history columns: {unknown}"
        self._position += 1
        envelope = self.envelope
        sort_key = f"{self.key} {self._position:04d}"
        row = _EMPTY_HISTORY_ROW | columns
        row |= {
            "producer": envelope.producer,
            "aggregate_id": envelope.aggregate_id,
            "aggregate_version": envelope.aggregate_version,
            "position": self._position,
            "sort_key": sort_key,
            "occurred_at": envelope.occurred_at,
            "at": at or envelope.occurred_at,
            "event_type": envelope.event_type,
            "milestone": milestone,
            "actor": actor,
            "summary": summary,
            "correlation_id": envelope.correlation_id,
        }
        self.changes.append(Insert("unit_history", row))
        return sort_key

    def unit(
        self,
        milestone: str,
        summary: str,
        *,
        serial: str,
        sku: str,
        holder_kind: str,
        status: str,
        location: str | None,
        condition: str | None,
        order_id: uuid.UUID | None = None,
        shipment_id: uuid.UUID | None = None,
        rma_id: uuid.UUID | None = None,
        **columns: Any,
    ) -> str:
        """A history row that changes who holds the unit, and the `units` row it updates."""
        holder: dict[str, Any] = {
            "holder_kind": holder_kind,
            "status": status,
            "location": location,
            "condition": condition,
            "order_id": order_id,
            "shipment_id": shipment_id,
            "rma_id": rma_id,
        }
        version = self.history(milestone, summary, serial=serial, sku=sku, **holder, **columns)
        self.changes.append(
            Merge(
                "units",
                {"serial": serial, "sku": sku},
                holder
                | {
                    "holder_event": self.envelope.event_type,
                    "updated_at": self.envelope.occurred_at,
                },
                version_column="holder_version",
                version=version,
                keep="latest",
            )
        )
        return version

    def shipment(
        self,
        shipment_id: uuid.UUID,
        group: Literal["label", "dispatch", "delivery"],
        values: Mapping[str, Any],
    ) -> None:
        """Facts of a parcel: its label (the latest), its dispatch and its delivery (the first)."""
        self.changes.append(
            Merge(
                "shipments",
                {"shipment_id": shipment_id},
                values,
                version_column=f"{group}_version",
                version=self.key,
                keep="latest" if group == "label" else "earliest",
            )
        )


def units_from_history_sql(schema: str) -> str:
    """`units` as the merges of `_Context.unit` and `_stock_received` leave it, computed by
    Postgres from the history rows alone, for a rebuild whose `units` is empty: every row that
    changes a unit's holder (`unit`: the only history rows with a holder kind) is a holder merge
    versioned by its sort key, the latest winning; every such row of a receipt (`"received"`,
    made by `_stock_received` alone) is an origin merge, the earliest winning. A rebuild then
    sends no row per merge through Python and no upsert per batch
    (`test_traceability_rebuild.py` holds it equal to the live merges)."""
    units = qualified(schema, UNITS.name)
    history = qualified(schema, UNIT_HISTORY.name)
    holders = f"FROM {history} WHERE holder_kind IS NOT NULL"
    # Each side sorts only the columns it takes: the history's whole rows (summaries, people)
    # would be three times as much to sort.
    return (
        f"INSERT INTO {units} (serial, sku, batch, reference, received_at, received_location,"
        " origin_version, holder_kind, status, location, condition, order_id, shipment_id,"
        " rma_id, holder_event, updated_at, holder_version)"
        " SELECT holder.serial, holder.sku, origin.batch, origin.reference, origin.occurred_at,"
        " origin.location, origin.sort_key, holder.holder_kind, holder.status, holder.location,"
        " holder.condition, holder.order_id, holder.shipment_id, holder.rma_id,"
        " holder.event_type, holder.occurred_at, holder.sort_key"
        " FROM (SELECT DISTINCT ON (serial, sku) serial, sku, holder_kind, status, location,"
        " condition, order_id, shipment_id, rma_id, event_type, occurred_at, sort_key"
        f" {holders} ORDER BY serial, sku, sort_key DESC) AS holder"
        " LEFT JOIN (SELECT DISTINCT ON (serial, sku) serial, sku, batch, reference,"
        f" occurred_at, location, sort_key {holders} AND milestone = 'received'"
        " ORDER BY serial, sku, sort_key) AS origin"
        " ON origin.serial = holder.serial AND origin.sku = holder.sku"
    )


def _stock_received(c: _Context, e: inventory.StockReceived) -> None:
    where = f"received at {e.location}: {e.reason}"
    details = [
        f"reference {e.reference}" if e.reference else "",
        f"batch {e.batch}" if e.batch else "",
    ]
    summary = ", ".join(part for part in (where, *details) if part) + f" (by {e.actor})"
    for serial in e.serials:
        version = c.unit(
            "received",
            summary,
            serial=serial,
            sku=e.sku,
            holder_kind=LOCATION,
            status="in-stock",
            location=e.location,
            condition="new",
            batch=e.batch,
            reference=e.reference,
            actor=e.actor,
        )
        c.changes.append(
            Merge(
                "units",
                {"serial": serial, "sku": e.sku},
                {
                    "batch": e.batch,
                    "reference": e.reference,
                    "received_at": c.envelope.occurred_at,
                    "received_location": e.location,
                },
                version_column="origin_version",
                version=version,
                keep="earliest",
            )
        )


def _stock_serial_packed(c: _Context, e: inventory.StockSerialPacked) -> None:
    c.unit(
        "packed",
        f"verified and packed at {e.location} into parcel {e.shipment_id}",
        serial=e.serial,
        sku=e.sku,
        holder_kind=LOCATION,
        status="packed",
        location=e.location,
        condition="new",
        order_id=e.order_id,
        shipment_id=e.shipment_id,
    )


def _unit_serial_captured(c: _Context, e: warehouse.UnitSerialCaptured) -> None:
    c.unit(
        "captured",
        f"scanned into parcel {e.shipment_id} at {e.location}, line {e.line_number}",
        serial=e.serial,
        sku=e.sku,
        holder_kind=LOCATION,
        status="packed",
        location=e.location,
        condition="new",
        order_id=e.order_id,
        shipment_id=e.shipment_id,
        at=e.captured_at,
    )


def _shipment_confirmed(c: _Context, e: warehouse.ShipmentConfirmed) -> None:
    for unit in e.units:
        if unit.serial is None:
            continue
        c.unit(
            "shipped",
            f"shipped from {e.location} with {e.carrier} {e.service} {e.tracking_number}",
            serial=unit.serial,
            sku=unit.sku,
            holder_kind=CUSTOMER,
            status="shipped",
            location=e.location,
            condition=None,
            order_id=e.order_id,
            shipment_id=e.shipment_id,
            carrier=e.carrier,
            service=e.service,
            tracking_number=e.tracking_number,
            at=e.shipped_at,
        )
    label = {
        "order_id": e.order_id,
        "carrier": e.carrier,
        "service": e.service,
        "tracking_number": e.tracking_number,
    }
    c.shipment(e.shipment_id, "label", label)
    c.shipment(
        e.shipment_id,
        "dispatch",
        {"order_id": e.order_id, "location": e.location, "shipped_at": e.shipped_at},
    )


def _stock_shipped(c: _Context, e: inventory.StockShipped) -> None:
    for serial in e.serials:
        c.unit(
            "out of stock",
            f"taken out of stock at {e.location} for line {e.line_number}",
            serial=serial,
            sku=e.sku,
            holder_kind=CUSTOMER,
            status="shipped",
            location=e.location,
            condition=None,
            order_id=e.order_id,
            shipment_id=e.shipment_id,
        )


def _label_purchased(c: _Context, e: shipping.LabelPurchased) -> None:
    c.history(
        "labelled",
        f"label bought: {e.carrier} {e.service} {e.tracking_number}",
        order_id=e.order_id,
        shipment_id=e.shipment_id,
        carrier=e.carrier,
        service=e.service,
        tracking_number=e.tracking_number,
    )
    c.shipment(
        e.shipment_id,
        "label",
        {
            "order_id": e.order_id,
            "carrier": e.carrier,
            "service": e.service,
            "tracking_number": e.tracking_number,
        },
    )


def _tracking(milestone: str) -> Callable[[_Context, shipping.ShipmentTrackingEvent], None]:
    def project_scan(c: _Context, e: shipping.ShipmentTrackingEvent) -> None:
        c.history(
            milestone,
            f"{e.carrier} {e.tracking_number}: {e.description} ({e.carrier_code})",
            order_id=e.order_id,
            shipment_id=e.shipment_id,
            at=e.at,
        )
        if isinstance(e, shipping.ShipmentDelivered):
            c.shipment(e.shipment_id, "delivery", {"order_id": e.order_id, "delivered_at": e.at})

    return project_scan


def _rma(milestone: str, describe: Callable[[Any], str]) -> Callable[[_Context, Any], None]:
    """An RMA fact that names no serial: joined to the unit that came back under the RMA."""

    def project_rma(c: _Context, e: returns.RmaEvent) -> None:
        actor = _first_text(e.model_dump(), ACTOR_FIELDS)
        c.history(
            milestone,
            describe(e),
            sku=e.sku,
            order_id=e.order_id,
            rma_id=e.rma_id,
            grade=getattr(e, "grade", None),
            actor=actor,
        )

    return project_rma


def _return_authorised(c: _Context, e: returns.ReturnAuthorised) -> None:
    summary = f"return authorised ({e.basis}: {e.eligibility}) to {e.return_to}, RMA {e.rma_id}" + (
        f"; expected serials {', '.join(e.expected_serials)}" if e.expected_serials else ""
    )
    if not e.expected_serials:
        c.history("return authorised", summary, sku=e.sku, order_id=e.order_id, rma_id=e.rma_id)
    for serial in e.expected_serials:
        c.history(
            "return authorised",
            summary,
            serial=serial,
            sku=e.sku,
            order_id=e.order_id,
            rma_id=e.rma_id,
            location=e.return_to,
        )


def _return_label(c: _Context, e: shipping.ReturnLabelPurchased) -> None:
    c.history(
        "return label",
        f"return label to {e.return_to}: {e.carrier} {e.service} {e.tracking_number}",
        order_id=e.order_id,
        rma_id=e.rma_id,
        carrier=e.carrier,
        service=e.service,
        tracking_number=e.tracking_number,
    )


def _return_received(c: _Context, e: warehouse.ReturnReceived) -> None:
    if e.serial is None:
        c.history("returned", f"unit received at the {e.location} dock", rma_id=e.rma_id, sku=e.sku)
        return
    c.unit(
        "returned",
        f"received back at the {e.location} dock under RMA {e.rma_id}",
        serial=e.serial,
        sku=e.sku,
        holder_kind=LOCATION,
        status="returned",
        location=e.location,
        condition="awaiting inspection",
        rma_id=e.rma_id,
        at=e.received_at,
    )


def _receipt_recorded(c: _Context, e: returns.ReturnReceiptRecorded) -> None:
    match = "matches" if e.serial_matches else "does NOT match"
    if e.serial is None:
        c.history("return checked", f"unit without serial at {e.location}", rma_id=e.rma_id)
        return
    c.unit(
        "return checked",
        f"serial {match} what was shipped on the order line",
        serial=e.serial,
        sku=e.sku,
        holder_kind=LOCATION,
        status="returned",
        location=e.location,
        condition="awaiting inspection",
        order_id=None,
        rma_id=e.rma_id,
    )


def _dispositioned(c: _Context, e: returns.ReturnDispositioned) -> None:
    summary = f"grade {e.grade}: to {e.location} as {e.condition}" + (
        ", awaiting a technician's sign-off" if e.awaiting_signoff else ""
    )
    if e.serial is None:
        c.history("dispositioned", summary, rma_id=e.rma_id, grade=e.grade, sku=e.sku)
        return
    c.unit(
        "dispositioned",
        summary,
        serial=e.serial,
        sku=e.sku,
        holder_kind=LOCATION,
        status="returned",
        location=e.location,
        condition=e.condition,
        rma_id=e.rma_id,
        grade=e.grade,
    )


def _signed_off(c: _Context, e: returns.ReturnSignedOff) -> None:
    c.history(
        "signed off",
        f"signed off as new by {e.technician}",
        serial=e.serial,
        sku=e.sku,
        rma_id=e.rma_id,
        location=e.location,
        actor=e.technician,
    )


def _unit_returned(c: _Context, e: inventory.StockUnitReturned) -> None:
    if e.serial is None:
        return
    c.unit(
        "back in stock",
        f"back in stock at {e.location} as {e.condition} (not sellable as new)",
        serial=e.serial,
        sku=e.sku,
        holder_kind=LOCATION,
        status="returned",
        location=e.location,
        condition=e.condition,
        rma_id=e.rma_id,
    )


def _condition_changed(c: _Context, e: inventory.StockUnitConditionChanged) -> None:
    if e.serial is None:
        return
    restocked = e.to_condition == "new"
    c.unit(
        "restocked" if restocked else "condition changed",
        f"{e.from_condition} → {e.to_condition} at {e.location}: {e.reason}",
        serial=e.serial,
        sku=e.sku,
        holder_kind=LOCATION,
        status="in-stock" if restocked else "returned",
        location=e.location,
        condition=e.to_condition,
        rma_id=e.rma_id,
        actor=e.actor,
    )


def _order_placed(c: _Context, e: order.OrderPlaced) -> None:
    address = e.shipping_address
    ship_to = ", ".join(
        part
        for part in (
            address.name,
            address.line1,
            address.line2,
            address.city,
            address.region,
            address.postal_code,
            address.country,
        )
        if part
    )
    c.changes.append(
        Insert(
            "orders",
            {
                "order_id": e.order_id,
                "channel": e.channel,
                "channel_order_id": e.channel_order_id,
                "customer_id": e.customer.customer_id,
                "customer_name": e.customer.name,
                "customer_email": str(e.customer.email),
                "ship_to": ship_to,
                "placed_at": e.placed_at,
            },
        )
    )


def _handlers() -> dict[type[IntegrationEvent], Callable[[_Context, Any], None]]:
    return {
        inventory.StockReceived: _stock_received,
        inventory.StockSerialPacked: _stock_serial_packed,
        inventory.StockShipped: _stock_shipped,
        inventory.StockUnitReturned: _unit_returned,
        inventory.StockUnitConditionChanged: _condition_changed,
        warehouse.UnitSerialCaptured: _unit_serial_captured,
        warehouse.ShipmentConfirmed: _shipment_confirmed,
        warehouse.ReturnReceived: _return_received,
        shipping.LabelPurchased: _label_purchased,
        shipping.ShipmentInTransit: _tracking("in transit"),
        shipping.ShipmentDelivered: _tracking("delivered"),
        shipping.ShipmentException: _tracking("delivery exception"),
        shipping.ReturnLabelPurchased: _return_label,
        order.OrderPlaced: _order_placed,
        returns.ReturnRequested: _rma(
            "return requested", lambda e: f"return requested: {e.reason}"
        ),
        returns.ReturnAuthorised: _return_authorised,
        returns.ReturnRejected: _rma("return rejected", lambda e: f"return rejected: {e.reason}"),
        returns.ReturnReceiptRecorded: _receipt_recorded,
        returns.RefundBlocked: _rma("refund blocked", lambda e: f"refund blocked: {e.reason}"),
        returns.ReviewResolved: _rma(
            "reviewed", lambda e: f"review by {e.reviewer}: {e.decision} ({e.note})"
        ),
        returns.ReturnInspected: _rma("inspected", _inspection),
        returns.ReturnGraded: _rma("graded", _grading),
        returns.ReturnDispositioned: _dispositioned,
        returns.ReturnSignedOff: _signed_off,
        returns.RefundIssued: _rma(
            "refunded", lambda e: f"refund issued: {e.amount} {e.currency} via {e.channel}"
        ),
    }


def _inspection(e: returns.ReturnInspected) -> str:
    """The checklist's results. The grade is `ReturnGraded`'s line (and the disposition's)."""
    failed = sorted(check for check, passed in e.checklist.items() if not passed)
    return f"inspected by {e.inspector}: " + (
        f"failed {', '.join(failed)}" if failed else "every check passed"
    )


def _grading(e: returns.ReturnGraded) -> str:
    failed = sorted(check for check, passed in e.checklist.items() if not passed)
    summary = f"graded {e.grade} by {e.inspector}"
    if failed:
        summary += f"; failed: {', '.join(failed)}"
    if e.override_reason:
        summary += f"; rules gave {e.derived_grade}, overridden: {e.override_reason}"
    return summary


def _run(
    handler: Callable[[_Context, Any], None],
) -> Callable[[_Context, IntegrationEvent], list[Change]]:
    def run(c: _Context, event: IntegrationEvent) -> list[Change]:
        handler(c, event)
        return c.changes

    return run


_PROJECTORS: dict[type[IntegrationEvent], Callable[[_Context, IntegrationEvent], list[Change]]] = {
    model: _run(handler) for model, handler in _handlers().items()
}

PROJECTED_MODELS: frozenset[type[IntegrationEvent]] = frozenset(_PROJECTORS)
"""The events that make rows beyond the audit log (`events`, which takes every event)."""


def _project_published(event: IntegrationEvent, envelope: Envelope) -> list[Change]:
    return project(envelope, event)


for _model in EVENT_MODELS:
    read_models.on_event(_model, producer=producer_of(_model))(_project_published)


# -- the same rows, derived by Postgres from the audit log ----------------------------------
#
# A rebuild writes the audit log alone while it reads (from the producers' kept messages, in
# SQL, or from events it decoded), then derives every other table from it here, set-wise: no
# Python object per event. Each projector above has its SQL twin below, written next to the
# table of them; `test_traceability_rebuild.py` holds the tables the two make equal, for every
# projected event type (and fails for a type without its SQL).


def _text(field: str, source: str = "p") -> str:
    return f"({source}->>'{field}')"


def _uuid(field: str, source: str = "p") -> str:
    return f"({source}->>'{field}')::uuid"


def _moment(field: str, source: str = "p") -> str:
    return f"({source}->>'{field}')::timestamptz"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _concat(*parts: str) -> str:
    """Text parts, literal (quoted) or SQL (anything else, given as `(...)`), joined."""
    return "(" + " || ".join(parts) + ")"


def first_text_sql(fields: Sequence[str], source: str = "p") -> str:
    """`_first_text` in SQL: the first of `fields` of the JSON object `source` that is a string
    and not empty."""
    choices = ", ".join(
        f"NULLIF(CASE WHEN jsonb_typeof({source}->'{field}') = 'string'"
        f" THEN {source}->>'{field}' END, '')"
        for field in fields
    )
    return f"COALESCE({choices})"


def _failed_checks(separator: str) -> str:
    """The names of the checklist's failed checks, sorted as Python sorts text, joined."""
    return (
        f"(SELECT string_agg(check_name, '{separator}' ORDER BY check_name COLLATE \"C\")"
        " FROM jsonb_each(p->'checklist') AS checks(check_name, passed)"
        " WHERE passed = 'false'::jsonb)"
    )


@dataclass(frozen=True)
class HistorySql:
    """The history rows one event type makes, in SQL over its audit-log row `e` and payload `p`.

    `elements`: a FROM item of what the event makes one row each of (its serials, its packed
    units), as `element(value, n)`, `n` their order; `where`: which events (or elements) make a
    row at all. `columns`: history columns beyond the envelope's, as SQL; `at` defaults to when
    the event occurred."""

    event_type: str
    milestone: str
    summary: str
    columns: Mapping[str, str]
    elements: str | None = None
    where: str = "TRUE"


def _unit_sql(
    *,
    holder_kind: str,
    status: str,
    location: str | None,
    condition: str | None,
    **columns: str,
) -> dict[str, str]:
    """The holder columns `_Context.unit` sets (SQL), with the rest of the row's."""
    holder = {"holder_kind": _literal(holder_kind), "status": _literal(status)}
    held = {"location": location, "condition": condition}
    return holder | {column: value for column, value in held.items() if value} | columns


_SERIALS = "jsonb_array_elements_text(p->'serials') WITH ORDINALITY AS element(value, n)"
_AT = _text("location")
_SKU = _text("sku")


def _rma_sql(event_type: str, milestone: str, summary: str) -> HistorySql:
    return HistorySql(
        event_type,
        _literal(milestone),
        summary,
        {
            "sku": _SKU,
            "order_id": _uuid("order_id"),
            "rma_id": _uuid("rma_id"),
            "grade": _text("grade"),
            "actor": first_text_sql(ACTOR_FIELDS),
        },
    )


def _tracking_sql(event_type: str, milestone: str) -> HistorySql:
    return HistorySql(
        event_type,
        _literal(milestone),
        _concat(
            _text("carrier"),
            "' '",
            _text("tracking_number"),
            "': '",
            _text("description"),
            "' ('",
            _text("carrier_code"),
            "')'",
        ),
        {"order_id": _uuid("order_id"), "shipment_id": _uuid("shipment_id"), "at": _moment("at")},
    )


def _by_serial(*, with_serial: HistorySql, without: HistorySql | None) -> list[HistorySql]:
    """An event whose serial may be missing: its row with the serial, and the one without (if
    it makes one)."""
    rows = [replace(with_serial, where="p->>'serial' IS NOT NULL")]
    if without is not None:
        rows.append(replace(without, where="p->>'serial' IS NULL"))
    return rows


_AUTHORISED_SUMMARY = _concat(
    "'return authorised ('",
    _text("basis"),
    "': '",
    _text("eligibility"),
    "') to '",
    _text("return_to"),
    "', RMA '",
    _text("rma_id"),
    "COALESCE('; expected serials ' || (SELECT string_agg(serial, ', ' ORDER BY n)"
    " FROM jsonb_array_elements_text(p->'expected_serials') WITH ORDINALITY AS s(serial, n)),"
    " '')",
)
_DISPOSITION_SUMMARY = _concat(
    "'grade '",
    _text("grade"),
    "': to '",
    _AT,
    "' as '",
    _text("condition"),
    "CASE WHEN p->'awaiting_signoff' = 'true'::jsonb"
    " THEN ', awaiting a technician''s sign-off' ELSE '' END",
)

HISTORY_SQL: tuple[HistorySql, ...] = (
    HistorySql(
        "StockReceived",
        "'received'",
        _concat(
            "concat_ws(', ', 'received at ' || (p->>'location') || ': ' || (p->>'reason'),"
            " 'reference ' || NULLIF(p->>'reference', ''), 'batch ' || NULLIF(p->>'batch', ''))",
            "' (by '",
            _text("actor"),
            "')'",
        ),
        _unit_sql(
            holder_kind=LOCATION,
            status="in-stock",
            location=_AT,
            condition="'new'",
            serial="element.value",
            sku=_SKU,
            batch=_text("batch"),
            reference=_text("reference"),
            actor=_text("actor"),
        ),
        elements=_SERIALS,
    ),
    HistorySql(
        "StockSerialPacked",
        "'packed'",
        _concat("'verified and packed at '", _AT, "' into parcel '", _text("shipment_id")),
        _unit_sql(
            holder_kind=LOCATION,
            status="packed",
            location=_AT,
            condition="'new'",
            serial=_text("serial"),
            sku=_SKU,
            order_id=_uuid("order_id"),
            shipment_id=_uuid("shipment_id"),
        ),
    ),
    HistorySql(
        "UnitSerialCaptured",
        "'captured'",
        _concat(
            "'scanned into parcel '",
            _text("shipment_id"),
            "' at '",
            _AT,
            "', line '",
            _text("line_number"),
        ),
        _unit_sql(
            holder_kind=LOCATION,
            status="packed",
            location=_AT,
            condition="'new'",
            serial=_text("serial"),
            sku=_SKU,
            order_id=_uuid("order_id"),
            shipment_id=_uuid("shipment_id"),
            at=_moment("captured_at"),
        ),
    ),
    HistorySql(
        "ShipmentConfirmed",
        "'shipped'",
        _concat(
            "'shipped from '",
            _AT,
            "' with '",
            _text("carrier"),
            "' '",
            _text("service"),
            "' '",
            _text("tracking_number"),
        ),
        _unit_sql(
            holder_kind=CUSTOMER,
            status="shipped",
            location=_AT,
            condition=None,
            serial=_text("serial", "element.value"),
            sku=_text("sku", "element.value"),
            order_id=_uuid("order_id"),
            shipment_id=_uuid("shipment_id"),
            carrier=_text("carrier"),
            service=_text("service"),
            tracking_number=_text("tracking_number"),
            at=_moment("shipped_at"),
        ),
        elements="jsonb_array_elements(p->'units') WITH ORDINALITY AS element(value, n)",
        where="element.value->>'serial' IS NOT NULL",
    ),
    HistorySql(
        "StockShipped",
        "'out of stock'",
        _concat("'taken out of stock at '", _AT, "' for line '", _text("line_number")),
        _unit_sql(
            holder_kind=CUSTOMER,
            status="shipped",
            location=_AT,
            condition=None,
            serial="element.value",
            sku=_SKU,
            order_id=_uuid("order_id"),
            shipment_id=_uuid("shipment_id"),
        ),
        elements=_SERIALS,
    ),
    HistorySql(
        "LabelPurchased",
        "'labelled'",
        _concat(
            "'label bought: '",
            _text("carrier"),
            "' '",
            _text("service"),
            "' '",
            _text("tracking_number"),
        ),
        {
            "order_id": _uuid("order_id"),
            "shipment_id": _uuid("shipment_id"),
            "carrier": _text("carrier"),
            "service": _text("service"),
            "tracking_number": _text("tracking_number"),
        },
    ),
    _tracking_sql("ShipmentInTransit", "in transit"),
    _tracking_sql("ShipmentDelivered", "delivered"),
    _tracking_sql("ShipmentException", "delivery exception"),
    HistorySql(
        "ReturnLabelPurchased",
        "'return label'",
        _concat(
            "'return label to '",
            _text("return_to"),
            "': '",
            _text("carrier"),
            "' '",
            _text("service"),
            "' '",
            _text("tracking_number"),
        ),
        {
            "order_id": _uuid("order_id"),
            "rma_id": _uuid("rma_id"),
            "carrier": _text("carrier"),
            "service": _text("service"),
            "tracking_number": _text("tracking_number"),
        },
    ),
    _rma_sql(
        "ReturnRequested", "return requested", _concat("'return requested: '", _text("reason"))
    ),
    _rma_sql("ReturnRejected", "return rejected", _concat("'return rejected: '", _text("reason"))),
    _rma_sql("RefundBlocked", "refund blocked", _concat("'refund blocked: '", _text("reason"))),
    _rma_sql(
        "ReviewResolved",
        "reviewed",
        _concat(
            "'review by '",
            _text("reviewer"),
            "': '",
            _text("decision"),
            "' ('",
            _text("note"),
            "')'",
        ),
    ),
    _rma_sql(
        "ReturnInspected",
        "inspected",
        _concat(
            "'inspected by '",
            _text("inspector"),
            "': '",
            f"COALESCE('failed ' || {_failed_checks(', ')}, 'every check passed')",
        ),
    ),
    _rma_sql(
        "ReturnGraded",
        "graded",
        _concat(
            "'graded '",
            _text("grade"),
            "' by '",
            _text("inspector"),
            f"COALESCE('; failed: ' || {_failed_checks(', ')}, '')",
            "COALESCE('; rules gave ' || (p->>'derived_grade') || ', overridden: '"
            " || NULLIF(p->>'override_reason', ''), '')",
        ),
    ),
    _rma_sql(
        "RefundIssued",
        "refunded",
        _concat(
            "'refund issued: '",
            _text("amount"),
            "' '",
            _text("currency"),
            "' via '",
            _text("channel"),
        ),
    ),
    HistorySql(
        "ReturnAuthorised",
        "'return authorised'",
        _AUTHORISED_SUMMARY,
        {"sku": _SKU, "order_id": _uuid("order_id"), "rma_id": _uuid("rma_id")},
        where="jsonb_array_length(p->'expected_serials') = 0",
    ),
    HistorySql(
        "ReturnAuthorised",
        "'return authorised'",
        _AUTHORISED_SUMMARY,
        {
            "serial": "element.value",
            "sku": _SKU,
            "order_id": _uuid("order_id"),
            "rma_id": _uuid("rma_id"),
            "location": _text("return_to"),
        },
        elements="jsonb_array_elements_text(p->'expected_serials')"
        " WITH ORDINALITY AS element(value, n)",
    ),
    *_by_serial(
        with_serial=HistorySql(
            "ReturnReceived",
            "'returned'",
            _concat("'received back at the '", _AT, "' dock under RMA '", _text("rma_id")),
            _unit_sql(
                holder_kind=LOCATION,
                status="returned",
                location=_AT,
                condition="'awaiting inspection'",
                serial=_text("serial"),
                sku=_SKU,
                rma_id=_uuid("rma_id"),
                at=_moment("received_at"),
            ),
        ),
        without=HistorySql(
            "ReturnReceived",
            "'returned'",
            _concat("'unit received at the '", _AT, "' dock'"),
            {"rma_id": _uuid("rma_id"), "sku": _SKU},
        ),
    ),
    *_by_serial(
        with_serial=HistorySql(
            "ReturnReceiptRecorded",
            "'return checked'",
            _concat(
                "'serial '",
                "CASE WHEN p->'serial_matches' = 'true'::jsonb THEN 'matches'"
                " ELSE 'does NOT match' END",
                "' what was shipped on the order line'",
            ),
            _unit_sql(
                holder_kind=LOCATION,
                status="returned",
                location=_AT,
                condition="'awaiting inspection'",
                serial=_text("serial"),
                sku=_SKU,
                rma_id=_uuid("rma_id"),
            ),
        ),
        without=HistorySql(
            "ReturnReceiptRecorded",
            "'return checked'",
            _concat("'unit without serial at '", _AT),
            {"rma_id": _uuid("rma_id")},
        ),
    ),
    *_by_serial(
        with_serial=HistorySql(
            "ReturnDispositioned",
            "'dispositioned'",
            _DISPOSITION_SUMMARY,
            _unit_sql(
                holder_kind=LOCATION,
                status="returned",
                location=_AT,
                condition=_text("condition"),
                serial=_text("serial"),
                sku=_SKU,
                rma_id=_uuid("rma_id"),
                grade=_text("grade"),
            ),
        ),
        without=HistorySql(
            "ReturnDispositioned",
            "'dispositioned'",
            _DISPOSITION_SUMMARY,
            {"rma_id": _uuid("rma_id"), "grade": _text("grade"), "sku": _SKU},
        ),
    ),
    HistorySql(
        "ReturnSignedOff",
        "'signed off'",
        _concat("'signed off as new by '", _text("technician")),
        {
            "serial": _text("serial"),
            "sku": _SKU,
            "rma_id": _uuid("rma_id"),
            "location": _AT,
            "actor": _text("technician"),
        },
    ),
    *_by_serial(
        with_serial=HistorySql(
            "StockUnitReturned",
            "'back in stock'",
            _concat(
                "'back in stock at '",
                _AT,
                "' as '",
                _text("condition"),
                "' (not sellable as new)'",
            ),
            _unit_sql(
                holder_kind=LOCATION,
                status="returned",
                location=_AT,
                condition=_text("condition"),
                serial=_text("serial"),
                sku=_SKU,
                rma_id=_uuid("rma_id"),
            ),
        ),
        without=None,
    ),
    *_by_serial(
        with_serial=HistorySql(
            "StockUnitConditionChanged",
            "CASE WHEN p->>'to_condition' = 'new' THEN 'restocked' ELSE 'condition changed' END",
            _concat(
                _text("from_condition"),
                "' → '",
                _text("to_condition"),
                "' at '",
                _AT,
                "': '",
                _text("reason"),
            ),
            {
                "holder_kind": _literal(LOCATION),
                "status": "CASE WHEN p->>'to_condition' = 'new' THEN 'in-stock'"
                " ELSE 'returned' END",
                "location": _AT,
                "condition": _text("to_condition"),
                "serial": _text("serial"),
                "sku": _SKU,
                "rma_id": _uuid("rma_id"),
                "actor": _text("actor"),
            },
        ),
        without=None,
    ),
)
"""Every history row a projector above makes, per event type, in SQL."""

_ENVELOPE_HISTORY_COLUMNS = frozenset(
    {
        "producer",
        "aggregate_id",
        "aggregate_version",
        "position",
        "sort_key",
        "occurred_at",
        "at",
        "event_type",
        "milestone",
        "summary",
        "correlation_id",
    }
)


_PAYLOAD = "CROSS JOIN LATERAL (SELECT e.payload || '{}'::jsonb AS p OFFSET 0) AS event"
"""The audit-log row `e`'s payload as `p`, unpacked once. A large payload (a receipt of hundreds
of serials) is stored compressed; read as it is, every field taken from it, for every row made
from it, would decompress it again (`|| '{}'` hands back the payload unpacked; `OFFSET 0` keeps
it from being inlined into each use)."""


def _history_select(rows: HistorySql) -> str:
    """The rows of one `HistorySql`, for the audit-log row `e` (payload `p`) of the outer
    query: none unless the row is of its event type."""
    unknown = rows.columns.keys() - _HISTORY_COLUMN_SET
    assert not unknown, f"not history columns: {unknown}"
    model = next(model for model in PROJECTED_MODELS if model.event_type == rows.event_type)
    # Elements filtered (`where` on them) are numbered again; the others keep their own number.
    position = (
        ("row_number() OVER (ORDER BY element.n)" if "element." in rows.where else "element.n")
        if rows.elements
        else "1"
    )
    # `f"{position:04d}"`: four digits at least, more when it takes more.
    digits = f"CASE WHEN {position} < 10000 THEN lpad(({position})::text, 4, '0')" + (
        f" ELSE ({position})::text END"
    )
    values = {
        "producer": "e.producer",
        "aggregate_id": "e.aggregate_id",
        "aggregate_version": "e.aggregate_version",
        "position": position,
        "sort_key": f"e.sort_key || ' ' || {digits}",
        "occurred_at": "e.occurred_at",
        "at": f"COALESCE({rows.columns.get('at', 'NULL')}, e.occurred_at)",
        "event_type": "e.event_type",
        "milestone": rows.milestone,
        "summary": rows.summary,
        "correlation_id": "e.correlation_id",
    }
    selected = [
        values[column]
        if column in _ENVELOPE_HISTORY_COLUMNS
        else rows.columns.get(column, f"NULL::{UNIT_HISTORY.type_of(column)}")
        for column in HISTORY_COLUMNS
    ]
    elements = rows.elements or "(SELECT) AS one"
    # The producer and the schema version were checked once for the event (`history_rows_sql`).
    return (
        f"SELECT {', '.join(selected)} FROM {elements}"
        f" WHERE e.event_type = {_literal(model.event_type)} AND {rows.where}"
    )


def history_rows_sql(events: str) -> str:
    """The `unit_history` rows (columns in `HISTORY_COLUMNS` order) the projectors above make of
    the audit-log rows in the FROM item `events`. One pass: each event of a projected type is
    handed to every `HistorySql`, of which those of its type make its rows. The rows are the
    statement's own, made from messages (`rebuild_from_messages_sql`): their payloads are read
    as they are, where a stored one may be compressed and would be unpacked for every field
    read from it (`_PAYLOAD`)."""
    models = sorted(
        {
            model
            for model in PROJECTED_MODELS
            for rows in HISTORY_SQL
            if model.event_type == rows.event_type
        },
        key=lambda model: model.event_type,
    )
    projected = ", ".join(
        f"({_literal(model.event_type)}, {_literal(producer_of(model))}, {model.schema_version})"
        for model in models
    )
    rows = " UNION ALL ".join(_history_select(rows) for rows in HISTORY_SQL)
    # The type alone first, against an array (looked up by hash): most events are of no
    # projected type, and the list of triples is compared one by one.
    types = ", ".join(_literal(model.event_type) for model in models)
    return (
        f"SELECT made.* FROM {events} AS e CROSS JOIN LATERAL (SELECT e.payload AS p) AS event"
        f" CROSS JOIN LATERAL ({rows}) AS made"
        f" WHERE e.event_type = ANY (ARRAY[{types}])"
        f" AND (e.event_type, e.producer, e.schema_version) IN ({projected})"
    )


def rebuild_from_messages_sql(schema: str, messages: str) -> str:
    """One statement that writes the messages in the FROM item `messages` (one text column,
    `message`: lines, each an event's envelope JSON as its producer's relay publishes it) into the
    audit log in `schema`, their history rows into its history, and the audit-log rows of
    orders and parcels into `ORDER_AND_PARCEL_AUDIT`, each message parsed once. What a rebuild
    runs on every batch it reads, so no event's rows are made in Python."""
    audit = audit_rows_sql(f"(SELECT string_to_table(message, E'\\n')::jsonb FROM {messages})")
    columns = ", ".join(EVENT_COLUMNS)
    history = qualified(schema, UNIT_HISTORY.name)
    of_orders_and_parcels = " OR ".join(
        f"({_of_model(model)})" for model in ORDER_AND_PARCEL_EVENTS
    )
    return (
        f"WITH audit AS MATERIALIZED ({audit}),"
        f" written AS (INSERT INTO {qualified(schema, EVENTS.name)} ({columns})"
        " SELECT * FROM audit),"
        f" kept AS (INSERT INTO {qualified(schema, ORDER_AND_PARCEL_AUDIT)} ({columns})"
        f" SELECT * FROM audit AS e WHERE {of_orders_and_parcels})"
        f" INSERT INTO {history} ({', '.join(HISTORY_COLUMNS)}) {history_rows_sql('audit')}"
    )


ORDER_AND_PARCEL_EVENTS: tuple[type[IntegrationEvent], ...] = (
    order.OrderPlaced,
    shipping.LabelPurchased,
    warehouse.ShipmentConfirmed,
    shipping.ShipmentDelivered,
)
"""The events `orders` and `shipments` are derived from."""

ORDER_AND_PARCEL_AUDIT = "order_and_parcel_events"
"""A rebuild's table of the audit-log rows of `ORDER_AND_PARCEL_EVENTS`, written beside the audit
log, so that deriving `orders` and `shipments` reads a few thousand rows rather than all of it;
dropped before the swap."""


def orders_from_audit_sql(schema: str, audit: str) -> str:
    """`orders` in `schema` as `_order_placed` makes it (the first placement of each order),
    from the audit-log rows in the table `audit` (a rebuild's `ORDER_AND_PARCEL_AUDIT`)."""
    address = ", ".join(
        f"NULLIF(p->'shipping_address'->>'{part}', '')"
        for part in ("name", "line1", "line2", "city", "region", "postal_code", "country")
    )
    return (
        f"INSERT INTO {qualified(schema, ORDERS.name)} (order_id, channel, channel_order_id,"
        " customer_id, customer_name, customer_email, ship_to, placed_at)"
        " SELECT DISTINCT ON ((p->>'order_id')::uuid) (p->>'order_id')::uuid, p->>'channel',"
        " p->>'channel_order_id', p->'customer'->>'customer_id', p->'customer'->>'name',"
        f" p->'customer'->>'email', concat_ws(', ', {address}), (p->>'placed_at')::timestamptz"
        f" FROM {audit} AS e {_PAYLOAD}"
        f" WHERE {_of_model(order.OrderPlaced)}"
        " ORDER BY (p->>'order_id')::uuid, e.sort_key"
    )


def shipments_from_audit_sql(schema: str, audit: str) -> str:
    """`shipments` in `schema` as the merges of `_Context.shipment` leave it, from the audit-log
    rows in the table `audit` (a rebuild's `ORDER_AND_PARCEL_AUDIT`): per parcel its latest
    label (bought, or confirmed with the shipment), its first dispatch and its first delivery,
    each versioned by the event's sort key."""

    def first(models: Sequence[type[IntegrationEvent]], direction: str, columns: str) -> str:
        return (
            f"SELECT DISTINCT ON ((p->>'shipment_id')::uuid) (p->>'shipment_id')::uuid"
            f" AS shipment_id, (p->>'order_id')::uuid AS order_id, {columns},"
            f" e.sort_key AS version FROM {audit} AS e {_PAYLOAD}"
            f" WHERE {' OR '.join(f'({_of_model(model)})' for model in models)}"
            f" ORDER BY (p->>'shipment_id')::uuid, e.sort_key {direction}"
        )

    label = first(
        (shipping.LabelPurchased, warehouse.ShipmentConfirmed),
        "DESC",
        "p->>'carrier' AS carrier, p->>'service' AS service,"
        " p->>'tracking_number' AS tracking_number",
    )
    dispatch = first(
        (warehouse.ShipmentConfirmed,),
        "",
        "p->>'location' AS location, (p->>'shipped_at')::timestamptz AS shipped_at",
    )
    delivery = first((shipping.ShipmentDelivered,), "", "(p->>'at')::timestamptz AS delivered_at")
    return (
        f"INSERT INTO {qualified(schema, SHIPMENTS.name)} (shipment_id, order_id, location,"
        " carrier, service, tracking_number, label_version, shipped_at, dispatch_version,"
        " delivered_at, delivery_version)"
        " SELECT shipment_id, COALESCE(label.order_id, dispatch.order_id, delivery.order_id),"
        " dispatch.location, label.carrier, label.service, label.tracking_number,"
        " label.version, dispatch.shipped_at, dispatch.version, delivery.delivered_at,"
        f" delivery.version FROM ({label}) AS label"
        f" FULL JOIN ({dispatch}) AS dispatch USING (shipment_id)"
        f" FULL JOIN ({delivery}) AS delivery USING (shipment_id)"
    )


def _of_model(model: type[IntegrationEvent]) -> str:
    """Whether the audit-log row `e` is an event of `model` (its type, producer and version)."""
    return (
        f"e.event_type = {_literal(model.event_type)}"
        f" AND e.producer = {_literal(producer_of(model))}"
        f" AND e.schema_version = {model.schema_version}"
    )


def _first_text_of_message_sql(fields: Sequence[str]) -> str:
    """`first_text_sql` of the payload of the message `m`, skipped for the event types none of
    whose known versions has any of `fields` (most of them): its payload holds exactly its model's
    fields (`model_dump`), so the answer is NULL without taking the payload out for each field.
    A type the contracts do not know is searched as any."""
    having = {model.event_type for model in EVENT_MODELS if set(fields) & set(model.model_fields)}
    without = sorted({model.event_type for model in EVENT_MODELS} - having)
    searched = first_text_sql(fields, "m->'payload'")
    if not without:
        return searched
    # Looked up by hash: one test where the search takes one payload copy per field.
    types = ", ".join(_literal(event_type) for event_type in without)
    return f"CASE WHEN m->>'event_type' = ANY (ARRAY[{types}]) THEN NULL ELSE {searched} END"


def audit_rows_sql(messages: str) -> str:
    """The audit-log rows (`event_row`, columns named and ordered as `EVENT_COLUMNS`) of the
    messages in the FROM item `messages`, of one `jsonb` column: each an event's message as its
    producer's relay publishes it (the envelope)."""
    envelope = {
        "producer": "m->>'producer'",
        "aggregate_id": "(m->>'aggregate_id')::uuid",
        "aggregate_version": "(m->>'aggregate_version')::integer",
        "event_id": "(m->>'event_id')::uuid",
        "event_type": "m->>'event_type'",
        "schema_version": "(m->>'schema_version')::integer",
        "aggregate_type": "m->>'aggregate_type'",
        "occurred_at": "(m->>'occurred_at')::timestamptz",
        "correlation_id": "m->>'correlation_id'",
        "causation_id": "m->>'causation_id'",
        "actor": _first_text_of_message_sql(ACTOR_FIELDS),
        "reason": _first_text_of_message_sql(REASON_FIELDS),
        "payload": "m->'payload'",
        # `order_key`: when (UTC, to the microsecond), producer, aggregate, version (10 digits).
        # A relay writes the moment as the key does (`...T22:15:03.123456Z`): taken as it is,
        # without formatting it again (a tenth of a message's time); any other form is.
        "sort_key": "CASE WHEN m->>'occurred_at' LIKE '____-__-__T__:__:__.______Z'"
        " THEN m->>'occurred_at' ELSE to_char((m->>'occurred_at')::timestamptz AT TIME ZONE"
        " 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') END || ' ' || (m->>'producer') || ' '"
        " || (m->>'aggregate_id') || ' ' || lpad(m->>'aggregate_version', 10, '0')",
    }
    assert tuple(envelope) == EVENT_COLUMNS
    # `OFFSET 0` keeps the messages a subquery of their own, so each is parsed once: merged into
    # this query, its JSON would be parsed again for every field read (four times the work).
    kept = f"(SELECT m FROM {messages} AS kept(m) OFFSET 0) AS kept"
    return (
        f"SELECT {', '.join(f'{sql} AS {column}' for column, sql in envelope.items())} FROM {kept}"
    )
