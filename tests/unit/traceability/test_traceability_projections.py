"""Traceability's projections: every event becomes rows, and the rows do not depend on the order or
the number of times the events arrive in."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

import pytest
from psycopg.types.json import Jsonb

from contracts import inventory, order, returns, shipping, warehouse
from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from contracts.personal import AddressOnRecord, CustomerOnRecord
from contracts.registry import EVENT_MODELS, LATEST_VERSION
from contracts.topics import SERVICES, events_topic
from services.runtime.consumer import Consumer
from services.runtime.eventstore import BlockingRunner
from services.runtime.projections import Change, InMemoryReadModels, Insert, Merge
from services.traceability import handlers
from services.traceability.application import (
    AUDIT_LOG_STATISTICS,
    TraceabilityApplication,
    finishing_work,
    prepare_batch,
)
from services.traceability.projections import (
    HISTORY_SQL,
    LIVE,
    ORDER_AND_PARCEL_AUDIT,
    PROJECTED_MODELS,
    order_key,
    orders_from_audit_sql,
    producer_of,
    project,
    read_models,
    shipments_from_audit_sql,
    units_from_history_sql,
)

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
STOCK = uuid.uuid5(uuid.NAMESPACE_OID, "stock CAM-1")
FIRST_ORDER = uuid.uuid5(uuid.NAMESPACE_OID, "order 1")
SECOND_ORDER = uuid.uuid5(uuid.NAMESPACE_OID, "order 2")
FIRST_PARCEL = uuid.uuid5(uuid.NAMESPACE_OID, "parcel 1")
SECOND_PARCEL = uuid.uuid5(uuid.NAMESPACE_OID, "parcel 2")
RMA = uuid.uuid5(uuid.NAMESPACE_OID, "rma 1")
RECEIPT = uuid.uuid5(uuid.NAMESPACE_OID, "dock receipt 1")
ADDRESS = AddressOnRecord(
    name="Ada Lovelace", line1="1 Engine Row", city="London", postal_code="N1", country="GB"
)


class Story:
    """Events as their producers publish them: each aggregate's versions counted, time moving."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[Envelope, IntegrationEvent]] = []
        self.versions: dict[uuid.UUID, int] = {}

    def add(self, producer: str, aggregate_id: uuid.UUID, event: IntegrationEvent) -> None:
        version = self.versions[aggregate_id] = self.versions.get(aggregate_id, 0) + 1
        envelope = Envelope.of(
            event,
            producer=producer,
            aggregate_id=aggregate_id,
            aggregate_version=version,
            occurred_at=T0 + timedelta(minutes=len(self.envelopes)),
            correlation_id=f"flow-{len(self.envelopes)}",
        )
        self.envelopes.append((envelope, event))

    def changes(self) -> list[list[Change]]:
        return [project(envelope, event) for envelope, event in self.envelopes]


def placed(order_id: uuid.UUID, customer: str) -> order.OrderPlaced:
    return order.OrderPlaced(
        order_id=order_id,
        channel="webshop",
        channel_order_id=customer.lower(),
        placed_at=T0,
        customer=CustomerOnRecord(
            customer_id=customer, name=customer, email=f"{customer}@example.com"
        ),
        shipping_address=ADDRESS,
        lines=[order.OrderLine(line_number=1, sku="CAM-1", quantity=1, unit_price=Decimal("10"))],
        currency="GBP",
        order_total=Decimal("10"),
        fraud_score=1,
    )


def sale(story: Story, order_id: uuid.UUID, parcel: uuid.UUID, location: str) -> None:
    """SN-1 packed, labelled, shipped and taken out of stock for an order."""
    story.add(
        "inventory",
        STOCK,
        inventory.StockSerialPacked(
            sku="CAM-1", serial="SN-1", location=location, shipment_id=parcel, order_id=order_id
        ),
    )
    story.add(
        "warehouse_adapter",
        parcel,
        warehouse.UnitSerialCaptured(
            shipment_id=parcel,
            order_id=order_id,
            line_number=1,
            sku="CAM-1",
            serial="SN-1",
            location=location,
            captured_at=T0,
        ),
    )
    story.add(
        "shipping",
        parcel,
        shipping.LabelPurchased(
            shipment_id=parcel,
            order_id=order_id,
            carrier="ups",
            service="ground",
            mode="ground",
            tracking_number=f"1Z{parcel.hex[:6]}",
            cost=Decimal("7.50"),
            transit_days=3,
            promise_met=True,
            insured_value=Decimal("0"),
            insurance_cost=Decimal("0"),
            signature_required=False,
        ),
    )
    story.add(
        "warehouse_adapter",
        parcel,
        warehouse.ShipmentConfirmed(
            shipment_id=parcel,
            order_id=order_id,
            location=location,
            units=[warehouse.PackedUnit(line_number=1, sku="CAM-1", serial="SN-1")],
            carrier="ups",
            service="ground",
            tracking_number=f"1Z{parcel.hex[:6]}",
            shipped_at=T0 + timedelta(hours=1),
        ),
    )
    story.add(
        "inventory",
        STOCK,
        inventory.StockShipped(
            sku="CAM-1",
            location=location,
            order_id=order_id,
            line_number=1,
            quantity=1,
            serials=["SN-1"],
            shipment_id=parcel,
        ),
    )


