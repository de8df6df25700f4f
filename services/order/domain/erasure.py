"""A customer's erasure requests (GDPR Art. 17): the record that a customer was forgotten. Pure.

Forgetting deletes the customer's key (which the application does); this aggregate makes the fact
an event, so that every service holding the customer's data drops it (`CustomerForgotten`)."""

from __future__ import annotations

import uuid
from typing import Self

from services.runtime.aggregate import Aggregate

ERASURE_NAMESPACE = uuid.UUID("6f1d3b1e-6c5e-4f0e-9a57-3c0b5f2f9e11")


def erasure_id_for(customer_id: str) -> uuid.UUID:
    """One erasure record per customer id."""
    return uuid.uuid5(ERASURE_NAMESPACE, customer_id)


class CustomerErasure(Aggregate):
    """The erasure requests of one customer: the first, and any later one (a channel may have
    sent an order of the customer since, sealed under a new key)."""

    class Forgotten(Aggregate.Created):
        customer_id: str
        actor: str

        def apply(self, erasure: CustomerErasure) -> None:
            erasure.customer_id = self.customer_id

    class ForgottenAgain(Aggregate.Event):
        customer_id: str
        actor: str

    customer_id: str = ""

    @classmethod
    def forget(cls, customer_id: str, actor: str) -> Self:
        """The first erasure request of `customer_id`, by `actor`."""
        return cls._create(
            cls.Forgotten, id=erasure_id_for(customer_id), customer_id=customer_id, actor=actor
        )

    def forget_again(self, actor: str) -> None:
        self.trigger_event(self.ForgottenAgain, customer_id=self.customer_id, actor=actor)
