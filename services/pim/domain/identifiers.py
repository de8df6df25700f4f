"""Product identifiers: SKU, GTIN (EAN-13 / UPC-A) with its check digit, MPN. Pure."""

from __future__ import annotations

import re
import uuid

from services.pim.domain.errors import FieldError

PRODUCT_NAMESPACE = uuid.UUID("5d3c7a10-9e2b-4f61-8a4d-1c0b9e7f6a52")
SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
MPN_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/+#-]{0,63}$")


def product_id_for(sku: str) -> uuid.UUID:
    """The id of the sellable product (variant) with this SKU; derived, so a SKU is one product."""
    return uuid.uuid5(PRODUCT_NAMESPACE, sku)


def check_sku(sku: str, field: str = "sku") -> str:
    if not SKU_PATTERN.match(sku):
        raise FieldError(
            field,
            f"{field} {sku!r} is not a valid SKU (1 to 64 letters, digits, '.', '_', '/', '-')",
        )
    return sku


def gtin_check_digit(body: str) -> int:
    """The GS1 check digit of a GTIN without its last digit: weights 3, 1, 3, … from the right."""
    total = sum(int(digit) * (3 if i % 2 == 0 else 1) for i, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def check_gtin(value: str, field: str = "ean") -> str:
    """An EAN-13 (13 digits) or UPC-A (12 digits) whose check digit is right, as given.

    A single wrong digit names another product, so a wrong check digit is refused, never corrected.
    """
    code = value.strip()
    if not code.isdigit() or len(code) not in (12, 13):
        raise FieldError(
            field, f"{field} {value!r} is not an EAN-13 (13 digits) or a UPC-A (12 digits)"
        )
    expected = gtin_check_digit(code[:-1])
    if int(code[-1]) != expected:
        kind = "EAN-13" if len(code) == 13 else "UPC-A"
        raise FieldError(
            field,
            f"{field} {value!r} has a wrong {kind} check digit: {code[-1]}, expected {expected}",
        )
    return code


def gtin13(code: str) -> str:
    """The 13-digit form: a UPC-A is the EAN-13 with a leading zero, so both name one product."""
    return code.zfill(13)


def check_mpn(value: str, field: str = "mpn") -> str:
    mpn = value.strip()
    if not MPN_PATTERN.match(mpn):
        raise FieldError(field, f"{field} {value!r} is not a valid manufacturer part number")
    return mpn