def delivered(story: Story, order_id: uuid.UUID, parcel: uuid.UUID) -> None:
    story.add(
        "shipping",
        parcel,
        shipping.ShipmentDelivered(
            shipment_id=parcel,
            order_id=order_id,
            carrier="ups",
            tracking_number=f"1Z{parcel.hex[:6]}",
            carrier_code="D",
            description="Delivered",
            at=T0 + timedelta(days=2),
        ),
    )


def unit_life() -> Story:
    """SN-1: received in batch B1, sold to Ada, returned, graded A, restocked, sold to Bob."""
    story = Story()
    story.add(
        "inventory",
        STOCK,
        inventory.StockReceived(
            sku="CAM-1",
            location="WH-A",
            quantity=2,
            reason="purchase-receipt",
            actor="dock",
            reference="PO-1",
            serials=["SN-1", "SN-2"],
            batch="B1",
        ),
    )
    story.add("order", FIRST_ORDER, placed(FIRST_ORDER, "Ada"))
    sale(story, FIRST_ORDER, FIRST_PARCEL, "WH-A")
    delivered(story, FIRST_ORDER, FIRST_PARCEL)
    rma = {"rma_id": RMA, "order_id": FIRST_ORDER, "line_number": 1, "sku": "CAM-1"}
    story.add("returns", RMA, returns.ReturnRequested(**rma, reason="changed mind"))
    story.add(
        "returns",
        RMA,
        returns.ReturnAuthorised(
            **rma,
            basis="return-window",
            eligibility="within 30 days",
            expected_serials=["SN-1"],
            return_from=ADDRESS,
            return_to="WH-R",
        ),
    )
    story.add(
        "warehouse_adapter",
        RECEIPT,
        warehouse.ReturnReceived(
            rma_id=RMA, location="WH-R", sku="CAM-1", serial="SN-1", received_at=T0
        ),
    )
    story.add(
        "returns",
        RMA,
        returns.ReturnReceiptRecorded(**rma, serial="SN-1", location="WH-R", serial_matches=True),
    )
    story.add(
        "returns",
        RMA,
        returns.ReturnInspected(
            **rma, checklist={"sealed": True}, grade="A", derived_grade="A", inspector="ines"
        ),
    )
    story.add(
        "returns",
        RMA,
        returns.ReturnGraded(
            **rma,
            serial="SN-1",
            checklist={"sealed": True},
            grade="A",
            derived_grade="A",
            inspector="ines",
        ),
    )
    story.add(
        "returns",
        RMA,
        returns.ReturnDispositioned(
            **rma,
            serial="SN-1",
            location="WH-R",
            grade="A",
            condition="quarantined",
            awaiting_signoff=True,
        ),
    )
    story.add(
        "inventory",
        STOCK,
        inventory.StockUnitReturned(
            sku="CAM-1", rma_id=RMA, serial="SN-1", location="WH-R", condition="quarantined"
        ),
    )
    story.add(
        "returns",
        RMA,
        returns.ReturnSignedOff(**rma, serial="SN-1", location="WH-R", technician="tom"),
    )
    story.add(
        "inventory",
        STOCK,
        inventory.StockUnitConditionChanged(
            sku="CAM-1",
            rma_id=RMA,
            serial="SN-1",
            location="WH-R",
            from_condition="quarantined",
            to_condition="new",
            reason="grade A signed off",
            actor="tom",
        ),
    )
    story.add("order", SECOND_ORDER, placed(SECOND_ORDER, "Bob"))
    sale(story, SECOND_ORDER, SECOND_PARCEL, "WH-R")
    return story


