"""Carrier choice and labels, without any infrastructure."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.runtime.aggregate import DomainError
from services.shipping.domain import (
    CarrierService,
    Consignment,
    ConsignmentStatus,
    DeliveryPromise,
    ParcelLine,
    ProductFacts,
    RateCard,
    RateTable,
    RateTableConflict,
    ServiceLevel,
    ShippingPolicy,
    choose_service,
    return_label_request,
)
from tests.shipping_rates import priced

POLICY = priced()
TODAY = date(2026, 12, 3)
LAPTOP = ProductFacts(weight_grams=2_100, lithium_ion=True)
DOCK = ProductFacts(weight_grams=900, lithium_ion=False)
MONITOR = ProductFacts(
    weight_grams=4_800, lithium_ion=False, volume_cm3=47_250
)  # 700 x 450 x 150 mm


def consignment(
    *lines: ParcelLine, value: str = "650.00", country: str = "US", signature: bool = True
) -> Consignment:
    return Consignment.plan(
        shipment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        location="WH-A",
        lines=lines or (ParcelLine("LAPTOP-14", 1),),
        country=country,
        declared_value=Decimal(value),
        currency="USD",
        signature_required=signature,
        facts={"LAPTOP-14": LAPTOP, "DOCK-1": DOCK, "MONITOR-27": MONITOR},
    )


@pytest.mark.parametrize("country", ["US", "GB", "JP"])
def test_a_lithium_parcel_never_gets_an_air_service(country: str) -> None:
    quote, _ = choose_service(
        POLICY, weight_grams=2_100, origin="US", country=country, ground_only=True
    )
    assert quote.service.mode == "ground"


def test_the_cheapest_service_meeting_the_promise_wins() -> None:
    domestic, met = choose_service(
        POLICY, weight_grams=900, origin="US", country="US", ground_only=False
    )
    assert (domestic.service.carrier, domestic.service.service, met) == (
        "usps",
        "ground-advantage",
        True,
    )
    abroad, met = choose_service(
        POLICY, weight_grams=900, origin="US", country="GB", ground_only=False
    )
    assert (abroad.service.carrier, abroad.transit_days, met) == ("dhl", 3, True)


def test_when_no_allowed_service_meets_the_promise_the_fastest_allowed_one_ships_late() -> None:
    quote, met = choose_service(
        POLICY, weight_grams=2_100, origin="US", country="GB", ground_only=True
    )
    assert (quote.service.carrier, quote.service.service, met) == ("ups", "ground", False)


def test_a_650_dollar_parcel_is_insured_and_needs_a_signature() -> None:
    request = consignment(value="650.00").request_label(POLICY, TODAY)
    assert request is not None
    assert (request.signature_required, request.insured_value, request.insurance_cost) == (
        True,
        Decimal("650.00"),
        Decimal("6.50"),
    )


def test_a_250_dollar_parcel_is_insured_without_a_signature_and_150_is_not_insured() -> None:
    insured = consignment(ParcelLine("DOCK-1", 1), value="250.00", signature=False)
    uninsured = consignment(ParcelLine("DOCK-1", 1), value="150.00", signature=False)
    first, second = insured.request_label(POLICY, TODAY), uninsured.request_label(POLICY, TODAY)
    assert first is not None
    assert second is not None
    assert (first.insured_value, first.signature_required) == (Decimal("250.00"), False)
    assert second.insured_value == Decimal("0.00")


def test_a_held_order_gets_no_label_until_the_hold_is_released() -> None:
    parcel = consignment()
    parcel.hold("fraud score 90 is at or above 80")
    assert parcel.request_label(POLICY, TODAY) is None
    assert parcel.status is ConsignmentStatus.LABEL_WITHHELD
    request = parcel.release_hold(POLICY, TODAY)
    assert request is not None
    parcel.record_label(request, "UPS123")
    assert parcel.label is not None
    assert parcel.label.tracking_number == "UPS123"


def test_a_bulky_light_parcel_is_charged_by_its_volume_as_carriers_charge() -> None:
    # 47,250 cm³ ÷ 5,000 cm³/kg = 9.45 kg volumetric, more than its 4.8 kg: billed as 10 kg
    monitor = consignment(ParcelLine("MONITOR-27", 1), value="150.00", signature=False)
    request = monitor.request_label(POLICY, TODAY)
    assert request is not None
    assert POLICY.billable_grams(4_800, 47_250) == 9_450
    assert (request.carrier, request.cost) == ("ups", Decimal("8.00") + Decimal("0.90") * 10)
    by_weight = priced(ShippingPolicy(volumetric_divisor=0))
    assert by_weight.billable_grams(4_800, 47_250) == 4_800
    # a dense parcel is charged by its weight
    assert POLICY.billable_grams(2_100, 6_000) == 2_100
    # one product without dimensions: the parcel's volume is unknown, it goes by weight
    mixed = consignment(ParcelLine("MONITOR-27", 1), ParcelLine("DOCK-1", 1))
    assert (mixed.weight_grams, mixed.volume_cm3) == (5_700, None)


def test_a_parcel_without_product_facts_is_not_labelled() -> None:
    parcel = consignment(ParcelLine("UNKNOWN-SKU", 1))
    assert parcel.request_label(POLICY, TODAY) is None
    withheld = parcel.collect_events()[-1]
    assert isinstance(withheld, Consignment.LabelWithheld)
    assert withheld.reason == "no product facts from PIM for UNKNOWN-SKU"


def test_a_packed_parcel_gets_its_label_once_the_missing_facts_arrive() -> None:
    parcel = consignment(ParcelLine("NEW-SKU", 2), ParcelLine("DOCK-1", 1))
    assert parcel.request_label(POLICY, TODAY) is None  # packed, waiting for NEW-SKU's facts
    assert parcel.complete_facts({"DOCK-1": DOCK}, POLICY, TODAY) is None
    request = parcel.complete_facts(
        {"DOCK-1": DOCK, "NEW-SKU": ProductFacts(1_000, True)}, POLICY, TODAY
    )
    assert request is not None
    assert request.mode == "ground"
    assert (parcel.weight_grams, parcel.ground_only, parcel.missing_facts) == (2_900, True, ())
    assert (
        parcel.complete_facts({"DOCK-1": DOCK, "NEW-SKU": ProductFacts(1_000, True)}, POLICY, TODAY)
        is None
    )


def test_facts_completing_a_held_parcel_buy_no_label() -> None:
    parcel = consignment(ParcelLine("NEW-SKU", 1))
    parcel.request_label(POLICY, TODAY)
    parcel.hold("fraud review")
    assert parcel.complete_facts({"NEW-SKU": ProductFacts(500, False)}, POLICY, TODAY) is None
    assert parcel.release_hold(POLICY, TODAY) is not None


def labelled() -> Consignment:
    parcel = consignment(country="GB")  # a lithium parcel abroad: UPS ground
    request = parcel.request_label(POLICY, TODAY)
    assert request is not None
    parcel.record_label(request, "UPS1")
    return parcel


def test_carrier_codes_are_normalised_and_a_delivered_parcel_stays_delivered() -> None:
    parcel = labelled()
    at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    parcel.record_tracking("P", "picked up", at)
    parcel.record_tracking("I", "arrived at facility", at)  # still in transit: no new event
    parcel.record_tracking("D", "delivered, front door", at)
    parcel.record_tracking("X", "late news", at)
    kinds = [type(e).__name__ for e in parcel.collect_events()][-2:]
    assert kinds == ["InTransit", "Delivered"]
    assert parcel.status is ConsignmentStatus.DELIVERED


def status(parcel: Consignment) -> ConsignmentStatus:
    """Read afresh after each scan (a plain attribute read would stay narrowed for mypy)."""
    return parcel.status


def test_an_exception_scan_delivered_again_is_recorded_once_and_older_news_changes_nothing() -> (
    None
):
    parcel = labelled()
    at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    parcel.record_tracking("P", "picked up", at)
    parcel.record_tracking("X", "address not found", at + timedelta(hours=1))
    parcel.record_tracking("X", "address not found", at + timedelta(hours=1))  # again
    parcel.record_tracking("P", "picked up", at)  # an old scan again, after the exception
    assert status(parcel) is ConsignmentStatus.EXCEPTION
    parcel.record_tracking("I", "back on its way", at + timedelta(hours=2))
    parcel.record_tracking("X", "address not found", at + timedelta(hours=1))  # stale
    kinds = [type(e).__name__ for e in parcel.collect_events()][-3:]
    assert kinds == ["InTransit", "DeliveryException", "InTransit"]
    assert status(parcel) is ConsignmentStatus.IN_TRANSIT


def test_an_unknown_carrier_code_is_refused_with_the_reason() -> None:
    with pytest.raises(DomainError, match="unknown tracking code 'ZZ' for carrier 'ups'"):
        labelled().record_tracking("ZZ", "?", datetime.now(UTC))


def test_a_location_abroad_ships_from_its_own_country() -> None:
    policy = priced(ShippingPolicy(location_origins=(("WH-EU", "DE"),)))
    assert (policy.origin_of("WH-EU"), policy.origin_of("WH-A")) == ("DE", "US")
    from_germany, _ = choose_service(
        policy, weight_grams=900, origin=policy.origin_of("WH-EU"), country="DE", ground_only=True
    )
    from_the_us, _ = choose_service(
        policy, weight_grams=900, origin=policy.origin_of("WH-A"), country="DE", ground_only=True
    )
    assert from_germany.cost < from_the_us.cost


def test_the_rate_card_is_published_only_when_the_terms_change() -> None:
    card = RateCard.first(POLICY)
    card.publish(POLICY, TODAY)
    card.publish(priced(ShippingPolicy(location_origins=(("WH-EU", "DE"),))), TODAY)
    events = card.collect_events()
    assert [type(event).__name__ for event in events] == ["FirstPublished", "Published"]
    assert card.location_origins == (("WH-EU", "DE"),)


def test_a_return_goes_back_by_the_cheapest_ground_service_uninsured_and_unsigned() -> None:
    policy = priced(ShippingPolicy(location_origins=(("WH-UK", "GB"),)))
    home = return_label_request(policy, weight_grams=2_100, from_country="GB", return_to="WH-UK")
    abroad = return_label_request(policy, weight_grams=2_100, from_country="GB", return_to="WH-A")
    for request in (home, abroad):
        assert request.mode == "ground"
        assert (request.insured_value, request.signature_required) == (Decimal("0.00"), False)
    assert home.cost < abroad.cost, "a return to a warehouse abroad pays the surcharge"


def express_only(cost: str) -> CarrierService:
    return CarrierService(
        "acme", "express", "air", 2, 6, Decimal(cost), Decimal("1.00"), Decimal("50")
    )


@pytest.mark.parametrize(
    ("promise", "chosen", "kept"),
    [
        (DeliveryPromise(), ("usps", "ground-advantage"), True),
        (DeliveryPromise(ServiceLevel.EXPRESS), ("ups", "2nd-day-air"), True),
        (DeliveryPromise(ServiceLevel.NEXT_DAY), ("ups", "next-day-air"), True),
        (DeliveryPromise(deliver_by=TODAY + timedelta(days=3)), ("fedex", "express-saver"), True),
        # A date decides over the level; today cannot be kept: the fastest goes, flagged.
        (DeliveryPromise(ServiceLevel.EXPRESS, deliver_by=TODAY), ("ups", "next-day-air"), False),
    ],
)
def test_the_cheapest_service_that_keeps_the_orders_promise(
    promise: DeliveryPromise, chosen: tuple[str, str], kept: bool
) -> None:
    parcel = Consignment.plan(
        shipment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        location="WH-A",
        lines=(ParcelLine("DOCK-1", 1),),
        country="US",
        declared_value=Decimal("100.00"),
        currency="USD",
        signature_required=False,
        facts={"DOCK-1": DOCK},
        promise=promise,
    )
    request = parcel.request_label(POLICY, TODAY)
    assert request is not None
    assert ((request.carrier, request.service), request.promise_met) == (chosen, kept)
    assert (request.service_level, request.deliver_by) == (
        promise.service_level.value,
        promise.deliver_by,
    )


def test_a_rate_table_is_in_force_from_its_date_and_a_version_never_changes() -> None:
    card = RateCard.first(POLICY)
    january = RateTable("2027-01", date(2027, 1, 1), (express_only("9.00"),))
    assert card.add_table(january, TODAY, "planner (inventory)") == date(2027, 1, 1)
    assert card.add_table(january, TODAY, "planner (inventory)") is None, "the same: nothing"
    with pytest.raises(RateTableConflict, match="give a changed table a new version"):
        card.add_table(
            RateTable("2027-01", date(2027, 1, 1), (express_only("8.00"),)), TODAY, "planner"
        )
    late = RateTable("2026-11", date(2026, 11, 1), (express_only("10.00"),))
    assert card.add_table(late, TODAY, "planner") == TODAY, "a past date: in force from today"
    assert card.table_at(TODAY - timedelta(days=1)) is None
    assert card.table_at(TODAY) == late
    assert card.table_at(date(2027, 1, 1)) == january
    assert card.policy_at(POLICY, date(2027, 1, 1)).services == january.services
    with pytest.raises(DomainError, match="no rate table is in force"):
        card.policy_at(POLICY, TODAY - timedelta(days=1))

    card.publish(POLICY, TODAY)
    published = card.collect_events()[-1]
    assert isinstance(published, RateCard.Published)
    assert (published.table_version, published.effective_from) == ("2026-11", TODAY)
    card.publish(POLICY, TODAY)
    assert card.collect_events() == [], "published once"
    card.publish(POLICY, date(2027, 1, 1))
    assert card.table_version == "2027-01"
