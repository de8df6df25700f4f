"""Stored events' JSON, cheaply: the library's JSON transcoder, with the same results.

A relay and a replay decode every stored event, and decoding was a third of a relay's CPU. The
library's mapper looks up each event's class, id conversion and class version again for every
event; `FastMapper` remembers them per stored topic. The library's transcoder calls a general
method for every JSON object and its transcodings build uuids and value objects through their
constructors. `FastJSONTranscoder` reads the same JSON into the same objects with less Python:

- one small function revives `{"_type_": ..., "_data_": ...}` objects, as the library's does;
- a uuid stored as 32 hex digits is built from its integer, as `uuid.UUID` does after parsing;
- a value object is built from its stored fields directly when its class has nothing to run at
  construction (no `__post_init__`, no slots) and the stored fields are exactly its fields;
  otherwise through its constructor, as before (a field added since has its default there).

Encoding is a tenth of a consumer's batch (every event saved is encoded once). The library's
encoder builds the standard library's C encoder anew for every event and finds each uuid's,
time's and value object's transcoding through a general method. `FastJSONTranscoder` builds the C
encoder once (no circular reference check: a stored state is a tree) and encodes each registered
type through a function of its own, made when it is registered; the bytes are the library's.

A test decodes every kind of stored state both ways and compares, and encodes it both ways.
"""

from __future__ import annotations

import dataclasses
import json
import json.encoder
import uuid
from collections.abc import Callable, Hashable
from typing import Any, cast

from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    MapperDeserialisationError,
    StoredEvent,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
    find_id_convertor,
)
from eventsourcing.utils import resolve_topic

from services.runtime import tracing
from services.runtime.aggregate import Aggregate, ValueObjectTranscoding

_new_object = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


class HexUUID(UUIDAsHex):
    """`UUIDAsHex`, building the uuid from the 32 hex digits it stores without `UUID.__init__`'s
    general parsing (other forms still go through it)."""

    def decode(self, data: str) -> uuid.UUID:
        if type(data) is str and len(data) == 32:
            # What UUID(hex=data) does for 32 hex digits: int(data, 16), nothing else to strip.
            value = int(data, 16)
            revived: uuid.UUID = _new_object(uuid.UUID)
            _set(revived, "int", value)
            _set(revived, "is_safe", _UNKNOWN)
            return revived
        return super().decode(data)


class DirectValueObject(ValueObjectTranscoding):
    """`ValueObjectTranscoding`, filling a plain frozen dataclass's fields directly when the
    stored object has exactly those fields (what its generated `__init__` would do)."""

    def __init__(self, cls: type[Any], *, name: str | None = None) -> None:
        super().__init__(cls, name=name)
        fields = dataclasses.fields(cls)
        self._fields = frozenset(field.name for field in fields)
        self._direct = (
            not hasattr(cls, "__post_init__")
            and not hasattr(cls, "__slots__")
            and all(field.init for field in fields)
            and _generated_init(cls)
        )

    def decode(self, data: dict[str, Any]) -> Any:
        if not self._direct or data.keys() != self._fields:
            return super().decode(data)
        # The stored object is the JSON decoder's own fresh dict: it becomes the instance's.
        if list in map(type, data.values()):  # one pass in C
            for name, value in data.items():  # values replaced in place: no second dict
                if type(value) is list:
                    data[name] = tuple(value)
        revived: Any = _new_object(self.type)
        _set(revived, "__dict__", data)
        return revived


def _generated_init(cls: type[Any]) -> bool:
    """Whether the class's `__init__` is the one `dataclass` generated (compiled from a string),
    not one written by hand."""
    code = getattr(cls.__init__, "__code__", None)
    return code is not None and code.co_filename == "<string>"