def model_of(changes: list[list[Change]]) -> InMemoryReadModels:
    model = read_models.in_memory()
    for event_changes in changes:
        model.apply(event_changes)
    return model


def test_the_read_models_do_not_depend_on_the_order_events_arrive_in() -> None:
    changes = unit_life().changes()
    in_order = model_of(changes).tables
    assert model_of(changes[::-1]).tables == in_order
    shuffled = random.Random(7)
    for _ in range(20):
        arrival = list(changes)
        shuffled.shuffle(arrival)
        assert model_of(arrival).tables == in_order


def test_an_event_that_arrives_again_changes_nothing() -> None:
    changes = unit_life().changes()
    once = model_of(changes).tables
    twice = model_of(changes + changes[::2] + changes[::-3]).tables
    assert twice == once


def test_a_unit_is_held_by_whoever_had_it_last_and_keeps_where_it_came_from() -> None:
    model = model_of(unit_life().changes())
    resold = model.tables["units"][("SN-1", "CAM-1")]
    assert {
        key: resold[key]
        for key in ("batch", "reference", "received_location", "holder_kind", "status", "order_id")
    } == {
        "batch": "B1",
        "reference": "PO-1",
        "received_location": "WH-A",
        "holder_kind": "customer",
        "status": "shipped",
        "order_id": SECOND_ORDER,
    }
    assert resold["location"] == "WH-R"
    assert resold["received_at"] == T0
    on_shelf = model.tables["units"][("SN-2", "CAM-1")]
    assert (on_shelf["holder_kind"], on_shelf["location"], on_shelf["condition"]) == (
        "location",
        "WH-A",
        "new",
    )


def test_a_rebuild_s_batches_are_the_events_messages_as_their_relays_publish_them() -> None:
    """A rebuild takes every batch as messages, whichever the source, and Postgres makes their
    rows (`test_traceability_rebuild.py` compares the tables with the live ones)."""
    events = unit_life().envelopes
    lines = prepare_batch(events).splitlines()
    assert [Envelope.model_validate_json(line) for line in lines] == [e for e, _ in events]


def test_every_projected_event_type_has_its_history_rows_in_sql() -> None:
    """The SQL twins of the projectors: one (or one per case) for every projected event type
    that makes history rows, at the schema version it was written for."""
    in_sql = {rows.event_type for rows in HISTORY_SQL}
    making_history = {
        model.event_type for model in PROJECTED_MODELS if model is not order.OrderPlaced
    }
    assert in_sql == making_history
    assert all(LATEST_VERSION[event_type] == 1 for event_type in in_sql), (
        "a projected event type has a new schema version: derive its rows in SQL for it too"
    )


def test_a_rebuild_finishes_each_table_in_one_of_three_lists() -> None:
    """Each table's keys and indexes are built once, after its rows are written (`units`
    derived from the history first, `orders` and `shipments` from the rows of orders and
    parcels), each key made last in its list; every table gets statistics, but for the columns
    no query looks at, and is handed back to autovacuum."""
    work = finishing_work("copy")
    audit_log, history, units = work
    everything = [statement for statements in work for statement in statements]
    _, after = read_models.bulk_load_ddl("copy")
    built = [
        statement
        for statement in everything
        if "ANALYZE " not in statement and "autovacuum_enabled" not in statement
    ]
    orders_and_parcels = f"copy.{ORDER_AND_PARCEL_AUDIT}"
    derived = [
        orders_from_audit_sql("copy", orders_and_parcels),
        shipments_from_audit_sql("copy", orders_and_parcels),
        f"DROP TABLE {orders_and_parcels}",
    ]
    assert sorted(built) == sorted([*after, *derived, units_from_history_sql("copy")])
    assert audit_log[:3] == derived, "derived before their keys and indexes are built"
    assert units[0] == units_from_history_sql("copy"), "derived before its index is built"
    for statements, table in ((audit_log, "events"), (history, "unit_history")):
        keyed = [s for s in statements if "PRIMARY KEY USING INDEX" in s]
        assert len(keyed) == 1
        assert f"copy.{table} " in keyed[0]
        made = statements.index(keyed[0])
        assert all("autovacuum_enabled" in s for s in statements[made + 1 :]), "key made last"
    for statements, tables in (
        (audit_log, {"events", "orders", "shipments"}),
        (history, {"unit_history"}),
        (units, {"units"}),
    ):
        named = {s.split("copy.")[1].split()[0].split("(")[0] for s in statements if "copy." in s}
        assert named - {ORDER_AND_PARCEL_AUDIT} == tables, "each table's work in one list"
    resets = [statement for statement in everything if "RESET (autovacuum_enabled)" in statement]
    assert len(resets) == len(read_models.tables), "autovacuum takes every table up again"
    analyzed = [statement.partition("ANALYZE ")[2] for statement in everything]
    assert sorted(statement.split()[0] for statement in analyzed if statement) == sorted(
        f"copy.{table.name}" for table in read_models.tables
    )
    assert not any("payload" in statement or "summary" in statement for statement in analyzed)
    # The audit log, read by its key's leading column alone, from a smaller sample.
    (audit_log_statistics,) = [s for s in audit_log if "ANALYZE copy.events " in s]
    assert audit_log_statistics.startswith(
        f"SET LOCAL default_statistics_target = {AUDIT_LOG_STATISTICS}; ANALYZE"
    )


