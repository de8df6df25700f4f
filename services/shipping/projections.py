"""Shipping's read models.

From the PIM's public events (applied by the handlers, rebuilt from `pim.events.v1` or the PIM's
store):
- `product_facts`: weight and lithium-ion, what a parcel's price and mode depend on;
- `product_dimensions`: a unit's outer size (a bulky parcel is charged by its volume).

From shipping's own consignments (applied when a consignment is saved, `save_projected`; rebuilt
from shipping's own store whatever the replay's source):
- `consignments_by_order`: an order's parcels (a hold applies to all of them);
- `consignments_awaiting_facts`: parcels planned before the PIM described all their products;
- `consignments_by_tracking`: the parcel a carrier's tracking number belongs to.
"""

from __future__ import annotations

import math
from decimal import Decimal

from contracts.envelope import Envelope
from contracts.pim import ProductChanged, ProductRegistered, ProductSpecified
from services.runtime.eventstore import ReadModelChange
from services.runtime.projections import ReadModels
from services.shipping.domain import Consignment

read_models = ReadModels(
    "CREATE TABLE IF NOT EXISTS product_facts ("
    " sku text PRIMARY KEY, weight_grams integer NOT NULL, lithium_ion boolean NOT NULL)",
    "CREATE TABLE IF NOT EXISTS consignments_by_order ("
    " order_id uuid NOT NULL, shipment_id uuid PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS product_dimensions ("
    " sku text PRIMARY KEY, length_mm numeric NOT NULL, width_mm numeric NOT NULL,"
    " height_mm numeric NOT NULL, volume_cm3 integer NOT NULL)",
    "CREATE TABLE IF NOT EXISTS consignments_awaiting_facts ("
    " sku text NOT NULL, shipment_id uuid NOT NULL, PRIMARY KEY (sku, shipment_id))",
    "CREATE TABLE IF NOT EXISTS consignments_by_tracking ("
    " carrier text NOT NULL, tracking_number text NOT NULL, shipment_id uuid NOT NULL,"
    " PRIMARY KEY (carrier, tracking_number))",
)


# -- the PIM's products ----------------------------------------------------------------------


@read_models.on_event(ProductRegistered, producer="pim")
@read_models.on_event(ProductChanged, producer="pim")
def product_facts(event: ProductRegistered | ProductChanged, _: Envelope) -> list[ReadModelChange]:
    """The PIM's facts that shipping needs: weight, and whether it may fly."""
    return [
        (
            "INSERT INTO product_facts (sku, weight_grams, lithium_ion) VALUES (%s, %s, %s)"
            " ON CONFLICT (sku) DO UPDATE SET weight_grams = excluded.weight_grams,"
            " lithium_ion = excluded.lithium_ion",
            (event.sku, event.weight_grams, event.lithium_ion),
        )
    ]


@read_models.on_event(ProductSpecified, producer="pim")
def product_dimensions(event: ProductSpecified, _: Envelope) -> list[ReadModelChange]:
    """The PIM's outer dimensions of a product, in millimetres (none: it has none, any more)."""
    if event.dimensions is None:
        return [("DELETE FROM product_dimensions WHERE sku = %s", (event.sku,))]
    size = event.dimensions
    length, width, height = (
        Decimal(size.length_mm),
        Decimal(size.width_mm),
        Decimal(size.height_mm),
    )
    return [
        (
            "INSERT INTO product_dimensions (sku, length_mm, width_mm, height_mm, volume_cm3)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (sku) DO UPDATE SET"
            " length_mm = excluded.length_mm, width_mm = excluded.width_mm,"
            " height_mm = excluded.height_mm, volume_cm3 = excluded.volume_cm3",
            (event.sku, length, width, height, math.ceil(length * width * height / 1000)),
        )
    ]


# -- shipping's own consignments -------------------------------------------------------------


@read_models.on_own_event(Consignment.Planned)
def consignment_planned(event: Consignment.Planned) -> list[ReadModelChange]:
    """A parcel of an order, waiting for the facts of the products the PIM has not described."""
    return [
        (
            "INSERT INTO consignments_by_order (order_id, shipment_id) VALUES (%s, %s)"
            " ON CONFLICT DO NOTHING",
            (event.order_id, event.originator_id),
        ),
        *(
            (
                "INSERT INTO consignments_awaiting_facts (sku, shipment_id) VALUES (%s, %s)"
                " ON CONFLICT DO NOTHING",
                (sku, event.originator_id),
            )
            for sku in event.missing_facts
        ),
    ]


@read_models.on_own_event(Consignment.FactsCompleted)
def facts_completed(event: Consignment.FactsCompleted) -> list[ReadModelChange]:
    """Every product of the parcel is described now: it waits for nothing more."""
    return [
        ("DELETE FROM consignments_awaiting_facts WHERE shipment_id = %s", (event.originator_id,))
    ]


@read_models.on_own_event(Consignment.LabelPurchased)
def label_purchased(event: Consignment.LabelPurchased) -> list[ReadModelChange]:
    """The parcel's tracking number, to find it by the carriers' scans."""
    return [
        (
            "INSERT INTO consignments_by_tracking (carrier, tracking_number, shipment_id)"
            " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            (event.label.request.carrier, event.label.tracking_number, event.originator_id),
        )
    ]
