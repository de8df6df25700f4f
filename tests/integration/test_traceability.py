"""Traceability for analysts, on the real system: serialized stock in batches, orders taken to
Delivered by the simulated partners, a unit returned and sold again; then a unit's trace, a recall
by batch and by serial range (now and as of a past moment), an order's audit trail, and the read
models rebuilt from the topics and from the event stores, equal row for row to the live ones."""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from contracts.channel import order_id_for
from contracts.envelope import Envelope
from contracts.topics import SERVICES
from infra import cli
from services.runtime.auth import Role
from services.runtime.database import PostgresLocation, ensure_database
from services.traceability.application import (
    ARRIVALS,
    REBUILD,
    RETIRED,
    TraceabilityApplication,
    UnitSelection,
)
from services.traceability.projections import LIVE, TABLE_KEYS
from services.traceability.replay import decode
from tests.integration.harness import (
    Channel,
    ServiceProcess,
    Services,
    Simulators,
    Stack,
    ThreePL,
    Topics,
    channel_order,
    eventually,
    receive_serials,
    register_product,
)
from tests.unit.traceability.test_traceability_projections import unit_life

pytestmark = pytest.mark.integration

ORDERS = int(os.environ.get("UNITRAIL_TRACEABILITY_TEST_ORDERS", "200"))
"""Orders of the acceptance run: 200 across three batches, as recall tracing is specified
(`UNITRAIL_TRACEABILITY_TEST_ORDERS` makes a quicker run while working on it)."""

Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(stack: Stack) -> Snapshot:
    """Every row of every live read-model table, in key order."""
    location = PostgresLocation.from_dsn(stack.postgres_dsn).with_database(
        f"{stack.database_prefix}_traceability"
    )
    tables: Snapshot = {}
    with psycopg.connect(location.dsn()) as connection:
        for table, key in TABLE_KEYS.items():
            query = f"SELECT * FROM {LIVE}.{table} ORDER BY {', '.join(key)}"
            tables[table] = connection.execute(query.encode()).fetchall()
    return tables