def test_a_unit_history_reads_as_its_story_and_names_its_parcels_and_rma() -> None:
    model = model_of(unit_life().changes()[::-1])
    history = sorted(model.tables["unit_history"].values(), key=lambda row: row["sort_key"])
    own = [row["milestone"] for row in history if row["serial"] == "SN-1"]
    assert own == [
        "received",
        "packed",
        "captured",
        "shipped",
        "out of stock",
        "return authorised",
        "returned",
        "return checked",
        "dispositioned",
        "back in stock",
        "signed off",
        "restocked",
        "packed",
        "captured",
        "shipped",
        "out of stock",
    ]
    # Facts of the parcel and the RMA name no serial: queries join them to the unit.
    shared = [
        (row["milestone"], row["shipment_id"], row["rma_id"])
        for row in history
        if row["serial"] is None
    ]
    assert shared == [
        ("labelled", FIRST_PARCEL, None),
        ("delivered", FIRST_PARCEL, None),
        ("return requested", None, RMA),
        ("inspected", None, RMA),
        ("graded", None, RMA),
        ("labelled", SECOND_PARCEL, None),
    ]
    graded = next(row for row in history if row["milestone"] == "graded")
    assert (graded["grade"], graded["actor"], graded["summary"]) == (
        "A",
        "ines",
        "graded A by ines",
    )


def test_a_parcel_keeps_its_label_shipment_and_delivery_whichever_comes_first() -> None:
    story = Story()
    story.add("order", FIRST_ORDER, placed(FIRST_ORDER, "Ada"))
    sale(story, FIRST_ORDER, FIRST_PARCEL, "WH-A")
    delivered(story, FIRST_ORDER, FIRST_PARCEL)
    parcel = model_of(story.changes()[::-1]).tables["shipments"][(FIRST_PARCEL,)]
    assert {
        key: parcel[key]
        for key in ("order_id", "location", "carrier", "service", "shipped_at", "delivered_at")
    } == {
        "order_id": FIRST_ORDER,
        "location": "WH-A",
        "carrier": "ups",
        "service": "ground",
        "shipped_at": T0 + timedelta(hours=1),
        "delivered_at": T0 + timedelta(days=2),
    }


def test_every_event_is_kept_in_the_audit_log_with_who_did_it_and_why() -> None:
    story = Story()
    story.add(
        "order", FIRST_ORDER, order.OrderHeld(order_id=FIRST_ORDER, reason="score 91", actor="rule")
    )
    story.add(
        "order",
        FIRST_ORDER,
        order.OrderHoldReleased(order_id=FIRST_ORDER, actor="rita", note="called the customer"),
    )
    story.add(
        "returns",
        RMA,
        returns.ReturnInspected(
            rma_id=RMA,
            order_id=FIRST_ORDER,
            line_number=1,
            sku="CAM-1",
            checklist={"sealed": False},
            grade="B",
            derived_grade="C",
            override_reason="seal only scuffed",
            inspector="ines",
        ),
    )
    model = model_of(story.changes())
    events = model.rows("events")
    assert [(e["event_type"], e["actor"], e["reason"]) for e in events] == [
        ("OrderHeld", "rule", "score 91"),
        ("OrderHoldReleased", "rita", "called the customer"),
        ("ReturnInspected", "ines", "seal only scuffed"),
    ]
    assert events[0]["payload"] == {
        "order_id": str(FIRST_ORDER),
        "reason": "score 91",
        "actor": "rule",
    }
    assert model.tables["unit_history"] != {}  # the inspection is an RMA fact too
    assert not any(row["milestone"] == "OrderHeld" for row in model.rows("unit_history"))


