"""The published rate card estimates exactly what shipping will pay, so routing by it is honest."""

from __future__ import annotations

import pytest

from contracts.shipping import RateCardPublished
from services.shipping import translators
from services.shipping.domain import RateCard, ShippingPolicy, choose_service

POLICY = ShippingPolicy(location_origins=(("WH-UK", "GB"),), delivery_promise_days=4)


def published_card(policy: ShippingPolicy) -> RateCardPublished:
    (published,) = RateCard.first(policy).collect_events()
    card = translators.to_contract(published)
    assert isinstance(card, RateCardPublished)
    return card


@pytest.mark.parametrize("location", ["WH-A", "WH-UK"])
@pytest.mark.parametrize("country", ["US", "GB", "DE"])
@pytest.mark.parametrize("grams", [0, 900, 2_100, 14_500])
@pytest.mark.parametrize("ground_only", [True, False])
def test_the_estimate_of_the_published_card_is_the_price_shipping_chooses(
    location: str, country: str, grams: int, ground_only: bool
) -> None:
    card = published_card(POLICY)
    quote, _ = choose_service(
        POLICY,
        weight_grams=grams,
        origin=POLICY.origin_of(location),
        country=country,
        ground_only=ground_only,
    )
    estimate = card.estimate(
        location=location, country=country, weight_grams=grams, ground_only=ground_only
    )
    assert estimate == quote.cost


def test_no_estimate_when_no_service_may_carry_the_parcel() -> None:
    air_only = ShippingPolicy(services=tuple(s for s in POLICY.services if s.mode == "air"))
    card = published_card(air_only)
    assert card.estimate(location="WH-A", country="US", weight_grams=1, ground_only=True) is None
