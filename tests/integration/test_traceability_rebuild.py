"""Traceability's rebuild writes in bulk (copied rows, folded merges): on a real Postgres, the
rebuilt tables equal the ones the live path writes event by event, whatever the batches."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta, timezone
from decimal import Decimal
from typing import Any, cast

import psycopg
import pytest

from contracts import inventory, order, returns, shipping, warehouse
from services.runtime.database import PostgresLocation, ensure_database
from services.runtime.replay import EventStore
from services.runtime.replay.declared import declaration_digest
from services.runtime.replay.progress import ReplayProgress
from services.runtime.replay.sources import BOOKKEEPING_TOPICS
from services.runtime.replay.workers import copy_kept_ranges
from services.traceability.application import Projected, TraceabilityApplication, prepare_batch
from services.traceability.projections import LIVE, PROJECTED_MODELS, TABLE_KEYS, read_models
from tests.unit.traceability.test_traceability_projections import (
    ADDRESS,
    STOCK,
    T0,
    Story,
    placed,
    unit_life,
)

pytestmark = pytest.mark.integration

Snapshot = dict[str, list[tuple[object, ...]]]


@pytest.fixture
async def traceability(postgres_dsn: str) -> AsyncIterator[TraceabilityApplication]:
    location = PostgresLocation.from_dsn(postgres_dsn).with_database(f"t{uuid.uuid4().hex[:10]}")
    await ensure_database(location)
    application = TraceabilityApplication(location)
    yield application
    application.close()


def snapshot(application: TraceabilityApplication) -> Snapshot:
    with psycopg.connect(application.location.dsn()) as connection:
        return {
            table: connection.execute(
                f"SELECT * FROM {LIVE}.{table} ORDER BY {', '.join(key)}".encode()
            ).fetchall()
            for table, key in TABLE_KEYS.items()
        }


def rebuild(application: TraceabilityApplication, batches: list[list[Projected]]) -> int:
    application.begin_rebuild()
    for batch in batches:
        application.rebuild_batch(batch)
    merged = application.finish_rebuild()
    application.retire_rebuild()
    return merged


def assert_rebuilt_as_projected(
    traceability: TraceabilityApplication, events: list[Projected]
) -> None:
    """The events projected live, then rebuilt in one batch: every table equal."""
    for envelope, event in events:
        traceability.project(event, envelope)
    live = snapshot(traceability)
    assert rebuild(traceability, [events]) == 0
    rebuilt = snapshot(traceability)
    for table in TABLE_KEYS:
        assert rebuilt[table] == live[table], table


def test_a_rebuild_in_bulk_equals_the_live_read_models_whatever_the_batches(
    traceability: TraceabilityApplication,
) -> None:
    """Also the one table a rebuild derives set-wise in SQL (`units`, from the history rows):
    it must equal what the live merges leave, or this fails."""
    story = unit_life()
    # A unit received again later, elsewhere: its origin stays the first receipt, its holder
    # moves; two units in one event: positions order their history rows.
    story.add(
        "inventory",
        STOCK,
        inventory.StockReceived(
            sku="CAM-1",
            location="WH-B",
            quantity=2,
            reason="found in count",
            actor="auditor",
            serials=["SN-2", "SN-3"],
            batch="B2",
        ),
    )
    events: list[Projected] = story.envelopes
    for envelope, event in events:
        traceability.project(event, envelope)
    live = snapshot(traceability)
    assert all(live.values()), "every table has rows"

    assert rebuild(traceability, [events]) == 0, "one batch: merges folded across the story"
    assert snapshot(traceability) == live
    assert rebuild(traceability, [[event] for event in events]) == 0
    assert snapshot(traceability) == live
    shuffled = list(events)
    random.Random(11).shuffle(shuffled)
    batches = [shuffled[start : start + 4] for start in range(0, len(shuffled), 4)]
    assert rebuild(traceability, batches) == 0, "in any order"
    assert snapshot(traceability) == live
    # What the copy lacks is taken in from the live audit log at the swap.
    assert rebuild(traceability, [shuffled[5:]]) == 5
    assert snapshot(traceability) == live


def every_case() -> Story:
    """Every projected event type, each case of those that have cases (a serial or none, lists
    empty or not, optional fields missing), in one story beside `unit_life`'s."""
    story = unit_life()
    parcel, bare_parcel, rma = (uuid.uuid5(uuid.NAMESPACE_OID, name) for name in "pbr")
    customer_order = uuid.uuid5(uuid.NAMESPACE_OID, "order 3")
    story.add(
        "inventory",
        STOCK,
        inventory.StockReceived(
            sku="CAM-1",
            location="WH-C",
            quantity=12,
            reason="count's correction",
            actor="o'brien",
            reference="",
            serials=[f"SN-{number}" for number in range(10, 22)],
        ),
    )
    story.add("order", customer_order, placed(customer_order, "Zoë"))
    story.add(
        "order",
        customer_order,
        order.OrderPlaced(
            **placed(customer_order, "Zoë").model_dump(exclude={"shipping_address"}),
            shipping_address=ADDRESS.model_copy(update={"line2": "Flat 2", "region": "Greater"}),
        ),
    )
    shipped = {"shipment_id": parcel, "order_id": customer_order}
    story.add(
        "warehouse_adapter",
        parcel,
        warehouse.ShipmentConfirmed(
            **shipped,
            location="WH-C",
            units=[
                warehouse.PackedUnit(line_number=1, sku="CABLE", serial=None),
                warehouse.PackedUnit(line_number=2, sku="CAM-1", serial="SN-10"),
                warehouse.PackedUnit(line_number=2, sku="CAM-1", serial="SN-11"),
            ],
            carrier="dhl",
            service="express",
            tracking_number="JD1",
            shipped_at=T0 + timedelta(hours=3),
        ),
    )
    story.add(
        "warehouse_adapter",
        bare_parcel,
        warehouse.ShipmentConfirmed(
            shipment_id=bare_parcel,
            order_id=customer_order,
            location="WH-C",
            units=[warehouse.PackedUnit(line_number=1, sku="CABLE", serial=None)],
            carrier="dhl",
            service="express",
            tracking_number="JD2",
            shipped_at=T0 + timedelta(hours=4),
        ),
    )
    scan = {**shipped, "carrier": "dhl", "tracking_number": "JD1", "at": T0 + timedelta(hours=5)}
    story.add(
        "shipping",
        parcel,
        shipping.ShipmentInTransit(**scan, carrier_code="PU", description="Picked up"),
    )
    story.add(
        "shipping",
        parcel,
        shipping.ShipmentException(**scan, carrier_code="X1", description="Address 'unknown'"),
    )
    story.add(
        "shipping",
        parcel,
        shipping.ShipmentDelivered(**scan, carrier_code="D", description="Delivered"),
    )
    story.add(
        "shipping",
        parcel,
        shipping.ShipmentDelivered(
            **(scan | {"at": T0 + timedelta(days=3)}), carrier_code="D", description="Again"
        ),
    )
    line = {"rma_id": rma, "order_id": customer_order, "line_number": 2, "sku": "CAM-1"}
    story.add("returns", rma, returns.ReturnRequested(**line, reason="broken"))
    story.add("returns", rma, returns.ReturnRejected(**line, reason="outside the window"))
    story.add(
        "returns",
        rma,
        returns.ReviewResolved(**line, decision="refund", reviewer="rita", note="goodwill"),
    )
    for serials in ([], ["SN-10", "SN-11"]):
        story.add(
            "returns",
            rma,
            returns.ReturnAuthorised(
                **line,
                basis="warranty",
                eligibility="within 2 years",
                expected_serials=serials,
                return_from=ADDRESS,
                return_to="WH-R",
            ),
        )
    story.add(
        "shipping",
        rma,
        shipping.ReturnLabelPurchased(
            rma_id=rma,
            order_id=customer_order,
            return_to="WH-R",
            carrier="ups",
            service="return",
            tracking_number="1ZR",
            cost=Decimal("4.10"),
        ),
    )
    for serial in (None, "SN-11"):
        story.add(
            "warehouse_adapter",
            rma,
            warehouse.ReturnReceived(
                rma_id=rma, location="WH-R", sku="CAM-1", serial=serial, received_at=T0
            ),
        )
        story.add(
            "returns",
            rma,
            returns.ReturnReceiptRecorded(
                **line, serial=serial, location="WH-R", serial_matches=False
            ),
        )
        story.add(
            "returns",
            rma,
            returns.ReturnDispositioned(
                **line,
                serial=serial,
                location="WH-R",
                grade="C",
                condition="open-box",
                awaiting_signoff=False,
            ),
        )
        story.add(
            "returns",
            rma,
            returns.ReturnSignedOff(**line, serial=serial, location="WH-R", technician="tom"),
        )
        story.add(
            "inventory",
            STOCK,
            inventory.StockUnitReturned(
                sku="CAM-1", rma_id=rma, serial=serial, location="WH-R", condition="open-box"
            ),
        )
        story.add(
            "inventory",
            STOCK,
            inventory.StockUnitConditionChanged(
                sku="CAM-1",
                rma_id=rma,
                serial=serial,
                location="WH-R",
                from_condition="open-box",
                to_condition="damaged",
                reason="dropped",
                actor="dock",
            ),
        )
    checklist = {"sealed": False, "boots": True, "Case": False, "cable": False}
    story.add(
        "returns",
        rma,
        returns.ReturnInspected(
            **line, checklist=checklist, grade="C", derived_grade="C", inspector="ines"
        ),
    )
    story.add(
        "returns",
        rma,
        returns.ReturnGraded(
            **line,
            serial="SN-11",
            checklist=checklist,
            grade="B",
            derived_grade="C",
            override_reason="cosmetic only",
            inspector="ines",
        ),
    )
    story.add("returns", rma, returns.RefundBlocked(**line, reason="no receipt yet"))
    story.add(
        "returns",
        rma,
        returns.RefundIssued(**line, channel="webshop", amount=Decimal("1199.50"), currency="GBP"),
    )
    return story