def test_the_order_key_sorts_like_time_then_producer_aggregate_and_version() -> None:
    def key(producer: str, aggregate: int, version: int, minutes: float) -> str:
        envelope = Envelope.of(
            order.OrderHeld(order_id=FIRST_ORDER, reason="r", actor="a"),
            producer=producer,
            aggregate_id=uuid.UUID(int=aggregate),
            aggregate_version=version,
            occurred_at=T0 + timedelta(minutes=minutes),
            correlation_id="c",
        )
        return order_key(envelope)

    in_order = [
        key("order", 2, 10, 0),
        key("order", 1, 9, 0.5),
        key("order", 1, 10, 0.5),
        key("order", 2, 1, 0.5),
        key("orders", 1, 1, 0.5),
        key("pim", 1, 1, 0.5),
        key("inventory", 1, 1, 1),
    ]
    assert sorted(in_order) == in_order
    local = Envelope.of(
        order.OrderHeld(order_id=FIRST_ORDER, reason="r", actor="a"),
        producer="order",
        aggregate_id=uuid.UUID(int=1),
        aggregate_version=1,
        occurred_at=(T0 + timedelta(hours=1)).astimezone(datetime.now().astimezone().tzinfo or UTC),
        correlation_id="c",
    )
    assert order_key(local).startswith("2026-11-23T10:00:00.000000Z ")


def test_every_published_contract_has_its_producer_and_the_serial_facts_are_projected() -> None:
    assert {producer_of(model) for model in EVENT_MODELS} <= set(SERVICES)
    assert producer_of(warehouse.ReturnReceived) == "warehouse_adapter"
    assert producer_of(shipping.ReturnLabelPurchased) == "shipping"
    assert set(EVENT_MODELS) >= PROJECTED_MODELS


@pytest.mark.parametrize("keep", ["latest", "earliest"])
def test_a_merge_updates_only_when_its_version_wins_and_an_insert_never_overwrites(
    keep: str,
) -> None:
    merge = Merge(
        "units",
        {"serial": "SN-1", "sku": "CAM-1"},
        {"status": "packed", "payload": None},
        version_column="holder_version",
        version="v2",
        keep="latest" if keep == "latest" else "earliest",
    )
    ((statement, parameters),) = read_models.render([merge])
    assert statement.startswith(f"INSERT INTO {LIVE}.units AS t (serial, sku, status, payload,")
    assert "ON CONFLICT (serial, sku) DO UPDATE SET status = excluded.status" in statement
    newer = ">" if keep == "latest" else "<"
    assert statement.endswith(
        f"WHERE t.holder_version IS NULL OR excluded.holder_version {newer} t.holder_version"
    )
    assert parameters == ("SN-1", "CAM-1", "packed", None, "v2")
    insert = Insert("events", {"producer": "pim", "payload": {"a": 1}})
    orders = Insert("orders", {"order_id": 1})
    rendered = read_models.render([orders, merge, insert], "shadow")
    assert [sql.split(" (")[0] for sql, _ in rendered] == [
        "INSERT INTO shadow.events",
        "INSERT INTO shadow.units AS t",
        "INSERT INTO shadow.orders",
    ], "tables are written in one fixed order"
    assert rendered[0][0].endswith("ON CONFLICT DO NOTHING")
    payload: Any = rendered[0][1][1]
    assert isinstance(payload, Jsonb)


def test_traceability_consumes_every_event_of_every_other_service() -> None:
    application = cast(
        TraceabilityApplication, SimpleNamespace(read_models=read_models, project=None)
    )
    consumer = Consumer(
        service_name="traceability",
        application=application,
        runner=cast(BlockingRunner, object()),
        publish=cast(Any, object()),
        attempts=1,
    )
    handlers.register_handlers(consumer, application)
    consumer.subscribe_read_models()
    assert consumer.topics == sorted(
        events_topic(service).name for service in SERVICES if service != "traceability"
    )
    routes = consumer._event_routes
    assert sum(len(models) for models in routes.values()) == len(EVENT_MODELS)
