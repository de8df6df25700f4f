"""Return labels: a customer sends an authorised return back to a warehouse. Pure: no I/O."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Self

from services.runtime.aggregate import Aggregate
from services.shipping.domain.consignment import LabelRequest
from services.shipping.domain.rates import ShippingPolicy, choose_service

RETURN_NAMESPACE = uuid.UUID("9f2c4e61-7a3d-4b8e-a1c5-3d6e8f0b2a94")


def return_consignment_id_for(rma_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(RETURN_NAMESPACE, str(rma_id))


def return_label_request(
    policy: ShippingPolicy, *, weight_grams: int, from_country: str, return_to: str
) -> LabelRequest:
    """The cheapest ground service from the customer to the warehouse.

    Returns always go by ground: the unit's state is unknown, and a damaged lithium-ion battery
    must not fly. They are not insured (the customer's refund waits for the inspection, not for
    the carrier) and need no signature.
    """
    quote, promise_met = choose_service(
        policy,
        weight_grams=weight_grams,
        origin=from_country,
        country=policy.origin_of(return_to),
        ground_only=True,
    )
    return LabelRequest(
        carrier=quote.service.carrier,
        service=quote.service.service,
        mode=quote.service.mode,
        cost=quote.cost,
        transit_days=quote.transit_days,
        promise_met=promise_met,
        insured_value=Decimal("0.00"),
        insurance_cost=Decimal("0.00"),
        signature_required=False,
    )


class ReturnConsignment(Aggregate):
    """The return label of one RMA: bought once."""

    class LabelPurchased(Aggregate.Created):
        rma_id: uuid.UUID
        order_id: uuid.UUID
        return_to: str
        request: LabelRequest
        tracking_number: str

        def apply(self, consignment: ReturnConsignment) -> None:
            consignment.rma_id = self.rma_id
            consignment.order_id = self.order_id
            consignment.return_to = self.return_to
            consignment.request = self.request
            consignment.tracking_number = self.tracking_number

    if TYPE_CHECKING:
        rma_id: uuid.UUID
        order_id: uuid.UUID
        return_to: str
        request: LabelRequest
        tracking_number: str

    @classmethod
    def labelled(
        cls,
        *,
        rma_id: uuid.UUID,
        order_id: uuid.UUID,
        return_to: str,
        request: LabelRequest,
        tracking_number: str,
    ) -> Self:
        return cls._create(
            cls.LabelPurchased,
            id=return_consignment_id_for(rma_id),
            rma_id=rma_id,
            order_id=order_id,
            return_to=return_to,
            request=request,
            tracking_number=tracking_number,
        )
