"""A customer's personal data as Unitrail's events carry it: sealed under the customer's key.

Each personal value (name, e-mail, every part of the street address but the country) is a string
`pii1.<customer id>.<ciphertext>` (base64url, AES-256-GCM under a key per customer that only the
order service keeps). A consumer that needs one in clear asks for the key with a token of role
`personal-data` (`GET /customer-keys/{customer_id}` on the order service); once the customer is
forgotten (`CustomerForgotten`) there is no key, and what any copy holds reads as "erased".
Events recorded before sealing carry these values in clear: read a value without the prefix as it
is. Partners that must read an address in clear (3PLs) get it on a topic of their own with a
bounded retention, not here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from contracts.base import ContractModel, Line
from contracts.channel import CountryCode

PersonalValue = Annotated[
    Line,
    Field(
        min_length=1,
        max_length=2000,
        description="Personal data: `pii1.<customer id>.<ciphertext>` sealed under the customer's "
        "key, or plain text in events recorded before sealing.",
    ),
]


class CustomerOnRecord(ContractModel):
    """Who placed the order, personal values sealed."""

    customer_id: Line = Field(
        min_length=1, max_length=128, description="Customer id in the channel (clear)."
    )
    name: PersonalValue = Field(description="Full name, sealed.")
    email: str = Field(
        description="Contact e-mail address: personal data, sealed like the name (plain in events "
        "recorded before sealing)."
    )


class AddressOnRecord(ContractModel):
    """Where the order goes, personal values sealed; the country in clear (markets, routing and
    rates depend on it)."""

    name: PersonalValue = Field(description="Recipient, sealed.")
    line1: PersonalValue = Field(description="Street and number, sealed.")
    line2: PersonalValue | None = Field(default=None, description="Additional line, sealed.")
    city: PersonalValue = Field(description="City, sealed.")
    region: PersonalValue | None = Field(default=None, description="State or region, sealed.")
    postal_code: PersonalValue = Field(description="Postal code, sealed.")
    country: CountryCode = Field(description="ISO 3166-1 alpha-2 country code, in clear.")
