"""Catalogue import rows: CSV and JSON read alike; every problem named by row field and value."""

from __future__ import annotations

import pytest

from services.pim.domain import AxisValue, Certification, Component
from services.pim.importing import FieldErrors, InvalidInput, parse_rows, product_input

CSV = (
    "sku,name,weight,ean,lithium_ion,warranty_months,parent,axis.colour,axis.storage,"
    "attribute.refresh_rate,attribute.ports,dimensions,price,currency,certifications,components\n"
    "PHONE-X-B128,Phone X black 128,0.2 kg,4006381333931,yes,12,PHONE-X,black,128GB,"
    '120 hz,"USB-C",150 x 70 x 8 mm,799.00,usd,FCC:2025-01-01:2027-12-31;CE:2025-01-01,\n'
    "KIT-1,Starter kit,900,,no,,,,,,,,,,,PHONE-X-B128:1;CABLE-1:2\n"
)


def test_a_csv_row_reads_like_a_json_row() -> None:
    rows = parse_rows(CSV.encode(), "text/csv; charset=utf-8")
    phone = product_input(rows[0])
    assert phone.sku == "PHONE-X-B128"
    spec = phone.spec
    assert (spec.weight_grams, spec.lithium_ion, spec.warranty_months) == (200, True, 12)
    assert spec.axes == (AxisValue("colour", "black"), AxisValue("storage", "128GB"))
    assert [(a.name, a.value, a.unit) for a in spec.attributes] == [
        ("ports", "USB-C", None),
        ("refresh_rate", "120", "Hz"),
    ]
    assert (spec.price, spec.currency) == ("799.00", "USD")
    assert phone.certifications == (
        Certification("CE", "2025-01-01"),
        Certification("FCC", "2025-01-01", "2027-12-31"),
    )
    kit = product_input(rows[1])
    assert kit.spec.components == (Component("CABLE-1", 2), Component("PHONE-X-B128", 1))
    assert kit.certifications is None  # no certifications cell: left as they are
    json_row = {
        "sku": "PHONE-X-B128",
        "name": "Phone X black 128",
        "weight": "200 g",
        "ean": "4006381333931",
        "lithium_ion": True,
        "warranty_months": 12,
        "parent": "PHONE-X",
        "axes": {"colour": "black", "storage": "128GB"},
        "attributes": {"refresh_rate": 120, "ports": ["usb-c"]},
        "dimensions": [150, 70, 8],
        "price": "799.00",
        "currency": "USD",
        "certifications": [
            {"scheme": "FCC", "valid_from": "2025-01-01", "valid_to": "2027-12-31"},
            {"scheme": "ce", "valid_from": "2025-01-01"},
        ],
    }
    assert product_input(json_row) == phone


def test_every_field_at_fault_is_named_with_its_value() -> None:
    with pytest.raises(FieldErrors) as raised:
        product_input(
            {
                "sku": "BAD-1",
                "name": "x",
                "weight": "3 stone",
                "lithium_ion": "maybe",
                "attributes": {"refresh_rate": "60 fps"},
                "certifications": [{"scheme": "CE", "valid_from": "2025-13-01"}],
            }
        )
    problems = {e.field: e.problem for e in raised.value.errors}
    assert set(problems) == {"weight", "lithium_ion", "attributes", "certifications"}
    assert "unknown unit 'stone'" in problems["weight"]
    assert "'maybe' is not yes or no" in problems["lithium_ion"]
    assert "unknown unit 'fps'" in problems["attributes"]
    assert "'2025-13-01' is not a date" in problems["certifications"]


def test_a_wrong_check_digit_is_a_row_error_of_the_ean_field() -> None:
    with pytest.raises(FieldErrors) as raised:
        product_input({"sku": "A-1", "name": "A", "weight": 100, "ean": "5901234123458"})
    (error,) = raised.value.errors
    assert (error.field, error.problem) == (
        "ean",
        "ean '5901234123458' has a wrong EAN-13 check digit: 8, expected 7",
    )


def test_missing_required_fields() -> None:
    with pytest.raises(FieldErrors) as raised:
        product_input({"sku": "A-1"})
    assert {e.field for e in raised.value.errors} == {"name", "weight"}
    with pytest.raises(FieldErrors) as raised:
        product_input({"name": "A", "weight": 1})
    assert [e.field for e in raised.value.errors] == ["sku"]


def test_unreadable_uploads_are_refused_as_a_whole() -> None:
    with pytest.raises(InvalidInput, match="header row"):
        parse_rows(b"name,weight\nA,1\n", "text/csv")
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_rows(b"[{", "application/json")
    with pytest.raises(InvalidInput, match="unsupported content type"):
        parse_rows(b"", "application/xml")
    assert parse_rows(b'{"products": [{"sku": "A"}]}', "application/json") == [{"sku": "A"}]