class Run:
    """Runs the `unitrail` CLI against the traceability service and returns what it printed."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url = url
        self.capsys = capsys

    def __call__(self, *arguments: str) -> str:
        self.capsys.readouterr()
        assert cli.main(["--traceability-url", self.url, *arguments]) == 0
        return self.capsys.readouterr().out

    def json(self, *arguments: str) -> Any:
        return json.loads(self(*arguments))


def stored_events(stack: Stack) -> int:
    """How many events the services' stores hold but idempotency records (bookkeeping, never
    published): what traceability must end up with."""
    server = PostgresLocation.from_dsn(stack.postgres_dsn)
    total = 0
    for service in SERVICES:
        location = server.with_database(f"{stack.database_prefix}_{service}")
        with psycopg.connect(location.dsn()) as connection:
            tables = connection.execute(
                "SELECT table_name FROM information_schema.columns"
                " WHERE table_schema = 'public' AND column_name = 'notification_id'"
                " AND table_name LIKE '%%\\_events'"
            ).fetchall()
            for (table,) in tables:
                row = connection.execute(
                    f"SELECT count(*) FROM {table} WHERE topic NOT LIKE '%%IdempotencyRecord%%'".encode()
                ).fetchone()
                total += int(row[0]) if row else 0
    return total


def forget_kept_messages(stack: Stack, service: str) -> int:
    """Drop every other message `service`'s store kept beside its events, as if they had been
    stored before messages were kept; returns how many."""
    location = PostgresLocation.from_dsn(stack.postgres_dsn).with_database(
        f"{stack.database_prefix}_{service}"
    )
    with psycopg.connect(location.dsn()) as connection:
        (table,) = connection.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_name LIKE '%%\\_events\\_messages'"
        ).fetchone() or ("",)
        deleted = connection.execute(
            f"DELETE FROM {table} WHERE notification_id % 2 = 0".encode()
        ).rowcount
    return deleted


class Deliveries:
    """`OrderDelivered` events as they appear on `order.events.v1` (each record parsed once)."""

    def __init__(self, topic: Topics) -> None:
        self.reader = topic("order.events.v1")
        self.parsed = 0
        self.orders: set[str] = set()

    def poll(self) -> set[str]:
        records = self.reader.poll()
        for record in records[self.parsed :]:
            envelope = Envelope.model_validate_json(record.value)
            if envelope.event_type == "OrderDelivered":
                self.orders.add(envelope.payload["order_id"])
        self.parsed = len(records)
        return self.orders


def until(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Like `eventually`, but looking twice a second: the checks here read whole topics, and the
    machine has better things to do during a run of hundreds of orders."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.5)


def settled(stack: Stack, traceability: ServiceProcess, timeout: float = 90) -> None:
    """Wait until traceability has projected every event the services stored, and nothing moves."""
    seen: list[int] = []

    def caught_up() -> bool:
        stored = stored_events(stack)
        projected: int = traceability.get("/read-models/counts")["events"]
        seen.append(projected)
        return projected == stored and seen[-3:] == [projected] * 3

    until(caught_up, timeout=timeout, what="traceability to project every event")


def customer(number: int) -> dict[str, str]:
    return {
        "customer_id": f"C-{number:04d}",
        "name": f"Customer {number:04d}",
        "email": f"c{number:04d}@example.com",
    }


def replay(run: Run, source: str) -> None:
    answer = run("replay", "traceability", "--from", source)
    assert answer.startswith("replayed "), answer
    assert f"from {source}" in answer


@pytest.fixture
def deliveries(topic: Topics) -> Deliveries:
    return Deliveries(topic)


def test_recall_trace_audit_and_replay_over_orders_in_three_batches(
    stack: Stack,
    services: Services,
    simulators: Simulators,
    channel: Channel,
    topic: Topics,
    deliveries: Deliveries,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.monotonic()
    pim, inventory, order, returns, _, shipping, traceability = services(*SERVICES)
    run = Run(traceability.url, capsys)
    partners = simulators()
    register_product(pim, shipping, "CAMERA-X", 650, lithium=True)
    register_product(pim, shipping, "LENS-50", 400, lithium=False)

    lens_orders = max(2, ORDERS // 20)
    camera_orders = ORDERS - lens_orders
    per_batch = math.ceil(camera_orders / 2) + 3  # some units stay on the shelves
    batches = {
        "B1": ("CAMERA-X", "WH-A", "PO-100", [f"CX-1{n:04d}" for n in range(per_batch)]),
        "B2": ("CAMERA-X", "WH-B", "PO-200", [f"CX-2{n:04d}" for n in range(per_batch)]),
        "B3": ("LENS-50", "WH-A", "PO-300", [f"LN-3{n:04d}" for n in range(lens_orders)]),
    }
    for batch, (sku, location, reference, serials) in batches.items():
        receive_serials(inventory, sku, location, *serials, batch=batch, reference=reference)
    batch_of = {serial: batch for batch, (*_, serials) in batches.items() for serial in serials}

    orders = {}
    for number in range(ORDERS):
        sku = "LENS-50" if number < lens_orders else "CAMERA-X"
        channel_order_id = f"T{number:04d}"
        orders[str(order_id_for("webshop", channel_order_id))] = number
        channel.send(channel_order(channel_order_id, lines=[(sku, 1)], customer=customer(number)))
    until(
        lambda: deliveries.poll() >= set(orders),
        timeout=300,
        what=f"{ORDERS} orders to be delivered",
    )
    delivered_after = time.monotonic() - started
    settled(stack, traceability)
    projected_after = time.monotonic() - started

    # What the order service says each customer got: the truth the recall must match.
    holders: dict[str, tuple[str, str]] = {}
    for order_id, number in orders.items():
        view = order.get(f"/orders/{order_id}")
        (parcel,) = view["shipments"]
        (serial,) = parcel["serials"]
        holders[serial] = (customer(number)["name"], f"webshop:T{number:04d}")

    # -- a recall by batch names exactly the customers holding its units, and the shelves ------
    for batch, (_, location, _, serials) in batches.items():
        answer = run.json("recall", "--batch", batch, "--format", "json")
        got = {
            unit["serial"]: (unit["holder"], f"{unit['channel']}:{unit['channel_order_id']}")
            for unit in answer["units"]
            if unit["holder_kind"] == "customer"
        }
        assert got == {serial: holders[serial] for serial in serials if serial in holders}
        on_shelf = {
            (unit["serial"], unit["location"], unit["condition"])
            for unit in answer["units"]
            if unit["holder_kind"] == "location"
        }
        assert on_shelf == {(s, location, "new") for s in serials if s not in holders}
        assert all(unit["batch"] == batch for unit in answer["units"])
        assert all(unit["delivered_at"] for unit in answer["units"] if unit["serial"] in holders)
    table = run("recall", "--batch", "B3")
    assert table.splitlines()[0].split() == [
        "serial", "sku", "batch", "status", "holder", "order", "location", "condition",
        "tracking", "delivered",
    ]  # fmt: skip
    csv_b1 = run("recall", "--batch", "B1", "--format", "csv")
    assert run("recall", "--batch", "B1", "--format", "csv") == csv_b1, "same question, same answer"
    assert len(csv_b1.splitlines()) == per_batch + 1

    # A serial range, bytewise: the first units of B2 (and nothing of B1 or B3).
    first_ones = [f"CX-2{n:04d}" for n in range(min(per_batch, 10))]
    in_range = run.json(
        "recall", "--serial-range", f"CX-20000..{first_ones[-1]}", "--sku", "CAMERA-X",
        "--format", "json",
    )  # fmt: skip
    assert [unit["serial"] for unit in in_range["units"]] == first_ones

    # -- a unit's trace: received → packed → shipped → delivered, with its customer ------------
    sold = sorted(serial for serial in holders if batch_of[serial] == "B1")[0]
    trace = run.json("trace", "serial", sold, "--json")
    (unit,) = trace["units"]
    history = unit["history"]
    milestones = [row["milestone"] for row in history]
    firsts = [milestones.index(m) for m in ("received", "packed", "shipped", "delivered")]
    assert firsts == sorted(firsts), milestones
    received = history[0]
    assert (received["batch"], received["reference"], received["location"]) == (
        "B1",
        "PO-100",
        "WH-A",
    )
    packed = history[milestones.index("packed")]
    assert packed["customer_name"] == holders[sold][0]
    shipped = history[milestones.index("shipped")]
    assert shipped["carrier"]
    assert shipped["tracking_number"] == unit["tracking_number"]
    text = run("trace", "serial", sold)
    assert f"holder    {holders[sold][0]}" in text
    assert text == run("trace", "serial", sold)

    # -- an order's audit trail ---------------------------------------------------------------
    first_order = next(order_id for order_id, number in orders.items() if number == 0)
    audit = run.json("audit", "webshop:T0000", "--json")
    types = [event["event_type"] for event in audit["events"]]
    assert types[0] == "OrderPlaced"
    assert types[-1] == "OrderDelivered"
    assert audit["state"]["order"]["last_event"] == "OrderDelivered"
    assert audit["aggregate_id"] == first_order
    placed_at = audit["events"][0]["occurred_at"]
    early = run.json("audit", first_order, "--as-of", placed_at, "--json")
    assert [event["event_type"] for event in early["events"]] == ["OrderPlaced"]
    assert "OrderPlaced" in run("audit", first_order)

    # -- rebuilt from the event stores and from the topics: equal to the live read models ------
    moment = datetime.now(UTC).isoformat()
    before_b3 = run("recall", "--batch", "B3", "--format", "csv")
    live = snapshot(stack)
    assert live["units"]
    assert live["unit_history"]
    assert live["events"]
    replay(run, "stores")
    assert snapshot(stack) == live
    replay(run, "topics")
    assert snapshot(stack) == live
    assert run("recall", "--batch", "B1", "--format", "csv") == csv_b1
    replayed_after = time.monotonic() - started

    # -- a unit comes back, is graded A, signed off, and sold to a second customer ------------
    # Through the returns service: the simulated customer sends the unit back with the return
    # label and the simulated dock scans it; an inspector and a technician act over HTTP.
    returned = f"LN-3{0:04d}"
    first_sale = next(o for o, n in orders.items() if f"webshop:T{n:04d}" == holders[returned][1])
    rma = returns.post(
        "/rmas", {"order_id": first_sale, "line_number": 1, "reason": "does not fit my camera"}
    )
    assert (rma["status"], rma["expected_serials"]) == ("authorised", [returned])
    rma_path = f"/rmas/{rma['rma_id']}"
    eventually(lambda: returns.get(rma_path)["receipt"], timeout=60, what="the dock receipt")
    checklist = dict.fromkeys(returns.get(rma_path)["inspection_checks"], True)
    ines = returns.stack.token(Role.WAREHOUSE, "ines")
    returns.post(f"{rma_path}/inspection", {"checklist": checklist}, token=ines)
    returns.post(f"{rma_path}/sign-off", {}, token=returns.stack.token(Role.WAREHOUSE, "tom"))

    def sellable_again() -> bool:
        levels = inventory.get("/stock/LENS-50")["locations"]
        return any(level["available"] == 1 for level in levels)

    eventually(sellable_again, what="the signed-off unit to be sellable again")
    # The resale is packed by hand: the simulated 3PL knows the unit only as shipped.
    partners.stop()
    simulators(UNITRAIL_SIMULATED_3PL_LOCATIONS="WH-B", UNITRAIL_SIMULATED_RETURNS_ENABLED="false")

    second_buyer = customer(9999)
    channel.send(channel_order("RESALE", lines=[("LENS-50", 1)], customer=second_buyer))
    resale = str(order_id_for("webshop", "RESALE"))
    threepl = ThreePL(channel, topic)
    request = eventually(
        lambda: next(
            (
                event["payload"]
                for event in threepl.events.events("FulfilmentRequested")
                if event["payload"]["order_id"] == resale
            ),
            None,
        ),
        what="the resale to reach the returns warehouse",
    )
    assert request["location"] == "WH-A"
    threepl.send("picked", request["shipment_id"])
    threepl.pack(request["shipment_id"], (1, "LENS-50", returned))
    (verdict,) = threepl.answer(request["shipment_id"])
    assert verdict["event_type"] == "FulfilmentPacked"
    threepl.ship(request["shipment_id"])
    until(lambda: resale in deliveries.poll(), timeout=60, what="the resale delivered")
    settled(stack, traceability)

    trace = run.json("trace", "serial", returned, "--json")
    (unit,) = trace["units"]
    assert (unit["holder"], unit["channel_order_id"]) == (second_buyer["name"], "RESALE")
    story = [row["milestone"] for row in unit["history"]]
    chapters = [
        "received",
        "packed",
        "shipped",
        "delivered",
        "return authorised",
        "returned",
        "graded",
        "back in stock",
        "restocked",
    ]
    positions = [story.index(chapter) for chapter in chapters]
    assert positions == sorted(positions), story
    resold = [i for i, row in enumerate(unit["history"]) if row["milestone"] == "packed"]
    assert len(resold) == 2, story
    assert resold[1] > positions[-1], story
    assert unit["history"][resold[1]]["customer_name"] == second_buyer["name"]
    assert story[-1] == "delivered"
    text = run("trace", "serial", returned)
    assert "graded A by ines (warehouse)" in text
    assert f"[order webshop:RESALE, {second_buyer['name']}]" in text

    b3 = run.json("recall", "--batch", "B3", "--format", "json")
    (now,) = [u for u in b3["units"] if u["serial"] == returned]
    assert (now["holder"], now["channel_order_id"]) == (second_buyer["name"], "RESALE")
    # As of the moment before the return, the recall is what it was then.
    assert run("recall", "--batch", "B3", "--format", "csv", "--as-of", moment) == before_b3
    # And as of now, the history answers what the units table answers.
    now_csv = run("recall", "--batch", "B3", "--format", "csv")
    as_of_now = datetime.now(UTC).isoformat()
    assert run("recall", "--batch", "B3", "--format", "csv", "--as-of", as_of_now) == now_csv

    live = snapshot(stack)
    # Events stored before messages were kept beside them have none: those are read and decoded,
    # the others copied as kept.
    assert forget_kept_messages(stack, "inventory") > 0
    replay(run, "stores")
    assert snapshot(stack) == live
    replay(run, "topics")
    assert snapshot(stack) == live
    print(  # the timings, in the test log
        f"{ORDERS} orders delivered after {delivered_after:.0f}s, projected after "
        f"{projected_after:.0f}s, replayed after {replayed_after:.0f}s, whole test "
        f"{time.monotonic() - started:.0f}s"
    )


@pytest.mark.parametrize("sources_held_everything", [True, False], ids=["stores", "topics"])
def test_a_rebuild_takes_in_what_the_live_models_consumed_meanwhile_and_queries_go_on(
    postgres_dsn: str, sources_held_everything: bool
) -> None:
    """The swap at the end of a replay: events consumed live while the copy was being built are
    projected into it, and the copy ends up equal to read models that saw everything live.

    From the stores the replay read everything the live models had when it began (an event is
    stored before any consumer sees it): only what the live audit log took in since is looked
    for. From the topics it may have read less (a broker refilled from the stores): the whole
    audit log is compared."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    server = PostgresLocation.from_dsn(postgres_dsn)
    databases = [server.with_database(f"{prefix}_{name}") for name in ("live", "reference")]
    for location in databases:
        asyncio.run(ensure_database(location))
    live, reference = (TraceabilityApplication(location) for location in databases)
    events = list(_story())
    try:
        for envelope, event in events:
            reference.project(event, envelope)
        for envelope, event in events[:10]:
            live.project(event, envelope)
        selection = UnitSelection(batch="B1")
        before = live.units(selection)

        live.begin_rebuild()
        # The replay read up to where it was sized up: a little ahead of live, and from the
        # topics possibly a little behind.
        behind = 0 if sources_held_everything else 2
        live.rebuild_batch(events[: 10 - behind] + events[12:14])
        assert live.units(selection) == before, "the live read models answer meanwhile"
        for envelope, event in events[10:]:
            live.project(event, envelope)  # consumed live meanwhile
        live.project(events[10][1], events[10][0])  # and again: no second arrival
        assert live.trace("SN-1")[0]["history"], "the live read models answer meanwhile"
        arrived = live._query(f"SELECT aggregate_id, aggregate_version FROM {ARRIVALS}.events", {})
        assert sorted((row["aggregate_id"], row["aggregate_version"]) for row in arrived) == sorted(
            (envelope.aggregate_id, envelope.aggregate_version) for envelope, _ in events[10:]
        )
        merged = live.finish_rebuild(arrivals_only=sources_held_everything)
        assert merged == len(events) - 12 + behind
        assert RETIRED in _schemas(live), "the old tables are dropped apart from the swap"
        live.retire_rebuild()
        assert _rows(live) == _rows(reference)
        assert live.units(selection) == reference.units(selection)
        assert live.trace("SN-1") == reference.trace("SN-1")
        schemas = _schemas(live)
        assert LIVE in schemas
        assert not {REBUILD, RETIRED, ARRIVALS} & schemas
        live.begin_rebuild()  # the lock was let go
        live.abandon_rebuild()
        assert ARRIVALS not in _schemas(live), "an abandoned rebuild stops noting arrivals"
        live.project(events[0][1], events[0][0])
    finally:
        live.close()
        reference.close()


