"""The published rate card estimates exactly what shipping will pay, so routing by it is honest."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from contracts.shipping import RateCardPublished
from services.inventory import translators as inventory
from services.inventory.domain import RequestedLine
from services.shipping import translators
from services.shipping.domain import Consignment, ParcelLine, ProductFacts, RateCard, ShippingPolicy
from tests.shipping_rates import priced

POLICY = priced(ShippingPolicy(location_origins=(("WH-UK", "GB"),), delivery_promise_days=4))
TODAY = date(2026, 12, 3)


def published_card(policy: ShippingPolicy) -> RateCardPublished:
    (published,) = RateCard.first(policy).collect_events()
    card = translators.to_contract(published)
    assert isinstance(card, RateCardPublished)
    return card


@pytest.mark.parametrize("location", ["WH-A", "WH-UK"])
@pytest.mark.parametrize("country", ["US", "GB", "DE"])
@pytest.mark.parametrize("grams", [0, 900, 2_100, 14_500])
@pytest.mark.parametrize("ground_only", [True, False])
@pytest.mark.parametrize("volume_cm3", [None, 6_000, 47_250])
def test_the_estimate_of_the_published_card_is_the_price_shipping_pays(
    location: str, country: str, grams: int, ground_only: bool, volume_cm3: int | None
) -> None:
    card = published_card(POLICY)
    parcel = Consignment.plan(
        shipment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        location=location,
        lines=(ParcelLine("SKU-1", 1),),
        country=country,
        declared_value=Decimal("100.00"),
        currency="USD",
        signature_required=False,
        facts={"SKU-1": ProductFacts(grams, ground_only, volume_cm3)},
    )
    label = parcel.request_label(POLICY, TODAY)
    assert label is not None
    estimate = card.estimate(
        location=location,
        country=country,
        weight_grams=grams,
        ground_only=ground_only,
        volume_cm3=volume_cm3,
    )
    assert estimate == label.cost


def test_no_estimate_when_no_service_may_carry_the_parcel() -> None:
    air_only = ShippingPolicy(services=tuple(s for s in POLICY.services if s.mode == "air"))
    card = published_card(air_only)
    assert card.estimate(location="WH-A", country="US", weight_grams=1, ground_only=True) is None


def test_inventory_routes_a_bulky_parcel_at_the_price_shipping_pays_for_its_volume() -> None:
    card = published_card(POLICY).model_dump_json()
    monitor = (4_800, False, 47_250)  # 9.45 kg volumetric: charged as 10 kg
    estimate = inventory.shipping_cost(card, "US", {"MONITOR-27": monitor})
    lines = (RequestedLine(1, "MONITOR-27", 1),)
    parcel = Consignment.plan(
        shipment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        location="WH-A",
        lines=(ParcelLine("MONITOR-27", 1),),
        country="US",
        declared_value=Decimal("180.00"),
        currency="USD",
        signature_required=False,
        facts={"MONITOR-27": ProductFacts(*monitor)},
    )
    label = parcel.request_label(POLICY, TODAY)
    assert label is not None
    assert estimate("WH-A", lines) == label.cost == Decimal("17.00")