def test_a_rebuild_derives_in_sql_what_the_live_projectors_make_of_every_event_type(
    traceability: TraceabilityApplication,
) -> None:
    """A rebuild writes the audit log and derives every other table from it in SQL: for every
    projected event type and each of its cases, the tables equal the live projection's."""
    events: list[Projected] = every_case().envelopes
    assert {type(event) for _, event in events} >= PROJECTED_MODELS, "every type in the story"
    assert_rebuilt_as_projected(traceability, events)


def test_a_rebuild_keys_every_form_of_a_moment_as_the_live_projection_does(
    traceability: TraceabilityApplication,
) -> None:
    """A relay writes a moment with its microseconds (`...:03.123456Z`), which the rebuild takes
    into its sort keys as it is; without them (`...:03Z`), or with another offset, it is
    formatted: the keys equal the live projection's either way."""
    moments = [
        timedelta(microseconds=123_456),
        timedelta(seconds=3),
        timedelta(seconds=4, microseconds=1),
        timedelta(seconds=5, microseconds=999_999),
    ]
    events: list[Projected] = []
    for index, (envelope, event) in enumerate(unit_life().envelopes):
        moment = envelope.occurred_at + moments[index % len(moments)]
        if index % 5 == 4:
            moment = moment.astimezone(timezone(timedelta(hours=-5)))
        events.append((envelope.model_copy(update={"occurred_at": moment}), event))
    written = {
        message.split(b'"occurred_at":"')[1][:27] for message in prepare_batch(events).split(b"\n")
    }
    assert any(moment.endswith(b"Z") and len(moment) == 27 for moment in written)
    assert any(not moment.endswith(b"Z") for moment in written), "a form formatted again"
    assert_rebuilt_as_projected(traceability, events)


