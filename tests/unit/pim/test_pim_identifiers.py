"""PIM identifiers: SKU, EAN-13 / UPC-A check digits, MPN."""

from __future__ import annotations

import pytest

from services.pim.domain import (
    FieldError,
    check_gtin,
    check_mpn,
    check_sku,
    gtin13,
    gtin_check_digit,
    product_id_for,
)

KNOWN_GOOD = ["4006381333931", "5901234123457", "9780306406157", "036000291452", "012345678905"]


@pytest.mark.parametrize("code", KNOWN_GOOD)
def test_known_good_barcodes_pass(code: str) -> None:
    assert check_gtin(code) == code
    assert gtin_check_digit(code[:-1]) == int(code[-1])


def test_a_wrong_check_digit_names_the_field_the_value_and_the_expected_digit() -> None:
    with pytest.raises(FieldError) as raised:
        check_gtin("4006381333932")
    assert raised.value.field == "ean"
    assert str(raised.value) == (
        "ean '4006381333932' has a wrong EAN-13 check digit: 2, expected 1"
    )


def test_a_wrong_upc_a_check_digit_is_refused() -> None:
    with pytest.raises(FieldError, match=r"UPC-A check digit: 3, expected 2"):
        check_gtin("036000291453")


@pytest.mark.parametrize("code", ["400638133393", "40063813339311", "40063813339A1", ""])
def test_a_barcode_of_the_wrong_length_or_with_letters_is_refused(code: str) -> None:
    if len(code) == 12:
        # 12 digits is a UPC-A; this one's last digit is simply wrong
        with pytest.raises(FieldError, match="check digit"):
            check_gtin(code)
        return
    with pytest.raises(FieldError, match="not an EAN-13"):
        check_gtin(code)


def test_a_upc_a_and_its_ean_13_form_are_one_product() -> None:
    assert gtin13("036000291452") == "0036000291452"
    assert check_gtin("0036000291452")


def test_sku_and_mpn_rules() -> None:
    assert check_sku("LAPTOP-14/512.B_2") == "LAPTOP-14/512.B_2"
    with pytest.raises(FieldError, match="not a valid SKU"):
        check_sku("-bad")
    with pytest.raises(FieldError, match="not a valid SKU"):
        check_sku("has space")
    assert check_mpn(" MX-1234/B ") == "MX-1234/B"
    with pytest.raises(FieldError, match="manufacturer part number"):
        check_mpn("")


def test_a_sku_is_one_product_id() -> None:
    assert product_id_for("A-1") == product_id_for("A-1") != product_id_for("A-2")