class FastJSONTranscoder(JSONTranscoder):
    """The library's JSON transcoder with cheaper decoding (see the module); the same objects."""

    def __init__(self) -> None:
        super().__init__()
        self.decoder = json.JSONDecoder(object_hook=_reviver(self.names))
        # The decoder's scanner (the C one where built), not in the standard library's stubs.
        self._scan: Callable[[str, int], tuple[Any, int]] = self.decoder.scan_once  # type: ignore[attr-defined]
        self._encodings: dict[type[Any], Callable[[Any], dict[str, Any]]] = {}
        self._encode_once = _one_shot_encoder(self.encoder, self._encode_known)

    def encode(self, obj: Any) -> bytes:
        if self._encode_once is None:  # no C encoder in this Python
            return super().encode(obj)
        return "".join(self._encode_once(obj, 0)).encode("utf8")

    def _encode_known(self, obj: Any) -> dict[str, Any]:
        encoding = self._encodings.get(type(obj))
        if encoding is None:
            return self._encode_obj(obj)  # the library's error
        return encoding(obj)

    def decode(self, data: bytes) -> Any:
        # The encoder writes no whitespace around the object: scanned at once, without the
        # decoder's two whitespace matches; anything else (and every error) the decoder's way.
        text = data.decode("utf8")
        try:
            decoded, end = self._scan(text, 0)
        except (StopIteration, ValueError):
            end = -1
        if end != len(text):
            return self.decoder.decode(text)
        return decoded

    def register(self, transcoding: Transcoding) -> None:
        faster = _faster(transcoding)
        super().register(faster)
        self._encodings[faster.type] = _encoding(faster)


def _one_shot_encoder(
    library: json.JSONEncoder, default: Callable[[Any], Any]
) -> Callable[[Any, int], list[str]] | None:
    """The standard library's C encoder with the library encoder's settings (what
    `JSONEncoder.encode` builds for every call), once."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or library.indent is not None:
        return None
    strings = "encode_basestring_ascii" if library.ensure_ascii else "encode_basestring"
    encoder: Callable[[Any, int], list[str]] = make(
        None,  # no markers: no circular reference check
        default,
        getattr(json.encoder, strings),
        None,
        library.key_separator,
        library.item_separator,
        library.sort_keys,
        library.skipkeys,
        library.allow_nan,
    )
    return encoder


def _encoding(transcoding: Transcoding) -> Callable[[Any], dict[str, Any]]:
    """How an object of the transcoding's type is written: `{"_type_": name, "_data_": ...}`, as
    the library's `_encode_obj` writes it."""
    name, encode = transcoding.name, transcoding.encode
    return lambda obj: {"_type_": name, "_data_": encode(obj)}


def _faster(transcoding: Transcoding) -> Transcoding:
    if type(transcoding) is UUIDAsHex:
        return HexUUID()
    if type(transcoding) is ValueObjectTranscoding:
        return DirectValueObject(transcoding.type, name=transcoding.name)
    return transcoding


def _reviver(names: dict[str, Transcoding]) -> Callable[[dict[str, Any]], Any]:
    """The library's `_decode_obj`, as one function over the registered names."""

    def revive(obj: dict[str, Any]) -> Any:
        if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
            name = obj["_type_"]
            try:
                transcoding = names[name]
            except KeyError:
                raise TranscodingNotRegisteredError(
                    f"Data serialized with name '{name}' is not deserializable. Please register a"
                    " custom transcoding for this type."
                ) from None
            return transcoding.decode(obj["_data_"])
        return obj

    return revive


class FastMapper(Mapper[uuid.UUID]):
    """The library's mapper, remembering per stored topic what it looks up for every event (the
    class, how its originator id is converted, its class version). Encoding is the library's,
    with the current trace kept beside an event's fields when tracing is on (`tracing.stamp`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._classes: dict[tuple[str, type[Any]], tuple[type[Any], Callable[[Any], Any], int]] = {}

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        # The trace an event is recorded in goes into the store with it, for the relay to carry
        # on (`tracing`; nothing when tracing is off).
        if isinstance(domain_event, Aggregate.Event):
            tracing.stamp(domain_event)
        return super().to_stored_event(domain_event)

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        if self.cipher is not None or self.compressor is not None:
            return super().to_domain_event(stored_event)
        topic, originator_id = stored_event.topic, stored_event.originator_id
        known = self._classes.get((topic, type(originator_id)))
        if known is None:
            cls = resolve_topic(topic)
            known = (
                cls,
                find_id_convertor(cls, cast(Hashable, type(originator_id))),
                getattr(cls, "class_version", 1),
            )
            self._classes[topic, type(originator_id)] = known
        cls, convert_id, class_version = known
        try:
            event_state: dict[str, Any] = self.transcoder.decode(stored_event.state)
        except Exception as error:
            raise MapperDeserialisationError(
                f"Failed to deserialise state of stored event with topic '{topic}', originator_id"
                f" '{originator_id}' and originator_version {stored_event.originator_version}:"
                f" {error}"
            ) from error
        event_state["originator_id"] = convert_id(originator_id)
        event_state["originator_version"] = stored_event.originator_version
        from_version = event_state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(event_state)
            from_version += 1
        domain_event = _new_object(cls)
        _set(domain_event, "__dict__", event_state)
        return domain_event
