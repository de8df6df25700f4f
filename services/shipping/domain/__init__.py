"""Shipping's domain: rate tables and the choice of a service, and consignments. Pure: no I/O."""

from services.shipping.domain.consignment import (
    Consignment,
    ConsignmentStatus,
    Label,
    LabelRequest,
    ParcelLine,
    Tracking,
    normalise_tracking,
)
from services.shipping.domain.rates import (
    CENT,
    DEFAULT_SERVICES,
    RATE_CARD_ID,
    CarrierService,
    Quote,
    RateCard,
    ShippingPolicy,
    choose_service,
)

__all__ = [
    "CENT",
    "DEFAULT_SERVICES",
    "RATE_CARD_ID",
    "CarrierService",
    "Consignment",
    "ConsignmentStatus",
    "Label",
    "LabelRequest",
    "ParcelLine",
    "Quote",
    "RateCard",
    "ShippingPolicy",
    "Tracking",
    "choose_service",
    "normalise_tracking",
]
