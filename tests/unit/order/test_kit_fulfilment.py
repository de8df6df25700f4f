"""A kit after inventory reserved it: the order releases it with its components, the warehouse
adapter asks the 3PL for the components by the kit's line, a pack is checked per component, and a
returned component is refunded its share of the kit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from contracts.order import KitComponent as ContractKitComponent
from contracts.order import OrderReleasedToWarehouse
from contracts.order import ShipmentLine as ContractShipmentLine
from services.order.domain import (
    Address,
    Customer,
    FulfilmentPolicy,
    KitComponent,
    LineReservation,
    LocationQuantity,
    Order,
    OrderLine,
    ShipmentLine,
)
from services.returns.domain import Address as ReturnAddress
from services.returns.domain import ReturnLine, kit_unit_share
from services.runtime.aggregate import DomainError
from services.warehouse_adapter.domain import (
    Destination,
    Fulfilment,
    FulfilmentLine,
    FulfilmentStatus,
    PackedUnit,
)
from services.warehouse_adapter.translators import shipments_of

KIT = (KitComponent("CAMERA-X", 1), KitComponent("LENS-50", 2))
AT = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_a_reserved_kit_is_released_as_whole_kits_with_its_components() -> None:
    order = Order.place(
        order_id=uuid.uuid4(),
        channel="webshop",
        channel_order_id="1001",
        placed_at=AT,
        customer=Customer("C-1", "Ada Lovelace", "ada@example.com"),
        shipping_address=Address("Ada", "1 Way", None, "London", None, "N1", "GB"),
        lines=(OrderLine(1, "CAMERA-KIT", 3, Decimal("900.00")),),
        currency="GBP",
        fraud_score=3.0,
    )
    order.mark_paid(FulfilmentPolicy())
    order.record_reservation(
        (LineReservation(1, "CAMERA-KIT", 2, 1, (LocationQuantity("WH-A", 2),), KIT),),
        FulfilmentPolicy(),
    )
    (shipment,) = order.shipments
    assert shipment.lines == (ShipmentLine(1, "CAMERA-KIT", 2, KIT),)
    assert shipment.declared_value == Decimal("1800.00")  # two kits at the kit's price


def released_kit(kits: int) -> OrderReleasedToWarehouse:
    line = ContractShipmentLine(
        line_number=1,
        sku="CAMERA-KIT",
        quantity=kits,
        components=[
            ContractKitComponent(sku="CAMERA-X", quantity_per_kit=1),
            ContractKitComponent(sku="LENS-50", quantity_per_kit=2),
        ],
    )
    plain = ContractShipmentLine(line_number=2, sku="TRIPOD-1", quantity=1)
    return OrderReleasedToWarehouse.model_validate(
        {
            "order_id": uuid.uuid4(),
            "shipments": [
                {
                    "shipment_id": uuid.uuid4(),
                    "location": "WH-A",
                    "lines": [line, plain],
                    "declared_value": "100.00",
                }
            ],
            "ship_to": {
                "name": "Ada",
                "line1": "1 Way",
                "city": "London",
                "postal_code": "N1",
                "country": "GB",
            },
            "signature_required": False,
            "declared_value": "100.00",
            "currency": "GBP",
        }
    )


def test_the_3pl_is_asked_for_a_kits_components_by_the_kits_line() -> None:
    (shipment,) = shipments_of(released_kit(kits=2))
    assert shipment.lines == (
        FulfilmentLine(1, "CAMERA-X", 2, kit_sku="CAMERA-KIT"),
        FulfilmentLine(1, "LENS-50", 4, kit_sku="CAMERA-KIT"),
        FulfilmentLine(2, "TRIPOD-1", 1),
    )


def kit_fulfilment() -> Fulfilment:
    fulfilment = Fulfilment.request(
        shipment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        location="WH-A",
        lines=(
            FulfilmentLine(1, "CAMERA-X", 1, kit_sku="CAMERA-KIT"),
            FulfilmentLine(1, "LENS-50", 2, kit_sku="CAMERA-KIT"),
        ),
        ship_to=Destination("Ada", "1 Way", None, "London", None, "N1", "GB"),
        signature_required=False,
    )
    fulfilment.confirm_picked(AT)
    return fulfilment


def test_a_kit_is_packed_with_every_component_scanned_under_its_line() -> None:
    fulfilment = kit_fulfilment()
    fulfilment.record_scan((PackedUnit(1, "CAMERA-X", "C1"), PackedUnit(1, "LENS-50", "L1")), AT)
    rejected = fulfilment.collect_events()[-1]
    assert isinstance(rejected, Fulfilment.PackRejected)
    assert rejected.problems == ("line 1 (LENS-50) needs 2 units, 1 scanned",)
    fulfilment.record_scan((PackedUnit(1, "TRIPOD-1", "T1"),), AT)
    assert "line 1 is CAMERA-X and LENS-50, a TRIPOD-1 was scanned" in (
        fulfilment.collect_events()[-1].problems  # type: ignore[attr-defined]
    )
    units = (
        PackedUnit(1, "CAMERA-X", "C1"),
        PackedUnit(1, "LENS-50", "L1"),
        PackedUnit(1, "LENS-50", "L2"),
    )
    fulfilment.record_scan(units, AT)
    assert fulfilment.status is FulfilmentStatus.SCANNED


def kit_line() -> ReturnLine:
    return ReturnLine(
        order_id=uuid.uuid4(),
        line_number=1,
        sku="CAMERA-KIT",
        channel="webshop",
        unit_price=Decimal("1199.00"),
        currency="USD",
        ship_to=ReturnAddress("Ada", "1 Way", None, "London", None, "N1", "GB"),
    )


def test_a_kits_component_is_refunded_an_equal_share_per_unit_rounded_down() -> None:
    kit = {"CAMERA-X": 1, "LENS-50": 2}
    assert kit_unit_share(Decimal("1199.00"), kit) == Decimal("399.66")
    assert kit_unit_share(Decimal("90.00"), kit) == Decimal("30.00")
    lens = kit_line().returning("LENS-50", kit)
    assert (lens.sku, lens.unit_price, lens.kit_sku) == ("LENS-50", Decimal("399.66"), "CAMERA-KIT")


def test_a_kits_return_names_one_of_its_components() -> None:
    kit = {"CAMERA-X": 1, "LENS-50": 2}
    with pytest.raises(DomainError, match="name the component returned: CAMERA-X or LENS-50"):
        kit_line().returning(None, kit)
    with pytest.raises(DomainError, match="TRIPOD-1 is not a component of kit CAMERA-KIT"):
        kit_line().returning("TRIPOD-1", kit)
    plain = kit_line()
    assert plain.returning(None, {}) == plain
    with pytest.raises(DomainError, match="line 1 is CAMERA-KIT, not LENS-50"):
        plain.returning("LENS-50", {})
