"""Order's read models: where the PIM lists each variant (the catalogue entry per market), which a
paid order's lines are checked against.

Both are projections of the PIM's public events; the handlers apply them live
(`OrderApplication.project`) and a replay rebuilds them from `pim.events.v1` or the PIM's store.
"""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.pim import CatalogueEntryChanged, CatalogueEntryWithdrawn, ProductRegistered
from services.runtime.eventstore import ReadModelChange
from services.runtime.projections import ReadModels

read_models = ReadModels(
    # Per variant and market: listed (NULL) or why not.
    "CREATE TABLE IF NOT EXISTS catalogue_listings ("
    " sku text NOT NULL, market text NOT NULL, not_listed_because text,"
    " PRIMARY KEY (sku, market))",
    # Variants the PIM registered: their lines ship only where they are listed.
    "CREATE TABLE IF NOT EXISTS catalogued_products (sku text PRIMARY KEY)",
)


def _catalogued(sku: str) -> ReadModelChange:
    return ("INSERT INTO catalogued_products (sku) VALUES (%s) ON CONFLICT DO NOTHING", (sku,))


def _listing(sku: str, market: str, not_listed_because: str | None) -> ReadModelChange:
    return (
        "INSERT INTO catalogue_listings (sku, market, not_listed_because)"
        " VALUES (%s, %s, %s) ON CONFLICT (sku, market)"
        " DO UPDATE SET not_listed_because = excluded.not_listed_because",
        (sku, market, not_listed_because),
    )


@read_models.on_event(ProductRegistered, producer="pim")
def product_registered(event: ProductRegistered, _: Envelope) -> list[ReadModelChange]:
    """The PIM registered a variant: from now on its lines ship only where it is listed."""
    return [_catalogued(event.sku)]


@read_models.on_event(CatalogueEntryChanged, producer="pim")
def listed(event: CatalogueEntryChanged, _: Envelope) -> list[ReadModelChange]:
    """The PIM listed a variant in a market's catalogue."""
    return [_catalogued(event.sku), _listing(event.sku, event.market, None)]


@read_models.on_event(CatalogueEntryWithdrawn, producer="pim")
def withdrawn(event: CatalogueEntryWithdrawn, _: Envelope) -> list[ReadModelChange]:
    """The PIM withdrew a variant from a market's catalogue, with the reason."""
    return [_catalogued(event.sku), _listing(event.sku, event.market, event.reason)]
