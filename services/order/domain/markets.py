"""Market eligibility: may this order's lines ship to its destination country? Pure.

The PIM decides where a variant may be sold (a valid certificate of every scheme a market requires)
and publishes it as catalogue entries per market. The order service keeps what it heard
(`CatalogueKnowledge`) and holds a paid order with a line for a variant that is not listed in the
destination's market, naming the line and the PIM's reason. A SKU the PIM never registered (a
service, a gift card sold by a channel) is not the catalogue's to judge and is not checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.order.domain.values import OrderLine

EU_COUNTRIES = [
    "AT",
    "BE",
    "BG",
    "CY",
    "CZ",
    "DE",
    "DK",
    "EE",
    "ES",
    "FI",
    "FR",
    "GR",
    "HR",
    "HU",
    "IE",
    "IT",
    "LT",
    "LU",
    "LV",
    "MT",
    "NL",
    "PL",
    "PT",
    "RO",
    "SE",
    "SI",
    "SK",
]

DEFAULT_MARKET_COUNTRIES: dict[str, tuple[str, ...]] = {
    "US": ("US",),
    "EU": tuple(EU_COUNTRIES),
    "UK": ("GB",),
    "CA": ("CA",),
}
"""The countries of each market the PIM certifies for (ISO 3166-1 alpha-2), unless configured."""


@dataclass(frozen=True)
class MarketMap:
    """Which market each destination country belongs to."""

    countries: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, markets: Mapping[str, Sequence[str]]) -> MarketMap:
        owner: dict[str, str] = {}
        for market, countries in sorted(markets.items()):
            for country in countries:
                if country in owner:
                    raise ValueError(f"country {country} is in both {owner[country]} and {market}")
                owner[country] = market
        return cls(tuple(sorted(owner.items())))

    def market_of(self, country: str) -> str | None:
        return dict(self.countries).get(country)


NOT_LISTED = "no catalogue entry"
"""Why a registered variant is not sold in a market the PIM never listed it in."""


@dataclass(frozen=True)
class CatalogueKnowledge:
    """What the PIM said of some SKUs: sku → market → None when listed, else why not.

    A SKU with no entry at all was never registered in the PIM; a registered SKU missing a market
    was never listed there (typically: never certified for it).
    """

    listings: Mapping[str, Mapping[str, str | None]]

    def problem(self, sku: str, market: str) -> str | None:
        markets = self.listings.get(sku)
        if markets is None:
            return None
        if market not in markets:
            return NOT_LISTED
        return markets[market]


def ineligible_lines(
    lines: Sequence[OrderLine], country: str, markets: MarketMap, catalogue: CatalogueKnowledge
) -> tuple[str, ...]:
    """Why each line that may not ship to `country` may not, in line order (empty: all may)."""
    market = markets.market_of(country)
    problems = []
    for line in lines:
        if line.sku not in catalogue.listings:
            continue
        if market is None:
            problems.append(f"line {line.line_number} ({line.sku}): {country} is in no market")
            continue
        problem = catalogue.problem(line.sku, market)
        if problem is not None:
            problems.append(
                f"line {line.line_number} ({line.sku}) is not sellable in {market}: {problem}"
            )
    return tuple(problems)