def test_events_without_a_kept_message_are_found_whether_or_not_the_counts_match(
    traceability: TraceabilityApplication,
) -> None:
    """`EventStore.unkept`, which decides whether a replay reads a store's events besides copying
    its kept messages: a range with as many messages as events has none without one; where the
    counts differ, each event is looked for, bookkeeping (never published) left out."""
    location = traceability.location

    def execute(*statements: tuple[str, tuple[Any, ...]]) -> None:
        with psycopg.connect(location.dsn(), autocommit=True) as connection:
            for statement, parameters in statements:
                connection.execute(statement.encode(), parameters)

    execute(
        ("CREATE TABLE stored (notification_id bigint PRIMARY KEY, topic text NOT NULL)", ()),
        (
            "CREATE TABLE stored_messages (notification_id bigint PRIMARY KEY,"
            " message_value bytea NOT NULL)",
            (),
        ),
        (
            "INSERT INTO stored SELECT n, 'contracts.order:OrderPlaced' FROM generate_series(1, 10) n",
            (),
        ),
        ("INSERT INTO stored_messages SELECT n, '{}' FROM generate_series(1, 10) n", ()),
    )
    store = EventStore("producers", location, "stored", cast(Any, None), messages="stored_messages")
    try:
        store.size_up()
        assert store.unkept() == 0
        execute(
            # stored before messages were kept
            ("DELETE FROM stored_messages WHERE notification_id IN (3, 7)", ()),
            ("INSERT INTO stored VALUES (11, %s)", (BOOKKEEPING_TOPICS[0] + "Created",)),
        )
        store.size_up()
        assert store.unkept() == 2
        store.position = 6
        assert store.unkept() == 1
        store.position = 7  # as many events as messages after it, but for the bookkeeping
        assert store.unkept() == 0
    finally:
        store.close()


