"""Inventory's read models: what the PIM and shipping say that routing and bundles need.

- `bundle_components`: a bundle's components and how many of each (from the PIM's spec);
- `product_volumes`: a unit's outer volume (carriers charge bulky parcels by it);
- `product_facts`: weight and whether it holds a lithium-ion battery;
- `rate_card`: shipping's latest published rate card, as its JSON;
- `returned_unit_grades`: the grade of every returned unit, its failed checks and its inspector
  (from returns' `ReturnGraded`), so open-box and refurbished units are sold as what they are.

All are projections of other services' public events. The handlers apply them live
(`InventoryApplication.project`; a spec also re-decides what a bundle may sell, in
`record_product_spec`), and a replay rebuilds them from the topics or the stores.
"""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.pim import ProductChanged, ProductRegistered, ProductSpecified
from contracts.returns import ReturnGraded
from contracts.shipping import RateCardPublished
from services.inventory import translators
from services.runtime.eventstore import ReadModelChange
from services.runtime.projections import ReadModels

read_models = ReadModels(
    "CREATE TABLE IF NOT EXISTS bundle_components ("
    " bundle_sku text NOT NULL, component_sku text NOT NULL, quantity integer NOT NULL,"
    " PRIMARY KEY (bundle_sku, component_sku))",
    "CREATE TABLE IF NOT EXISTS product_volumes (sku text PRIMARY KEY, volume_cm3 integer NOT NULL)",
    "CREATE TABLE IF NOT EXISTS product_facts ("
    " sku text PRIMARY KEY, weight_grams integer NOT NULL, lithium_ion boolean NOT NULL)",
    "CREATE TABLE IF NOT EXISTS rate_card ("
    " id integer PRIMARY KEY CHECK (id = 1), card text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS returned_unit_grades ("
    " rma_id uuid PRIMARY KEY, sku text NOT NULL, serial text, grade text NOT NULL,"
    " failed_checks text[] NOT NULL, inspector text NOT NULL, override_reason text)",
    "CREATE INDEX IF NOT EXISTS returned_unit_grades_by_sku ON returned_unit_grades (sku, serial)",
)


@read_models.on_event(ProductRegistered, producer="pim")
@read_models.on_event(ProductChanged, producer="pim")
def product_facts(event: ProductRegistered | ProductChanged, _: Envelope) -> list[ReadModelChange]:
    """The PIM's facts that decide what a parcel costs: weight, and whether it may fly."""
    return [
        (
            "INSERT INTO product_facts (sku, weight_grams, lithium_ion) VALUES (%s, %s, %s)"
            " ON CONFLICT (sku) DO UPDATE SET weight_grams = excluded.weight_grams,"
            " lithium_ion = excluded.lithium_ion",
            (event.sku, event.weight_grams, event.lithium_ion),
        )
    ]


@read_models.on_event(ProductSpecified, producer="pim")
def product_specified(event: ProductSpecified, _: Envelope) -> list[ReadModelChange]:
    """A spec's bundle definition (none: it is no bundle) and the unit's outer volume."""
    sku = event.sku
    volume_cm3 = translators.product_volume(event)
    volume: ReadModelChange = (
        ("DELETE FROM product_volumes WHERE sku = %s", (sku,))
        if volume_cm3 is None
        else (
            "INSERT INTO product_volumes (sku, volume_cm3) VALUES (%s, %s)"
            " ON CONFLICT (sku) DO UPDATE SET volume_cm3 = excluded.volume_cm3",
            (sku, volume_cm3),
        )
    )
    return [
        volume,
        ("DELETE FROM bundle_components WHERE bundle_sku = %s", (sku,)),
        *(
            (
                "INSERT INTO bundle_components (bundle_sku, component_sku, quantity)"
                " VALUES (%s, %s, %s)",
                (sku, component, quantity),
            )
            for component, quantity in sorted(translators.bundle_components(event).items())
        ),
    ]


@read_models.on_event(RateCardPublished, producer="shipping")
def rate_card_published(event: RateCardPublished, _: Envelope) -> list[ReadModelChange]:
    """Shipping's latest rate card (its published JSON), to route orders by cost."""
    return [
        (
            "INSERT INTO rate_card (id, card) VALUES (1, %s)"
            " ON CONFLICT (id) DO UPDATE SET card = excluded.card",
            (event.model_dump_json(),),
        )
    ]


@read_models.on_event(ReturnGraded, producer="returns")
def return_graded(event: ReturnGraded, _: Envelope) -> list[ReadModelChange]:
    """A returned unit's grade; an RMA is graded once, so a repeat writes the same row."""
    failed = sorted(check for check, passed in event.checklist.items() if not passed)
    return [
        (
            "INSERT INTO returned_unit_grades"
            " (rma_id, sku, serial, grade, failed_checks, inspector, override_reason)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (rma_id) DO UPDATE SET grade = excluded.grade,"
            " failed_checks = excluded.failed_checks, inspector = excluded.inspector,"
            " override_reason = excluded.override_reason",
            (
                event.rma_id,
                event.sku,
                event.serial,
                event.grade,
                failed,
                event.inspector,
                event.override_reason,
            ),
        )
    ]
