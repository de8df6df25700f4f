"""The relay's fast envelope reads back as exactly the envelope model would be, and partitions are
the producer's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from aiokafka.partitioner import DefaultPartitioner
from pydantic import TypeAdapter

from contracts.envelope import Envelope, event_id_for
from contracts.topics import INVENTORY_MOVEMENTS
from services.inventory import translators
from services.inventory.application import InventoryApplication
from services.inventory.domain import Receipt, SalesChannels
from services.order import translators as order_translators
from services.order.domain.order import Order
from services.runtime.idempotency import IdempotencyRecord, is_bookkeeping_class
from services.runtime.relay import envelope_for, translates
from services.runtime.relay_messages import (
    KeyPartitioner,
    event_id_text,
    from_outbox,
    json_datetime,
    message_for,
    outbox_writer,
)
from services.runtime.replay.sources import stored_envelope
from services.warehouse_adapter import translators as warehouse_translators
from services.warehouse_adapter.application import WarehouseAdapterApplication
from services.warehouse_adapter.domain import CycleCount, Damage


@pytest.fixture
def stored_events() -> list[object]:
    """Stock events as the store gives them back, with a name that JSON must escape."""
    inventory = InventoryApplication(None, SalesChannels(buffers=()))
    receipt = Receipt(
        location="WH-A",
        quantity=2,
        reason='initial-count "ünïcode" \\ and a tab\t',
        actor="test",
        unit_cost=Decimal("5.10"),
        currency="USD",
    )
    stock_id = inventory.receive_stock("FAST-1", receipt)
    inventory.receive_stock("FAST-1", receipt)
    return list(inventory.repository.event_store.get(stock_id))


def test_the_fast_envelope_reads_back_equal_to_the_model_and_byte_for_byte(
    stored_events: list[object],
) -> None:
    for domain_event in stored_events:
        payload = translators.to_contract(domain_event)
        message = message_for("inventory", domain_event, payload)
        expected = envelope_for("inventory", domain_event, payload)
        assert Envelope.model_validate_json(message.value) == expected
        assert message.value == expected.model_dump_json().encode()
        assert message.key == str(expected.aggregate_id).encode()
        assert dict(message.headers) == {
            "event_type": expected.event_type.encode(),
            "aggregate_type": expected.aggregate_type.encode(),
            "aggregate_id": str(expected.aggregate_id).encode(),
            "aggregate_version": str(expected.aggregate_version).encode(),
            "correlation_id": expected.correlation_id.encode(),
        }


def test_a_replay_s_envelope_of_a_stored_event_equals_the_relay_s_field_for_field(
    stored_events: list[object],
) -> None:
    for domain_event in stored_events:
        payload = translators.to_contract(domain_event)
        expected = envelope_for("inventory", domain_event, payload)
        built = stored_envelope("inventory", domain_event, payload)
        assert built == expected
        assert built.model_fields_set == expected.model_fields_set
        assert built.model_dump_json() == expected.model_dump_json()
        assert {name: type(value) for name, value in vars(built).items()} == {
            name: type(value) for name, value in vars(expected).items()
        }
        assert str(built.event_id) == str(expected.event_id)


def test_a_feed_message_names_the_feed_in_its_event_id(stored_events: list[object]) -> None:
    feed = INVENTORY_MOVEMENTS.name
    for domain_event in stored_events:
        payload = translators.to_movement(domain_event)
        assert payload is not None
        message = message_for("inventory", domain_event, payload, feed=feed)
        assert Envelope.model_validate_json(message.value) == envelope_for(
            "inventory", domain_event, payload, feed
        )


@pytest.mark.parametrize("feed", [None, "inventory.movements.v1"])
def test_event_ids_as_text_are_the_contracts_event_ids(feed: str | None) -> None:
    variants = set()
    for number in range(300):  # every digit the digest can have where the variant goes
        aggregate_id = uuid.uuid5(uuid.NAMESPACE_OID, str(number))
        version = number % 7 + (1000 if number % 2 else 1)
        expected = str(event_id_for(aggregate_id, version, feed))
        assert event_id_text(str(aggregate_id), version, feed) == expected
        variants.add(expected[19])
    assert variants == set("89ab")


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 2, 15, 53, 28, 789359, tzinfo=UTC),
        datetime(2026, 12, 2, 15, 53, 28, tzinfo=UTC),
        datetime(2026, 12, 2, 15, 53, 28, 5, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_datetimes_are_written_as_pydantic_writes_them(moment: datetime) -> None:
    assert json_datetime(moment) == TypeAdapter(datetime).dump_json(moment)


def test_keys_go_to_the_partition_the_producer_would_choose() -> None:
    partitioner = KeyPartitioner()
    partitions = list(range(6))
    for _ in range(200):
        key = str(uuid.uuid4()).encode()
        expected = DefaultPartitioner()(key, partitions, partitions)
        assert partitioner(key, partitions) == expected
        assert partitioner(key, partitions) == expected  # remembered
        assert partitioner(key, partitions, partitions[:1]) == expected  # as a producer's
    assert {partitioner(None, partitions, [4]) for _ in range(20)} == {4}  # no key: any available


def test_a_feed_skips_before_decoding_only_what_its_translator_has_no_function_for() -> None:
    assert translates(order_translators.to_feedback, Order.Placed)
    assert translates(order_translators.to_feedback, Order.AmendmentRefused)
    assert not translates(order_translators.to_feedback, Order.Paid)
    assert not translates(order_translators.to_feedback, Order.Delivered)
    assert translates(lambda event: None, Order.Paid), "a plain function may publish anything"
    assert is_bookkeeping_class(IdempotencyRecord.Recorded)
    assert not is_bookkeeping_class(Order.Paid)


def test_a_message_carries_its_place_in_the_store_when_given(stored_events: list[object]) -> None:
    domain_event = stored_events[0]
    payload = translators.to_contract(domain_event)
    message = message_for("inventory", domain_event, payload, position=7)
    assert dict(message.headers)["notification_id"] == b"7"
    assert "notification_id" not in dict(message_for("inventory", domain_event, payload).headers)


def test_a_message_kept_beside_its_event_reads_back_as_the_relay_makes_it(
    stored_events: list[object],
) -> None:
    keep = outbox_writer("inventory", translators.to_contract)
    for position, domain_event in enumerate(stored_events, start=3):
        kept = keep(domain_event)
        assert kept is not None
        made = message_for(
            "inventory", domain_event, translators.to_contract(domain_event), position=position
        )
        assert from_outbox(kept.key, kept.value, kept.headers, position) == made


def test_nothing_is_kept_for_bookkeeping_that_is_never_published() -> None:
    record = IdempotencyRecord._create(
        IdempotencyRecord.Recorded,
        id=uuid.uuid4(),
        command="receive",
        key="a-key",
        fingerprint="f",
        result={},
    )
    record.answered(200, "application/json", b"{}")
    keep = outbox_writer("inventory", translators.to_contract)
    assert [keep(event) for event in record.collect_events()] == [None, None]


def test_one_shelf_s_reports_share_a_key_so_they_reach_inventory_in_the_order_reported() -> None:
    # A damage then a count of the same shelf: two reports, two aggregates. Keyed by aggregate,
    # they could take two partitions and the count be booked before the damage it counted after.
    warehouse = WarehouseAdapterApplication(None)
    at = datetime.now(UTC)
    damage = Damage(quantity=1, serials=("C-4",), note="cracked lens")
    count = CycleCount(counted=2, serials=None)
    reported: list[tuple[str, str, CycleCount | Damage]] = [
        ("DMG-1", "CAMERA-X", damage),
        ("CC-1", "CAMERA-X", count),
        ("CC-2", "LENS-50", count),
    ]
    reports = [
        warehouse.record_shelf_report(
            report_id=report_id,
            location="WH-A",
            sku=sku,
            reported_at=at,
            reported_by="3pl",
            finding=finding,
        )
        for report_id, sku, finding in reported
    ]
    keys = [
        message_for("warehouse_adapter", stored, warehouse_translators.to_contract(stored)).key
        for report in reports
        for stored in warehouse.repository.event_store.get(report)
    ]
    assert len(set(reports)) == 3
    assert keys == [b"WH-A:CAMERA-X", b"WH-A:CAMERA-X", b"WH-A:LENS-50"]
