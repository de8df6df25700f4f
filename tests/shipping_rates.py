"""The carriers' rate table the shipping service ships with, for tests that price parcels."""

from __future__ import annotations

from functools import cache

from services.shipping import translators
from services.shipping.config import RATE_TABLES, ShippingSettings
from services.shipping.domain import RateTable, ShippingPolicy


@cache
def packaged_table() -> RateTable:
    (document,) = ShippingSettings(rate_tables=RATE_TABLES).rate_table_documents()
    return translators.rate_table(document)


def priced(policy: ShippingPolicy | None = None) -> ShippingPolicy:
    """`policy` (default: the settings' defaults) with the packaged table's services."""
    return (policy or ShippingPolicy()).with_table(packaged_table())