def test_a_rebuild_from_kept_messages_equals_the_live_read_models(
    traceability: TraceabilityApplication,
) -> None:
    """The messages producers keep beside their events, copied block by block from their
    database (`copy_kept_ranges`), and the rows Postgres makes of them, equal what the live
    projection makes of every event type."""
    events: list[Projected] = every_case().envelopes
    for envelope, event in events:
        traceability.project(event, envelope)
    live = snapshot(traceability)
    location = traceability.location
    with psycopg.connect(location.dsn(), autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE kept_messages (notification_id bigint PRIMARY KEY,"
            " message_value bytea NOT NULL)"
        )
        for number, (envelope, _) in enumerate(events, start=1):
            connection.execute(
                "INSERT INTO kept_messages VALUES (%s, %s)",
                (number, envelope.model_dump_json().encode()),
            )
    store = EventStore("producers", location, "stored", cast(Any, None), messages="kept_messages")
    traceability.begin_rebuild()
    half = len(events) // 2
    ranges = [("producers", 0, half), ("producers", half, len(events))]
    progress = ReplayProgress(replay_id="kept", source="stores")
    copied = asyncio.run(
        copy_kept_ranges({"producers": store}, ranges, traceability.write_rebuilt, 2, progress)
    )
    store.close()
    assert copied == len(events)
    assert traceability.finish_rebuild() == 0
    traceability.retire_rebuild()
    rebuilt = snapshot(traceability)
    for table in TABLE_KEYS:
        assert rebuilt[table] == live[table], table
    # The swap recorded the declaration its tables were built from: a start finds them current.
    with psycopg.connect(location.dsn()) as connection:
        recorded = connection.execute("SELECT digest FROM read_models_declared").fetchone()
    assert recorded == (declaration_digest(read_models),)
