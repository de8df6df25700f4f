"""The faster decoding of stored events gives exactly what the library's decoding gives: the same
values of the same types, the same errors; the faster encoding gives the library's bytes."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

from services.inventory.application import InventoryApplication
from services.inventory.domain import Receipt, SkuStock
from services.runtime.aggregate import DateAsISO, ValueObjectTranscoding
from services.runtime.decoding import FastJSONTranscoder, FastMapper


@dataclasses.dataclass(frozen=True)
class Line:
    sku: str
    quantity: int
    serials: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Checked:
    amount: Decimal

    def __post_init__(self) -> None:
        if self.amount < 0:
            raise ValueError("negative")


@dataclasses.dataclass(frozen=True)
class WithDefault:
    name: str
    added_later: str = "default"


@dataclasses.dataclass(frozen=True)
class Nested:
    lines: tuple[Line, ...]
    when: date
    owner: uuid.UUID


VALUE_OBJECTS = (Line, Checked, WithDefault, Nested)


def library_transcoder() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    register(transcoder)
    return transcoder


def fast_transcoder() -> JSONTranscoder:
    transcoder = FastJSONTranscoder()
    register(transcoder)
    return transcoder


def register(transcoder: JSONTranscoder) -> None:
    # What ServiceApplication.register_transcodings registers, for these value objects.
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO(), DateAsISO()):
        transcoder.register(transcoding)
    for value_object in VALUE_OBJECTS:
        transcoder.register(ValueObjectTranscoding(value_object))


def typed(value: Any) -> Any:
    """A value with the type of every part spelled out, so `1 == 1.0 == True` cannot pass."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value), tuple((k, typed(v)) for k, v in sorted(vars(value).items())))
    if isinstance(value, dict):
        return (dict, tuple((k, typed(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value), tuple(typed(v) for v in value))
    return (type(value), value)


STATES: list[dict[str, Any]] = [
    {
        "timestamp": datetime(2026, 12, 2, 18, 55, 47, 318843, tzinfo=UTC),
        "id": uuid.uuid4(),
        "price": Decimal("12.50"),
        "due": date(2026, 12, 24),
        "line": Line("SKU-1", 2, ("A1", "A2")),
        "lines": [Line("SKU-2", 1), Line("SKU-3", 3, ("B",))],
        "checked": Checked(Decimal("0.10")),
        "nested": Nested((Line("X", 1),), date(2027, 1, 1), uuid.uuid4()),
        "plain": {"_type_": "looks like one", "other": 1},
        "two_keys": {"a": 1, "b": [1, 2.5, None, True, "é\u2603"]},
        "big": 2**80,
        "nan": float("nan"),
        "inf": float("-inf"),
        "none": None,
        "text": 'quotes " and \\ and \n',
    },
    {"empty": {}, "list": [], "deep": [[[{"x": [Decimal("1E+3")]}]]]},
]


@pytest.mark.parametrize("state", STATES)
def test_every_kind_of_stored_state_decodes_to_the_same_values_of_the_same_types(
    state: dict[str, Any],
) -> None:
    encoded = library_transcoder().encode(state)

    expected, found = library_transcoder().decode(encoded), fast_transcoder().decode(encoded)

    # NaN is not equal to itself: compare its text, and everything else by value and type.
    assert repr(typed(found)) == repr(typed(expected))


@pytest.mark.parametrize("state", STATES)
def test_every_kind_of_state_is_encoded_to_the_library_s_bytes(state: dict[str, Any]) -> None:
    assert fast_transcoder().encode(state) == library_transcoder().encode(state)


def test_a_type_with_no_transcoding_is_refused_when_encoded_as_by_the_library() -> None:
    class Unknown:
        pass

    with pytest.raises(TranscodingNotRegisteredError) as expected:
        library_transcoder().encode({"v": [Unknown()]})
    with pytest.raises(TranscodingNotRegisteredError) as found:
        fast_transcoder().encode({"v": [Unknown()]})
    assert str(found.value) == str(expected.value)
    # Refusing leaves nothing behind: the next state is encoded as ever.
    assert fast_transcoder().encode(STATES[1]) == library_transcoder().encode(STATES[1])


def test_a_value_object_whose_stored_fields_differ_goes_through_its_constructor() -> None:
    # Stored before a field with a default was added: the default fills it in, as before.
    stored = b'{"v":{"_type_":"%s","_data_":{"name":"n"}}}' % (
        f"{WithDefault.__module__}.{WithDefault.__qualname__}".encode()
    )

    assert fast_transcoder().decode(stored) == library_transcoder().decode(stored)
    assert fast_transcoder().decode(stored)["v"].added_later == "default"


def test_a_value_object_with_rules_at_construction_still_runs_them() -> None:
    stored = b'{"v":{"_type_":"%s","_data_":{"amount":{"_type_":"decimal_str","_data_":"-1"}}}}' % (
        f"{Checked.__module__}.{Checked.__qualname__}".encode()
    )

    with pytest.raises(ValueError, match="negative"):
        library_transcoder().decode(stored)
    with pytest.raises(ValueError, match="negative"):
        fast_transcoder().decode(stored)


@pytest.mark.parametrize(
    "stored",
    [
        b'{"v":{"_type_":"never_registered","_data_":1}}',
        b'{"v":{"_type_":"uuid_hex","_data_":"not a uuid"}}',
        b'{"v":{"_type_":"uuid_hex","_data_":"0123456789abcdef0123456789abcdeg"}}',
    ],
)
def test_what_the_library_refuses_is_refused_alike(stored: bytes) -> None:
    with pytest.raises((TranscodingNotRegisteredError, ValueError)) as expected:
        library_transcoder().decode(stored)
    with pytest.raises(type(expected.value)):
        fast_transcoder().decode(stored)


def test_a_uuid_in_any_form_the_library_reads_is_read_alike() -> None:
    value = uuid.uuid4()
    for text in (value.hex, str(value), value.hex.upper(), f"{{{value}}}"):
        stored = b'{"v":{"_type_":"uuid_hex","_data_":"%s"}}' % text.encode()
        found = fast_transcoder().decode(stored)["v"]
        assert found == library_transcoder().decode(stored)["v"] == value
        assert str(found) == str(value)
        assert found.is_safe == value.is_safe


def test_a_service_application_decodes_its_stored_events_as_the_library_does() -> None:
    inventory = InventoryApplication(None)
    stock = SkuStock.receive_first(sku="CAMERA-X", receipt=Receipt("WH_A", 3, "purchase", "dock"))
    stock.receive(Receipt("WH_B", 1, "purchase", "dock"))
    inventory.save(stock)
    assert isinstance(inventory.mapper, FastMapper)
    library = Mapper[uuid.UUID](transcoder=library_like(inventory))

    for stored in inventory.recorder.select_events(stock.id):
        expected, found = library.to_domain_event(stored), inventory.mapper.to_domain_event(stored)
        assert type(found) is type(expected)
        assert typed(vars(found)) == typed(vars(expected))
        assert library.to_stored_event(found).state == stored.state
    assert inventory.get(stock.id, SkuStock).sku == "CAMERA-X"


def library_like(application: Any) -> JSONTranscoder:
    """The library's own transcoder with the application's transcodings."""
    transcoder = JSONTranscoder()
    for name, transcoding in application.mapper.transcoder.names.items():
        if isinstance(transcoding, ValueObjectTranscoding):
            transcoding = ValueObjectTranscoding(transcoding.type)
        elif name == "uuid_hex":
            transcoding = UUIDAsHex()
        transcoder.register(transcoding)
    return transcoder


def test_a_stored_event_that_cannot_be_decoded_names_itself() -> None:
    mapper = FastMapper(transcoder=fast_transcoder())
    broken = StoredEvent(
        originator_id=uuid.uuid4(),
        originator_version=3,
        topic="services.inventory.domain.stock:SkuStock.Received",
        state=b"{not json",
    )
    with pytest.raises(MapperDeserialisationError, match="originator_version 3"):
        mapper.to_domain_event(broken)
