"""Typed technical attributes with units: parsed, validated and normalised to one unit each. Pure.

"144Hz", "144 hz" and 144 are one refresh rate, 144 Hz; "0.5 kg" is a weight of 500 g. A unit the
attribute does not know is refused rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from services.runtime.aggregate import DomainError

_NUMBER = r"[0-9]+(?:[.,][0-9]+)?"
_QUANTITY = re.compile(rf"^\s*({_NUMBER})(?:\s*-\s*({_NUMBER}))?\s*([A-Za-z\"″']*)\s*$")
_DIMENSIONS = re.compile(
    rf"^\s*({_NUMBER})\s*[x\u00d7*]\s*({_NUMBER})\s*[x\u00d7*]\s*({_NUMBER})\s*([A-Za-z\"″']*)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Quantity:
    """What an attribute measures: its normalised unit, the units accepted and sensible bounds."""

    unit: str
    factors: tuple[tuple[str, str], ...]
    """Accepted unit spellings (lower case) and the factor to the normalised unit."""
    minimum: str
    maximum: str
    ranges: bool = False
    """Whether a range such as "100-240 V" is a valid value."""

    def factor(self, unit: str) -> Decimal | None:
        if not unit:
            return Decimal(1)
        for spelling, factor in self.factors:
            if spelling == unit.lower():
                return Decimal(factor)
        return None

    def spellings(self) -> str:
        return ", ".join(sorted({spelling for spelling, _ in self.factors}))


VOLTS = Quantity(
    "V", (("v", "1"), ("volt", "1"), ("volts", "1"), ("kv", "1000")), "0", "1000", True
)
HERTZ = Quantity(
    "Hz",
    (("hz", "1"), ("khz", "1000"), ("mhz", "1000000"), ("ghz", "1000000000")),
    "0",
    "1e12",
    True,
)
WATT_HOURS = Quantity("Wh", (("wh", "1"), ("kwh", "1000")), "0", "100000")
INCHES = Quantity(
    "in",
    (("in", "1"), ("inch", "1"), ("inches", "1"), ('"', "1"), ("″", "1"), ("cm", "0.3937007874")),
    "0.1",
    "300",
)
GRAMS = Quantity(
    "g",
    (
        ("g", "1"),
        ("gram", "1"),
        ("grams", "1"),
        ("kg", "1000"),
        ("lb", "453.59237"),
        ("lbs", "453.59237"),
        ("oz", "28.349523125"),
    ),
    "0",
    "1000000",
)
MILLIMETRES = Quantity(
    "mm", (("mm", "1"), ("cm", "10"), ("m", "1000"), ("in", "25.4"), ('"', "25.4")), "0.1", "10000"
)

MEASURED: dict[str, Quantity] = {
    "voltage": VOLTS,
    "frequency": HERTZ,
    "battery": WATT_HOURS,
    "refresh_rate": replace(HERTZ, maximum="1000", ranges=False),
    "screen_size": INCHES,
}
"""Attributes with a unit, by name; `ports` is a list and the rest of the facts live on the spec."""

PORTS: dict[str, str] = {
    "usb-c": "USB-C",
    "usbc": "USB-C",
    "usb-a": "USB-A",
    "usb": "USB-A",
    "lightning": "Lightning",
    "hdmi": "HDMI",
    "displayport": "DisplayPort",
    "dp": "DisplayPort",
    "thunderbolt": "Thunderbolt",
    "ethernet": "Ethernet",
    "rj45": "Ethernet",
    "audio": "3.5mm audio",
    "3.5mm": "3.5mm audio",
    "sd": "SD card",
    "microsd": "microSD card",
}
ATTRIBUTE_NAMES = (*MEASURED, "ports")


@dataclass(frozen=True)
class Attribute:
    """One technical attribute, normalised: `value` is a decimal (or range, or list) in `unit`."""

    name: str
    value: str
    unit: str | None


@dataclass(frozen=True)
class Dimensions:
    """Outer dimensions of one unit, in millimetres."""

    length_mm: str
    width_mm: str
    height_mm: str


def _decimal(text: str) -> Decimal:
    return Decimal(text.replace(",", "."))


def _plain(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 144, 0.5, 100."""
    text = format(value.normalize(), "f")
    return text


