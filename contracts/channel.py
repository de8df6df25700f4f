"""Messages that channel connectors (own store, marketplaces) publish to `channel.orders.v1`.

A connector sends the order as the channel knows it, as plain JSON, with any Kafka client. Key the
message by `channel:channel_order_id` so updates of one order stay in order. Sending the same message
again is harmless: orders are deduplicated by (`channel`, `channel_order_id`). An optional
`correlation_id` header is carried through every event the message causes.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import EmailStr, Field, model_validator

from contracts.base import ContractModel, Line, Money, ServiceLevel, Sku

ChannelCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        description="Code of the sales channel, e.g. `webshop`, `amazon-de`.",
    ),
]
CountryCode = Annotated[
    str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 country code.")
]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code.")]

ORDER_ID_NAMESPACE = uuid.UUID("0b7d1c3e-58a4-4c1f-9d86-5f0e2b9a7c41")


def order_id_for(channel: str, channel_order_id: str) -> uuid.UUID:
    """The order id Unitrail assigns to a channel's order: the same for every copy of the message."""
    return uuid.uuid5(ORDER_ID_NAMESPACE, f"{channel}:{channel_order_id}")


class Customer(ContractModel):
    """Who placed the order."""

    customer_id: Line = Field(
        min_length=1, max_length=128, description="Customer id in the channel."
    )
    name: Line = Field(min_length=1, max_length=200, description="Full name.")
    email: EmailStr = Field(description="Contact e-mail address.")


class ShippingAddress(ContractModel):
    """Where the order goes."""

    name: Line = Field(min_length=1, max_length=200, description="Recipient.")
    line1: Line = Field(min_length=1, max_length=200, description="Street and number.")
    line2: Line | None = Field(default=None, max_length=200, description="Additional address line.")
    city: Line = Field(min_length=1, max_length=100, description="City.")
    region: Line | None = Field(default=None, max_length=100, description="State or region.")
    postal_code: Line = Field(min_length=1, max_length=20, description="Postal code.")
    country: CountryCode


class ChannelOrderLine(ContractModel):
    """One product and quantity on the channel's order."""

    sku: Sku
    quantity: int = Field(ge=1, le=10_000, description="Units ordered.")
    unit_price: Money = Field(description="Price of one unit in the order currency.")


class ChannelOrderMessage(ContractModel):
    """A channel's order, as placed (and possibly paid) by the customer.

    Publish it when the order is placed; publish it again with `payment_status` `paid` when the
    payment is captured (or send it paid from the start), and with `order_status` `cancelled` when
    it is cancelled.
    """

    channel: ChannelCode
    channel_order_id: Line = Field(
        min_length=1,
        max_length=128,
        description="The order's id in the channel; unique per channel.",
    )
    placed_at: datetime = Field(description="When the customer placed the order (ISO 8601).")
    customer: Customer = Field(description="The customer who placed the order.")
    shipping_address: ShippingAddress = Field(description="Where the order is shipped to.")
    lines: list[ChannelOrderLine] = Field(min_length=1, max_length=200, description="Order lines.")
    currency: CurrencyCode
    payment_status: Literal["pending", "authorized", "paid"] = Field(
        description="Payment state in the channel; `paid` releases the order for fulfilment."
    )
    fraud_score: float = Field(
        ge=0, le=100, description="The channel's fraud risk score, 0 (safe) to 100 (fraud)."
    )
    order_status: Literal["open", "cancelled"] = Field(
        default="open",
        description="`cancelled` when the customer or the channel cancelled the order; Unitrail "
        "cancels it if it has not shipped and releases its stock.",
    )
    service_level: ServiceLevel = Field(
        default="standard",
        description="How fast the customer asked for the order: shipping buys the cheapest "
        "service that arrives within the level's days in transit.",
    )
    deliver_by: date | None = Field(
        default=None,
        description="A delivery date promised to the customer (ISO 8601 date); when given, it "
        "decides instead of the service level. Not before the day the order was placed.",
    )

    @model_validator(mode="after")
    def _deliver_by_after_placement(self) -> ChannelOrderMessage:
        if self.deliver_by is not None and self.deliver_by < self.placed_at.date():
            raise ValueError(
                f"deliver_by {self.deliver_by} is before the order was placed"
                f" ({self.placed_at.date()})"
            )
        return self
