"""PIM products: variant axes, markets and certifications, lifecycle, bundles, catalogue entries."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from datetime import date

import pytest
from eventsourcing.persistence import StoredEvent

from contracts.pim import CatalogueEntryChanged
from services.pim.application import PimApplication
from services.pim.domain import (
    DEFAULT_MARKET_RULES,
    Asset,
    Axis,
    AxisValue,
    Certification,
    Component,
    ExcludedCombination,
    FieldError,
    Listing,
    MarketRules,
    ParentProduct,
    Product,
    ProductFacts,
    ProductSpec,
    fitted_by,
)
from services.pim.translators import to_contract
from services.runtime.aggregate import DomainError
from tests.integration.stored_events import load_stored_events

TODAY = date(2026, 3, 1)
SPEC = ProductSpec(
    name="Laptop 14",
    weight_grams=1_400,
    lithium_ion=True,
    serialized=True,
    warranty_months=24,
    ean="4006381333931",
)
FCC = Certification("FCC", "2025-01-01", "2027-12-31", "FCC-1")
CE = Certification("CE", "2025-01-01")
UKCA = Certification("UKCA", "2025-01-01", "2026-06-30")


def laptop(**changes: object) -> Product:
    return Product.register("LAPTOP-14", replace(SPEC, **changes))  # type: ignore[arg-type]


def event_names(product: Product) -> list[str]:
    return [type(event).__name__ for event in product.collect_events()]


def listings(product: Product, day: date = TODAY) -> dict[str, Listing | str]:
    return {
        m: product.listing_for(m, DEFAULT_MARKET_RULES, day, fitted_by=())
        for m in ("EU", "UK", "US")
    }


# -- parents and axes -----------------------------------------------------------------------------


def phone_parent() -> ParentProduct:
    return ParentProduct.declare(
        "PHONE-X",
        "Phone X",
        "Acme",
        (Axis("colour", ("black", "silver")), Axis("storage", ("128GB", "256GB"))),
    )


def test_a_variant_takes_one_declared_value_on_every_axis() -> None:
    parent = phone_parent()
    parent.check_combination((AxisValue("storage", "256GB"), AxisValue("colour", "black")))
    with pytest.raises(FieldError, match=r"colour 'green' is not a value of PHONE-X"):
        parent.check_combination((AxisValue("colour", "green"), AxisValue("storage", "128GB")))
    with pytest.raises(FieldError, match="needs a value for axis 'storage'"):
        parent.check_combination((AxisValue("colour", "black"),))
    with pytest.raises(FieldError, match="declares no axis 'plug'"):
        parent.check_combination(
            (AxisValue("colour", "black"), AxisValue("storage", "128GB"), AxisValue("plug", "UK"))
        )
    ordered = parent.ordered((AxisValue("storage", "128GB"), AxisValue("colour", "black")))
    assert [a.axis for a in ordered] == ["colour", "storage"]


def test_a_parent_declares_at_most_six_known_axes_with_distinct_values() -> None:
    seven = tuple(
        Axis(name, ("a",))
        for name in ("colour", "storage", "region", "voltage", "plug", "bundle", "size")
    )
    with pytest.raises(FieldError, match="at most 6"):
        ParentProduct.declare("P-1", "P", None, seven)
    with pytest.raises(FieldError, match="'size' is not a variant axis"):
        ParentProduct.declare("P-1", "P", None, (Axis("size", ("S",)),))
    with pytest.raises(FieldError, match="lists a value twice"):
        ParentProduct.declare("P-1", "P", None, (Axis("colour", ("red", "red")),))
    with pytest.raises(FieldError, match="at least one"):
        ParentProduct.declare("P-1", "P", None, ())
    parent = phone_parent()
    parent.collect_events()
    parent.change(parent.name, parent.brand, parent.axes)
    assert parent.collect_events() == []


GOLD_512 = ExcludedCombination(
    (AxisValue("storage", "512GB"), AxisValue("colour", "gold")), "gold is not made in 512GB"
)


def gold_phone_parent() -> ParentProduct:
    return ParentProduct.declare(
        "PHONE-G",
        "Phone G",
        None,
        (Axis("colour", ("black", "gold")), Axis("storage", ("256GB", "512GB"))),
        (GOLD_512,),
    )


def test_a_parent_refuses_the_combinations_it_excludes_naming_the_rule() -> None:
    parent = gold_phone_parent()
    parent.check_combination((AxisValue("colour", "gold"), AxisValue("storage", "256GB")))
    parent.check_combination((AxisValue("colour", "black"), AxisValue("storage", "512GB")))
    with pytest.raises(
        FieldError,
        match=r"PHONE-G excludes colour 'gold' \+ storage '512GB': gold is not made in 512GB",
    ):
        parent.check_combination((AxisValue("storage", "512GB"), AxisValue("colour", "gold")))
    (declared,) = parent.collect_events()
    assert to_contract(declared).model_dump()["excluded"] == [
        {"values": {"colour": "gold", "storage": "512GB"}, "reason": "gold is not made in 512GB"}
    ]
    # the same rule, its values in another order, changes nothing
    parent.change(parent.name, parent.brand, parent.axes, (GOLD_512,))
    assert parent.collect_events() == []


def test_an_excluded_combination_names_declared_values_of_distinct_axes_with_a_reason() -> None:
    axes = (Axis("colour", ("black", "gold")), Axis("storage", ("256GB", "512GB")))
    for excluded, problem in (
        (ExcludedCombination((), "none"), "at least one axis value"),
        (ExcludedCombination((AxisValue("colour", "gold"),), " "), "needs a reason"),
        (ExcludedCombination((AxisValue("colour", "red"),), "no red"), "not a declared"),
        (
            ExcludedCombination(
                (AxisValue("colour", "gold"), AxisValue("colour", "black")), "both"
            ),
            "names an axis twice",
        ),
    ):
        with pytest.raises(FieldError, match=problem):
            ParentProduct.declare("PHONE-G", "Phone G", None, axes, (excluded,))
    with pytest.raises(FieldError, match="excluded twice"):
        ParentProduct.declare("PHONE-G", "Phone G", None, axes, (GOLD_512, GOLD_512))


def test_a_standalone_product_has_no_axes() -> None:
    with pytest.raises(FieldError, match="without a parent has no variant axes"):
        laptop(axes=(AxisValue("colour", "black"),))


def test_a_variant_can_be_disabled_with_a_reason_and_leaves_every_catalogue() -> None:
    product = laptop()
    product.set_certifications((FCC, CE, UKCA))
    product.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    product.collect_events()
    with pytest.raises(FieldError, match="needs a reason"):
        product.disable(" ")
    product.disable("US plug with EU region is not sold")
    product.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    assert product.listings == {}
    assert event_names(product) == ["Disabled", "Withdrawn", "Withdrawn", "Withdrawn"]
    product.enable()
    product.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    assert set(product.listings) == {"EU", "UK", "US"}


# -- spec rules -----------------------------------------------------------------------------------


def test_registration_publishes_the_facts_then_the_whole_spec() -> None:
    product = laptop()
    assert event_names(product) == ["Registered", "Specified"]
    assert product.facts == ProductFacts("Laptop 14", 1_400, True, True, 24)


def test_a_spec_change_publishes_facts_only_when_a_fact_changed() -> None:
    product = laptop()
    product.collect_events()
    product.specify(replace(SPEC, mpn="LT14-A"))
    assert event_names(product) == ["Specified"]
    product.specify(replace(SPEC, mpn="LT14-A", weight_grams=1_500))
    assert event_names(product) == ["Changed", "Specified"]
    product.specify(replace(SPEC, mpn="LT14-A", weight_grams=1_500))
    assert event_names(product) == []


def test_a_wrong_ean_check_digit_is_refused_at_registration() -> None:
    with pytest.raises(FieldError, match=r"ean '4006381333932' .* expected 1") as raised:
        laptop(ean="4006381333932")
    assert raised.value.field == "ean"


def test_price_needs_a_currency_and_two_decimals() -> None:
    assert laptop(price="1299.5", currency="USD").spec.price == "1299.50"
    with pytest.raises(FieldError, match="currency"):
        laptop(price="1299.00")
    with pytest.raises(FieldError, match="at most 2 decimals"):
        laptop(price="1.999", currency="USD")


def test_a_bundle_lists_distinct_components_not_itself() -> None:
    kit = Product.register(
        "KIT-1", replace(SPEC, ean=None, components=(Component("CAM-1", 1), Component("SD-64", 2)))
    )
    assert [(c.sku, c.quantity) for c in kit.spec.components] == [("CAM-1", 1), ("SD-64", 2)]
    with pytest.raises(FieldError, match="cannot contain itself"):
        Product.register("KIT-1", replace(SPEC, components=(Component("KIT-1", 1),)))
    with pytest.raises(FieldError, match="listed twice"):
        Product.register("KIT-1", replace(SPEC, components=(Component("A", 1), Component("A", 2))))
    with pytest.raises(FieldError, match="quantity 0"):
        Product.register("KIT-1", replace(SPEC, components=(Component("A", 0),)))


def test_compatibility_and_assets() -> None:
    cable = Product.register(
        "CABLE-1",
        replace(
            SPEC,
            compatible_with=("PHONE-X-B", "LAPTOP-14"),
            assets=(Asset("image", "https://cdn.example/c.png", "a" * 64),),
        ),
    )
    assert cable.spec.compatible_with == ("LAPTOP-14", "PHONE-X-B")
    with pytest.raises(FieldError, match="compatible with itself"):
        Product.register("CABLE-1", replace(SPEC, compatible_with=("CABLE-1",)))
    with pytest.raises(FieldError, match="64 lower-case hex"):
        Product.register("C", replace(SPEC, assets=(Asset("image", "https://x/y", "abc"),)))
    with pytest.raises(FieldError, match="not an http"):
        Product.register("C", replace(SPEC, assets=(Asset("image", "ftp://x/y", "a" * 64),)))


def test_what_fits_a_product_is_every_product_whose_compatible_with_names_it() -> None:
    declared = {
        "LENS-50": ("CAMERA-X",),
        "GRIP-X": ("CAMERA-Y", "CAMERA-X"),
        "CABLE-1": (),
        "CAMERA-X": ("FLASH-1",),
    }
    assert fitted_by(declared, ["CAMERA-X", "CAMERA-Y", "LENS-50"]) == {
        "CAMERA-X": ("GRIP-X", "LENS-50"),
        "CAMERA-Y": ("GRIP-X",),
        "LENS-50": (),
    }
    assert fitted_by(declared, []) == {}


def test_an_entry_shows_what_fits_the_product_and_is_listed_again_when_that_changes() -> None:
    camera = laptop()
    camera.set_certifications((FCC, CE, UKCA))
    camera.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=("LENS-50", "GRIP-X"))
    camera.collect_events()
    assert {entry.fitted_by for entry in camera.listings.values()} == {("GRIP-X", "LENS-50")}

    camera.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=["GRIP-X", "LENS-50"])
    assert camera.collect_events() == []  # the same products, in any order: nothing to publish

    camera.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=("LENS-50",))
    listed = [e for e in camera.collect_events() if isinstance(e, Product.Listed)]
    assert sorted(e.listing.market for e in listed) == ["EU", "UK", "US"]
    assert {e.listing.fitted_by for e in listed} == {("LENS-50",)}
    camera.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    assert {entry.fitted_by for entry in camera.listings.values()} == {()}
    assert event_names(camera) == ["Listed", "Listed", "Listed"]


# -- markets and certifications ---------------------------------------------------------------------


def test_a_variant_is_sold_only_where_it_holds_a_valid_required_certification() -> None:
    product = laptop()
    product.set_certifications((FCC, UKCA))
    found = listings(product)
    assert isinstance(found["US"], Listing)
    assert found["US"].certifications == ("FCC", "UKCA")
    assert found["EU"] == "no valid CE certification"
    assert isinstance(found["UK"], Listing)
    # UKCA expires at the end of June 2026
    assert listings(product, date(2026, 7, 1))["UK"] == "no valid UKCA certification"
    # not yet valid
    assert listings(product, date(2024, 12, 31))["US"] == "no valid FCC certification"


def test_market_rules_are_configurable_and_require_every_listed_scheme() -> None:
    rules = MarketRules.of({"US": ["FCC", "UL"], "CA": ["ISED"]})
    assert rules.missing("US", (FCC,), TODAY) == ("UL",)
    assert rules.missing("US", (FCC, Certification("UL", "2020-01-01")), TODAY) == ()
    with pytest.raises(DomainError, match="unknown market 'EU'"):
        rules.schemes_for("EU")
    with pytest.raises(DomainError, match="not a market code"):
        MarketRules.of({"Europe": ["CE"]})


def test_certification_validity_is_checked() -> None:
    with pytest.raises(DomainError, match=r"ends .* before it starts"):
        Certification("CE", "2025-01-01", "2024-01-01").check()
    with pytest.raises(DomainError, match="not a date"):
        Certification("CE", "01/01/2025").check()
    with pytest.raises(DomainError, match="not a scheme code"):
        Certification("ce!", "2025-01-01").check()


def test_removing_ce_withdraws_the_eu_entry_only() -> None:
    product = laptop()
    product.set_certifications((FCC, CE))
    product.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    product.collect_events()
    product.withdraw_certification("CE")
    product.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    events = product.collect_events()
    withdrawn = [e for e in events if isinstance(e, Product.Withdrawn)]
    assert [(e.market, e.reason) for e in withdrawn] == [("EU", "no valid CE certification")]
    assert set(product.listings) == {"US"}
    with pytest.raises(FieldError, match="holds no CE"):
        product.withdraw_certification("CE")


def test_a_spec_change_updates_the_entry_of_every_market_it_is_listed_in() -> None:
    product = laptop()
    product.set_certifications((FCC, CE, Certification("UKCA", "2025-01-01")))
    product.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    product.collect_events()
    product.specify(replace(SPEC, name="Laptop 14 (2026)"))
    product.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    listed = [e for e in product.collect_events() if isinstance(e, Product.Listed)]
    assert sorted(e.listing.market for e in listed) == ["EU", "UK", "US"]
    assert {e.listing.spec.name for e in listed} == {"Laptop 14 (2026)"}
    product.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    assert product.collect_events() == []


def test_a_renewal_replaces_the_certificate_and_the_same_one_again_changes_nothing() -> None:
    product = laptop()
    product.certify(FCC)
    product.collect_events()
    product.certify(FCC)
    assert product.collect_events() == []
    product.certify(replace(FCC, valid_to="2030-12-31"))
    assert product.certifications["FCC"].valid_to == "2030-12-31"


# -- lifecycle ---------------------------------------------------------------------------------------


def test_lifecycle_goes_active_then_end_of_life_then_discontinued() -> None:
    product = laptop()
    product.certify(FCC)
    with pytest.raises(DomainError, match="declare its end of life"):
        product.discontinue()
    with pytest.raises(FieldError, match="cannot succeed itself"):
        product.declare_end_of_life("LAPTOP-14")
    product.declare_end_of_life("LAPTOP-15")
    product.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    entry = product.listings["US"]
    assert (entry.lifecycle, entry.successor_sku) == ("end_of_life", "LAPTOP-15")
    product.discontinue()
    product.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    assert product.listings == {}
    assert product.lifecycle == "discontinued"
    with pytest.raises(DomainError, match="is discontinued"):
        product.declare_end_of_life("LAPTOP-16")


def test_warranty_and_serialized_are_per_product() -> None:
    product = laptop(warranty_months=36, serialized=False)
    assert (product.facts.warranty_months, product.facts.serialized) == (36, False)
    with pytest.raises(FieldError, match="warranty of 300 months"):
        laptop(warranty_months=300)


# -- translation ---------------------------------------------------------------------------------


def test_every_product_event_translates_to_a_public_contract() -> None:
    product = laptop(price="999.00", currency="EUR")
    product.set_certifications((FCC, CE))
    product.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    product.specify(replace(SPEC, weight_grams=1_450))
    product.withdraw_certification("CE")
    product.disable("recall")
    product.enable()
    product.declare_end_of_life("LAPTOP-15")
    product.discontinue()
    product.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=())
    parent = phone_parent()
    parent.change("Phone X2", None, parent.axes)
    events = [*product.collect_events(), *parent.collect_events()]
    kinds = {type(e).__qualname__: to_contract(e).event_type for e in events}
    assert kinds == {
        "Product.Registered": "ProductRegistered",
        "Product.Specified": "ProductSpecified",
        "Product.Certified": "ProductCertified",
        "Product.Listed": "CatalogueEntryChanged",
        "Product.Changed": "ProductChanged",
        "Product.CertificationWithdrawn": "ProductCertificationWithdrawn",
        "Product.Withdrawn": "CatalogueEntryWithdrawn",
        "Product.Disabled": "VariantDisabled",
        "Product.Enabled": "VariantEnabled",
        "Product.EndOfLifeDeclared": "ProductEndOfLife",
        "Product.Discontinued": "ProductDiscontinued",
        "ParentProduct.Declared": "ParentProductDeclared",
        "ParentProduct.Changed": "ParentProductChanged",
    }
    recorded = {
        value.__qualname__
        for aggregate in (Product, ParentProduct)
        for value in vars(aggregate).values()
        if isinstance(value, type)
        and issubclass(value, aggregate.Event)
        and value.__name__ not in ("Event", "Created")
    }
    assert recorded <= set(kinds), "every event an aggregate records has a contract"


def test_a_catalogue_entry_carries_what_fits_the_product_and_reads_without_it() -> None:
    camera = laptop()
    camera.certify(FCC)
    camera.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=("LENS-50", "GRIP-X"))
    (listed,) = [e for e in camera.collect_events() if isinstance(e, Product.Listed)]
    entry = to_contract(listed)
    assert isinstance(entry, CatalogueEntryChanged)
    assert (entry.compatible_with, entry.fitted_by) == ([], ["GRIP-X", "LENS-50"])
    # an entry published before the feed carried it reads as fitted by nothing
    before = entry.model_dump(mode="json", exclude={"fitted_by"})
    assert CatalogueEntryChanged.model_validate(before).fitted_by == []


def test_listings_stored_before_entries_showed_what_fits_still_load() -> None:
    recorded = load_stored_events("pim")["pim:Product.Listed"]
    application = PimApplication(None)
    try:
        stored = StoredEvent(
            originator_id=uuid.UUID(recorded["originator_id"]),
            originator_version=recorded["originator_version"],
            topic="pim:Product.Listed",
            state=base64.b64decode(recorded["state"]),
        )
        assert "fitted_by" not in stored.state.decode()
        old = application.mapper.to_domain_event(stored)
        assert isinstance(old, Product.Listed)
        assert old.listing.fitted_by == ()
        # and one stored now keeps what fits the product
        camera = laptop()
        camera.certify(FCC)
        camera.refresh_catalogue(DEFAULT_MARKET_RULES, TODAY, fitted_by=("GRIP-X", "LENS-50"))
        (new,) = [e for e in camera.collect_events() if isinstance(e, Product.Listed)]
        again = application.mapper.to_domain_event(application.mapper.to_stored_event(new))
        assert isinstance(again, Product.Listed)
        assert again.listing == new.listing
        assert again.listing.fitted_by == ("GRIP-X", "LENS-50")
    finally:
        application.close()
