"""Shipping's domain: rate tables and the choice of a service, and consignments. Pure: no I/O."""

from services.shipping.domain.consignment import (
    Consignment,
    ConsignmentStatus,
    Label,
    LabelRequest,
    ParcelLine,
    ProductFacts,
    Tracking,
    normalise_tracking,
)
from services.shipping.domain.rates import (
    CENT,
    RATE_CARD_ID,
    CarrierService,
    DeliveryPromise,
    Quote,
    RateCard,
    RateTable,
    RateTableConflict,
    ServiceLevel,
    ShippingPolicy,
    choose_service,
)
from services.shipping.domain.return_consignment import (
    ReturnConsignment,
    return_consignment_id_for,
    return_label_request,
)

__all__ = [
    "CENT",
    "RATE_CARD_ID",
    "CarrierService",
    "Consignment",
    "ConsignmentStatus",
    "DeliveryPromise",
    "Label",
    "LabelRequest",
    "ParcelLine",
    "ProductFacts",
    "Quote",
    "RateCard",
    "RateTable",
    "RateTableConflict",
    "ReturnConsignment",
    "ServiceLevel",
    "ShippingPolicy",
    "Tracking",
    "choose_service",
    "normalise_tracking",
    "return_consignment_id_for",
    "return_label_request",
]
