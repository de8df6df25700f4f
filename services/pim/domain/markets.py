"""Markets and certifications: where a variant may be sold. Pure.

A variant is sold in a market only while it holds a valid certification of every scheme the market
requires (by default FCC for the US, CE for the EU, UKCA for the UK, ISED for Canada; configurable per
deployment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from services.runtime.aggregate import DomainError

SCHEME_PATTERN = re.compile(r"^[A-Z][A-Z0-9-]{1,15}$")
MARKET_PATTERN = re.compile(r"^[A-Z]{2,3}$")

DEFAULT_MARKET_CERTIFICATIONS: dict[str, tuple[str, ...]] = {
    "US": ("FCC",),
    "EU": ("CE",),
    "UK": ("UKCA",),
    "CA": ("ISED",),
}
"""Which certification schemes each market requires, unless the deployment configures others."""


def parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError(f"{field} {value!r} is not a date (YYYY-MM-DD)") from None


@dataclass(frozen=True)
class Certification:
    """A certificate of one scheme (FCC, CE, UKCA, UL, …) for one variant, valid from/to (inclusive
    ISO dates; no end date means valid until withdrawn)."""

    scheme: str
    valid_from: str
    valid_to: str | None = None
    certificate_number: str | None = None

    def check(self) -> Certification:
        if not SCHEME_PATTERN.match(self.scheme):
            raise DomainError(
                f"certification scheme {self.scheme!r} is not a scheme code (e.g. CE)"
            )
        start = parse_date(self.valid_from, "valid_from")
        if self.valid_to is not None and parse_date(self.valid_to, "valid_to") < start:
            raise DomainError(
                f"{self.scheme} certification ends ({self.valid_to}) before it starts "
                f"({self.valid_from})"
            )
        return self

    def valid_on(self, day: date) -> bool:
        if date.fromisoformat(self.valid_from) > day:
            return False
        return self.valid_to is None or day <= date.fromisoformat(self.valid_to)


@dataclass(frozen=True)
class MarketRules:
    """The certification schemes each market requires (all of them)."""

    required: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def of(cls, mapping: dict[str, tuple[str, ...]] | dict[str, list[str]]) -> MarketRules:
        for market, schemes in mapping.items():
            if not MARKET_PATTERN.match(market):
                raise DomainError(f"market {market!r} is not a market code (e.g. US, EU, UK)")
            if not schemes:
                raise DomainError(f"market {market} requires no certification; name at least one")
        return cls(tuple(sorted((m, tuple(sorted(s))) for m, s in mapping.items())))

    @property
    def markets(self) -> tuple[str, ...]:
        return tuple(market for market, _ in self.required)

    def schemes_for(self, market: str) -> tuple[str, ...]:
        for known, schemes in self.required:
            if known == market:
                return schemes
        raise DomainError(f"unknown market {market!r} (known: {', '.join(self.markets)})")

    def missing(
        self, market: str, certifications: tuple[Certification, ...], day: date
    ) -> tuple[str, ...]:
        """The schemes the market requires that have no certification valid on `day`."""
        valid = {c.scheme for c in certifications if c.valid_on(day)}
        return tuple(scheme for scheme in self.schemes_for(market) if scheme not in valid)


DEFAULT_MARKET_RULES = MarketRules.of(DEFAULT_MARKET_CERTIFICATIONS)
