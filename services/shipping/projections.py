"""Shipping's read models.

From the PIM's public events (consumed live, rebuilt from `pim.events.v1` or the PIM's store):
the product facts and dimensions (`services.runtime.product_facts`, as inventory keeps them):
weight and lithium-ion, what a parcel's price and mode depend on, and a unit's outer size (a bulky
parcel is charged by its volume).

From shipping's own consignments (applied when a consignment is saved, `save_projected`; rebuilt
from shipping's own store whatever the replay's source):
- `consignments_by_order`: an order's parcels (a hold applies to all of them);
- `consignments_awaiting_facts`: parcels planned before the PIM described all their products;
- `consignments_by_tracking`: the parcel a carrier's tracking number belongs to.
"""

from __future__ import annotations

from services.runtime import product_facts
from services.runtime.projections import Change, Delete, Insert, ReadModels, Select, Table
from services.shipping.domain import Consignment

CONSIGNMENTS_BY_ORDER = Table(
    "consignments_by_order", {"order_id": "uuid", "shipment_id": "uuid"}, key=("shipment_id",)
)
CONSIGNMENTS_AWAITING_FACTS = Table(
    "consignments_awaiting_facts",
    {"sku": "text", "shipment_id": "uuid"},
    key=("sku", "shipment_id"),
)
CONSIGNMENTS_BY_TRACKING = Table(
    "consignments_by_tracking",
    {"carrier": "text", "tracking_number": "text", "shipment_id": "uuid"},
    key=("carrier", "tracking_number"),
)

AWAITING_FACTS_OF = Select(CONSIGNMENTS_AWAITING_FACTS.name, ("shipment_id",), where={"sku": "="})
"""The parcels waiting for a product's facts (one parameter: its SKU)."""
OF_ORDER = Select(CONSIGNMENTS_BY_ORDER.name, ("shipment_id",), where={"order_id": "="})
"""An order's parcels (one parameter: its id)."""
BY_TRACKING = Select(
    CONSIGNMENTS_BY_TRACKING.name, ("shipment_id",), where={"carrier": "=", "tracking_number": "="}
)
"""The parcel with a carrier's tracking number (parameters: the carrier and the number)."""

read_models = ReadModels(
    CONSIGNMENTS_BY_ORDER,
    CONSIGNMENTS_AWAITING_FACTS,
    CONSIGNMENTS_BY_TRACKING,
    include=[product_facts.read_models],
)


@read_models.on_own_event(Consignment.Planned)
def consignment_planned(event: Consignment.Planned) -> list[Change]:
    """A parcel of an order, waiting for the facts of the products the PIM has not described."""
    shipment_id = event.originator_id
    return [
        Insert(
            CONSIGNMENTS_BY_ORDER.name, {"order_id": event.order_id, "shipment_id": shipment_id}
        ),
        *(
            Insert(CONSIGNMENTS_AWAITING_FACTS.name, {"sku": sku, "shipment_id": shipment_id})
            for sku in event.missing_facts
        ),
    ]


@read_models.on_own_event(Consignment.FactsCompleted)
def facts_completed(event: Consignment.FactsCompleted) -> list[Change]:
    """Every product of the parcel is described now: it waits for nothing more."""
    return [Delete(CONSIGNMENTS_AWAITING_FACTS.name, {"shipment_id": event.originator_id})]


@read_models.on_own_event(Consignment.LabelPurchased)
def label_purchased(event: Consignment.LabelPurchased) -> list[Change]:
    """The parcel's tracking number, to find it by the carriers' scans."""
    row = {
        "carrier": event.label.request.carrier,
        "tracking_number": event.label.tracking_number,
        "shipment_id": event.originator_id,
    }
    return [Insert(CONSIGNMENTS_BY_TRACKING.name, row)]