def _measure(name: str, raw: object, quantity: Quantity) -> tuple[list[Decimal], str]:
    if isinstance(raw, bool):
        raise DomainError(f"{name}: {raw!r} is not a quantity in {quantity.unit}")
    if isinstance(raw, int | float | Decimal):
        values = [Decimal(str(raw))]
        unit = ""
    elif isinstance(raw, str):
        match = _QUANTITY.match(raw)
        if match is None:
            raise DomainError(
                f"{name}: {raw!r} is not a quantity (expected e.g. '12 {quantity.unit}')"
            )
        low, high, unit = match.groups()
        if high is not None and not quantity.ranges:
            raise DomainError(f"{name}: {raw!r} is a range; {name} takes one value")
        try:
            values = [_decimal(low)] + ([_decimal(high)] if high is not None else [])
        except InvalidOperation:
            raise DomainError(f"{name}: {raw!r} is not a number") from None
    else:
        raise DomainError(f"{name}: {raw!r} is not a quantity in {quantity.unit}")
    factor = quantity.factor(unit)
    if factor is None:
        raise DomainError(
            f"{name}: unknown unit {unit!r} in {raw!r} (expected {quantity.spellings()})"
        )
    normalised = [value * factor for value in values]
    for value in normalised:
        if not Decimal(quantity.minimum) < value <= Decimal(quantity.maximum):
            raise DomainError(
                f"{name}: {raw!r} is out of range ({quantity.minimum} to {quantity.maximum} "
                f"{quantity.unit})"
            )
    if len(normalised) == 2 and normalised[0] >= normalised[1]:
        raise DomainError(f"{name}: the range {raw!r} must go from low to high")
    return normalised, quantity.unit


def normalise_attribute(name: str, raw: object) -> Attribute:
    """The attribute `name` with value `raw` (a number, or text with a unit), normalised."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if key == "ports":
        return Attribute("ports", ",".join(_ports(raw)), None)
    quantity = MEASURED.get(key)
    if quantity is None:
        raise DomainError(f"unknown attribute {name!r} (known: {', '.join(ATTRIBUTE_NAMES)})")
    values, unit = _measure(key, raw, quantity)
    # Two decimals are more than any spec sheet states; rounding keeps 0.3937… inch factors tidy.
    rounded = [value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for value in values]
    return Attribute(key, "-".join(_plain(value) for value in rounded), unit)


def _ports(raw: object) -> list[str]:
    items: list[object]
    if isinstance(raw, str):
        items = [part for part in re.split(r"[,;|]", raw) if part.strip()]
    elif isinstance(raw, list | tuple):
        items = list(raw)
    else:
        raise DomainError(f"ports: {raw!r} is not a list of ports")
    ports: list[str] = []
    for item in items:
        spelled = str(item).strip()
        port = PORTS.get(spelled.lower().replace(" ", ""))
        if port is None:
            raise DomainError(
                f"ports: unknown port {spelled!r} (known: {', '.join(sorted(set(PORTS.values())))})"
            )
        if port not in ports:
            ports.append(port)
    return sorted(ports)


def normalise_attributes(raw: dict[str, object]) -> tuple[Attribute, ...]:
    """All attributes of a spec, normalised, in name order; empty values are left out."""
    attributes = [
        normalise_attribute(name, value)
        for name, value in raw.items()
        if value is not None and value != ""
    ]
    names = [attribute.name for attribute in attributes]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise DomainError(f"attribute {sorted(duplicates)[0]!r} is given twice")
    return tuple(sorted(attributes, key=lambda attribute: attribute.name))


def normalise_weight(raw: object, field: str = "weight_grams") -> int:
    """A shipping weight in whole grams: 500, "500 g", "0.5 kg", "1.1 lb"."""
    values, _ = _measure(field, raw, GRAMS)
    return int(values[0].quantize(Decimal(1), rounding=ROUND_HALF_UP))


def normalise_dimensions(raw: object, field: str = "dimensions") -> Dimensions:
    """Length by width by height in millimetres: "300 x 200 x 15 mm", "30x20x1.5cm", [300, 200, 15]."""
    if isinstance(raw, list | tuple) and len(raw) == 3:
        parts: list[object] = list(raw)
        unit = ""
    elif isinstance(raw, str) and (match := _DIMENSIONS.match(raw)):
        *numbers, unit = match.groups()
        parts = list(numbers)
    else:
        raise DomainError(
            f"{field}: {raw!r} is not length x width x height (e.g. '300 x 200 x 15 mm')"
        )
    millimetres: list[str] = []
    for part in parts:
        values, _ = _measure(field, f"{part} {unit}" if unit else part, MILLIMETRES)
        millimetres.append(_plain(values[0].quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)))
    return Dimensions(*millimetres)
