"""What the PIM's product specs decide in inventory: bundles and what channels may sell of them."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from eventsourcing.application import AggregateNotFoundError

from contracts.envelope import Envelope
from contracts.pim import ProductSpecified
from services.inventory import translators
from services.inventory.application.core import InventoryCore
from services.inventory.domain import (
    BundleAvailability,
    bundle_availability_id_for,
)


class Catalogue(InventoryCore):
    """The PIM's specs kept here, and bundles."""

    def record_product_spec(self, event: ProductSpecified, envelope: Envelope) -> None:
        """Keep what the PIM's spec decides here (`projections.py`: a bundle's components, none
        when it is no bundle, and the unit's outer volume: carriers charge bulky parcels by
        volume, so routing estimates them that way), and publish how many of a bundle each
        channel may sell."""
        components = translators.bundle_components(event)
        bundle = self._bundle_availability(event.sku, components, {}) if components else None
        self.save_projected(
            *([bundle] if bundle is not None else []),
            read_model_changes=self.projected(event, envelope),
        )

    def get_bundle(self, sku: str) -> dict[str, Any] | None:
        """A bundle's components, what each channel was last told it may sell of it, and the
        whole kits owed to order lines, oldest first."""
        components = {
            row["component_sku"]: row["quantity"]
            for row in self.read(
                "SELECT component_sku, quantity FROM bundle_components WHERE bundle_sku = %s", sku
            )
        }
        if not components:
            return None
        try:
            bundle: BundleAvailability = self.get(
                bundle_availability_id_for(sku), BundleAvailability
            )
            published = dict(bundle.published)
        except AggregateNotFoundError:
            published = {}
        owed = self._owed_kits(sku)
        return {
            "sku": sku,
            "components": components,
            "available_to_sell": published,
            "backorders": [asdict(line) for line in owed.owed] if owed is not None else [],
        }
