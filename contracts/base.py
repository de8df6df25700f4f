"""Base classes shared by every contract model."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=14, decimal_places=2),
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
]
"""A non-negative amount with at most two decimals; travels as a JSON string to keep it exact."""

Sku = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description="Stock keeping unit, unique per sellable variant.",
    ),
]

LocationCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Code of a stock location (a warehouse or a marketplace fulfilment centre).",
    ),
]


class ContractModel(BaseModel):
    """A frozen, strict-about-unknown-fields model: what is published cannot change under you."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class IntegrationEvent(ContractModel):
    """The payload of an event published by one of our services.

    Subclasses name their type and schema version; together they select the model a consumer uses to
    read the payload of an envelope.
    """

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str]
    """The kind of aggregate that records the event; consumers follow aggregates of a kind."""

    @classmethod
    def schema_key(cls) -> tuple[str, int]:
        return cls.event_type, cls.schema_version
