"""Inventory's read models: what the PIM and shipping say that routing and bundles need.

- the PIM's product facts and dimensions (`services.runtime.product_facts`, as shipping keeps
  them): weight, lithium-ion and a unit's outer volume, to estimate what a parcel costs;
- `bundle_components`: a bundle's components and how many of each (from the PIM's spec);
- `rate_card`: shipping's latest published rate card, as its JSON;
- `returned_unit_grades`: the grade of every returned unit, its failed checks and its inspector
  (from returns' `ReturnGraded`), so open-box and refurbished units are sold as what they are.

All are projections of other services' public events, consumed live from this declaration (a
spec also re-decides what a bundle may sell, in `record_product_spec`), and rebuilt by a replay
from the topics or the stores.
"""

from __future__ import annotations

from contracts.envelope import Envelope
from contracts.pim import ProductSpecified
from contracts.returns import ReturnGraded
from contracts.shipping import RateCardPublished
from services.inventory import translators
from services.runtime import product_facts
from services.runtime.projections import (
    Change,
    Delete,
    Index,
    Insert,
    ReadModels,
    Select,
    Table,
    Upsert,
)

BUNDLE_COMPONENTS = Table(
    "bundle_components",
    {"bundle_sku": "text", "component_sku": "text", "quantity": "integer"},
    key=("bundle_sku", "component_sku"),
)
RATE_CARD = Table("rate_card", {"id": "integer", "card": "text"}, key=("id",), checks=("id = 1",))
THE_RATE_CARD = Select(RATE_CARD.name, ("card",), where={"id": "="})
"""The rate card's JSON (one parameter: 1, its only row's id)."""
RETURNED_UNIT_GRADES = Table(
    "returned_unit_grades",
    {
        "rma_id": "uuid",
        "sku": "text",
        "serial": "text?",
        "grade": "text",
        "failed_checks": "text[]",
        "inspector": "text",
        "override_reason": "text?",
    },
    key=("rma_id",),
    indexes=(Index("returned_unit_grades_by_sku", ("sku", "serial")),),
)

read_models = ReadModels(
    BUNDLE_COMPONENTS,
    RATE_CARD,
    RETURNED_UNIT_GRADES,
    include=[product_facts.read_models],
)


@read_models.on_event(ProductSpecified, producer="pim")
def bundle(event: ProductSpecified, _: Envelope) -> list[Change]:
    """A spec's bundle definition (none: it is no bundle)."""
    components = sorted(translators.bundle_components(event).items())
    return [
        Delete(BUNDLE_COMPONENTS.name, {"bundle_sku": event.sku}),
        *(
            Insert(
                BUNDLE_COMPONENTS.name,
                {"bundle_sku": event.sku, "component_sku": component, "quantity": quantity},
            )
            for component, quantity in components
        ),
    ]


@read_models.on_event(RateCardPublished, producer="shipping")
def rate_card_published(event: RateCardPublished, _: Envelope) -> list[Change]:
    """Shipping's latest rate card (its published JSON), to route orders by cost."""
    return [Upsert(RATE_CARD.name, {"id": 1, "card": event.model_dump_json()})]


@read_models.on_event(ReturnGraded, producer="returns")
def return_graded(event: ReturnGraded, _: Envelope) -> list[Change]:
    """A returned unit's grade; an RMA is graded once, so a repeat writes the same row."""
    failed = sorted(check for check, passed in event.checklist.items() if not passed)
    row = {
        "rma_id": event.rma_id,
        "sku": event.sku,
        "serial": event.serial,
        "grade": event.grade,
        "failed_checks": failed,
        "inspector": event.inspector,
        "override_reason": event.override_reason,
    }
    # A regrade replaces what the unit was graded; the unit itself stays the one first graded.
    update = ("grade", "failed_checks", "inspector", "override_reason")
    return [Upsert(RETURNED_UNIT_GRADES.name, row, update=update)]
