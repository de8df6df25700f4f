"""Bundle availability: the scarcest component decides, per channel."""

from __future__ import annotations

from services.inventory.domain import BundleAvailability, bundles_sellable


def test_a_bundle_is_sellable_as_often_as_its_scarcest_component_allows() -> None:
    kit = {"CAMERA-X": 1, "LENS-50": 2}
    assert bundles_sellable(kit, {"CAMERA-X": 5, "LENS-50": 6}) == 3
    assert bundles_sellable(kit, {"CAMERA-X": 1, "LENS-50": 6}) == 1
    assert bundles_sellable(kit, {"CAMERA-X": 5}) == 0  # a component never in stock
    assert bundles_sellable({}, {"CAMERA-X": 5}) == 0


def test_a_bundle_publishes_only_what_changed_per_channel() -> None:
    bundle = BundleAvailability.first("KIT", {"webshop": 3, "amazon-us": 1})
    assert bundle.published == {"webshop": 3, "amazon-us": 1}
    assert len(bundle.collect_events()) == 2
    bundle.publish({"webshop": 3, "amazon-us": 0})
    (changed,) = bundle.collect_events()
    assert isinstance(changed, BundleAvailability.Published)
    assert (changed.channel, changed.available) == ("amazon-us", 0)