def test_what_a_killed_rebuild_left_is_dropped_when_no_rebuild_runs(postgres_dsn: str) -> None:
    """A rebuild whose process died leaves its copy and the trigger noting every event the live
    audit log takes in: the service drops them when it starts, unless a rebuild runs."""
    location = PostgresLocation.from_dsn(postgres_dsn).with_database(
        f"t{uuid.uuid4().hex[:10]}_live"
    )
    asyncio.run(ensure_database(location))
    killed, running, started = (TraceabilityApplication(location) for _ in range(3))
    events = list(_story())
    try:
        killed.begin_rebuild()
        killed._release_rebuild_lock()  # its sessions end, as with a killed process
        running.begin_rebuild()
        started.drop_rebuild_leftovers()
        assert {ARRIVALS, REBUILD} <= _schemas(started), "another process's rebuild is its own"
        running.abandon_rebuild()
        killed.begin_rebuild()
        killed._release_rebuild_lock()
        started.drop_rebuild_leftovers()
        assert not {ARRIVALS, REBUILD} & _schemas(started)
        started.project(events[0][1], events[0][0])
        assert started._query(f"SELECT count(*) AS n FROM {LIVE}.events", {})[0]["n"] == 1
    finally:
        for application in (killed, running, started):
            application.close()


def _schemas(application: TraceabilityApplication) -> set[str]:
    return {row["nspname"] for row in application._query("SELECT nspname FROM pg_namespace", {})}


def _rows(application: TraceabilityApplication) -> Snapshot:
    return {
        table: [
            tuple(row.values())
            for row in application._query(
                f"SELECT * FROM {LIVE}.{table} ORDER BY {', '.join(key)}", {}
            )
        ]
        for table, key in TABLE_KEYS.items()
    }


def _story() -> Iterator[tuple[Envelope, Any]]:
    """A unit's life (received, sold, returned, restocked, sold again) as published bytes,
    decoded as a replay decodes them."""
    for envelope, _ in unit_life().envelopes:
        decoded = decode(envelope.model_dump_json().encode())
        assert decoded is not None
        yield decoded
