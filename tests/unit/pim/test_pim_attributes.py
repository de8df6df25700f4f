"""Typed technical attributes: units parsed, validated, normalised; unknown units refused."""

from __future__ import annotations

from typing import Any

import pytest

from services.pim.domain import (
    Attribute,
    Dimensions,
    normalise_attribute,
    normalise_attributes,
    normalise_dimensions,
    normalise_weight,
)
from services.runtime.aggregate import DomainError


@pytest.mark.parametrize("raw", ["144Hz", "144 hz", 144, "144", "0.144 kHz", 144.0])
def test_refresh_rates_normalise_to_hertz(raw: Any) -> None:
    assert normalise_attribute("refresh_rate", raw) == Attribute("refresh_rate", "144", "Hz")


@pytest.mark.parametrize(
    ("name", "raw", "value", "unit"),
    [
        ("voltage", "100-240V", "100-240", "V"),
        ("voltage", "5 V", "5", "V"),
        ("frequency", "50-60 Hz", "50-60", "Hz"),
        ("frequency", "2.4 GHz", "2400000000", "Hz"),
        ("battery", "99.5 Wh", "99.5", "Wh"),
        ("battery", "0.0995 kWh", "99.5", "Wh"),
        ("screen_size", '27"', "27", "in"),
        ("screen_size", "14 inch", "14", "in"),
        ("screen_size", "35.56 cm", "14", "in"),
        ("Refresh Rate", "60", "60", "Hz"),
    ],
)
def test_units_are_converted(name: str, raw: str, value: str, unit: str) -> None:
    attribute = normalise_attribute(name, raw)
    assert (attribute.value, attribute.unit) == (value, unit)


def test_unknown_units_are_refused_naming_what_is_accepted() -> None:
    with pytest.raises(DomainError, match=r"refresh_rate: unknown unit 'fps' in '144 fps'"):
        normalise_attribute("refresh_rate", "144 fps")
    with pytest.raises(DomainError, match="unknown unit"):
        normalise_weight("3 stone")


def test_unknown_attributes_ranges_and_bounds_are_refused() -> None:
    with pytest.raises(DomainError, match="unknown attribute 'colour_depth'"):
        normalise_attribute("colour_depth", "10 bit")
    with pytest.raises(DomainError, match="is a range"):
        normalise_attribute("refresh_rate", "60-144 Hz")
    with pytest.raises(DomainError, match="out of range"):
        normalise_attribute("voltage", "0 V")
    with pytest.raises(DomainError, match="low to high"):
        normalise_attribute("voltage", "240-100 V")
    with pytest.raises(DomainError, match="not a quantity"):
        normalise_attribute("battery", True)


def test_ports_are_a_normalised_list() -> None:
    ports = normalise_attribute("ports", "usb-c, HDMI; Lightning, USB-C")
    assert ports == Attribute("ports", "HDMI,Lightning,USB-C", None)
    assert normalise_attribute("ports", ["Thunderbolt", "rj45"]).value == "Ethernet,Thunderbolt"
    with pytest.raises(DomainError, match="unknown port 'SCSI'"):
        normalise_attribute("ports", "SCSI")


def test_weights_become_whole_grams() -> None:
    assert normalise_weight("0.5 kg") == 500
    assert normalise_weight(500) == 500
    assert normalise_weight("500g") == 500
    assert normalise_weight("1 lb") == 454
    assert normalise_weight("0,25 kg") == 250


def test_dimensions_become_millimetres() -> None:
    assert normalise_dimensions("30 x 20 x 1.5 cm") == Dimensions("300", "200", "15")
    assert normalise_dimensions("300x200x15") == Dimensions("300", "200", "15")
    assert normalise_dimensions([300, 200, 15.25]) == Dimensions("300", "200", "15.3")
    with pytest.raises(DomainError, match="length x width x height"):
        normalise_dimensions("300 x 200")


def test_a_spec_lists_each_attribute_once_in_name_order() -> None:
    attributes = normalise_attributes({"voltage": "230V", "battery": 50, "ports": ""})
    assert [a.name for a in attributes] == ["battery", "voltage"]
    with pytest.raises(DomainError, match="given twice"):
        normalise_attributes({"refresh_rate": 60, "Refresh-Rate": 60})
