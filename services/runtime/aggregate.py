"""The base aggregate of every service.

Its events carry the correlation id of the business flow and the id of what caused them; the
relay copies both into the envelope, so one channel order can be followed through every service.

Stored names: the event store keeps with every event the name of its class, and the name of the
aggregate's class in its first event and in snapshots. The library's default names are module
paths, so moving a class to another module would make every event stored before unreadable.
Every aggregate, event and value object of a service is stored under a name of its own instead,
`<service>:<qualified name>` (`inventory:SkuStock.Received`, `order:OrderLine`), the same
wherever in the service the class is defined. A class that is renamed keeps its old name by
declaring it: `TOPIC = "inventory:SkuStock.Received"` (value objects: `STORED_AS`). Events
stored under module paths before this read as before, through the module path; a class moved out
of the module it had then is listed, with that module, in its application's
`moved_since_module_paths`.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any, Self

from eventsourcing.domain import Aggregate as LibraryAggregate
from eventsourcing.persistence import Transcoding
from eventsourcing.utils import register_topic

from services.runtime.context import current_message, new_correlation_id


class DomainError(Exception):
    """A command broke a business rule; the message says which, in words a user understands.
    Over HTTP: 422."""


class Conflict(DomainError):
    """A command the current state does not allow (a transition from the wrong state, an
    idempotency key already used for another command); the same command may succeed in another
    state. Over HTTP: 409."""


class NotFound(LookupError):
    """What a command or query names does not exist; the message names it. Over HTTP: 404."""


class NotYet(Exception):
    """A consumed event depends on a fact that has not arrived yet from another producer's topic
    (topics have no order between them: a parcel can be packed before shipping has consumed the
    order's release). The event waits, parked, and is tried again every few seconds, in order
    with the later events of its aggregate; after `UNITRAIL_CONSUMER_WAIT_LIMIT_SECONDS` it is a
    dead letter with this reason."""


class RecordedRefusal(DomainError):
    """A rule refused a partner's message, and the refusal is itself a fact the handler saved
    (e.g. an order notes a channel's re-send it refused): what was saved stands, and the message
    is still a dead letter with this reason (an HTTP intake answers it with the reason)."""


def _trace_ids() -> dict[str, Any]:
    message = current_message()
    if message is None:
        return {"correlation_id": new_correlation_id(), "causation_id": None}
    return {"correlation_id": message.correlation_id, "causation_id": message.causation_id}


def stored_name(cls: type[Any]) -> str | None:
    """The name a service's class is stored under: `<service>:<qualified name>` (the class may
    declare another, see the module); None for a class outside the services (tests' own)."""
    for klass in cls.__mro__:
        if klass.__qualname__ != cls.__qualname__:
            break
        declared = klass.__dict__.get("TOPIC") or klass.__dict__.get("STORED_AS")
        if declared:
            return str(declared)
    service = service_of(cls)
    return None if service is None else f"{service}:{cls.__qualname__}"


def service_of(cls: type[Any]) -> str | None:
    """The service a class belongs to (`inventory` for `services.inventory...`); None outside
    the services."""
    parts = cls.__module__.split(".")
    return parts[1] if len(parts) > 2 and parts[0] == "services" else None


def _store_under_its_name(cls: type[Any]) -> None:
    name = stored_name(cls)
    if name is None:
        return
    # The library stores a class under its `TOPIC` when it has one, and resolves the name
    # through its registry.
    type.__setattr__(cls, "TOPIC", name)
    register_topic(name, cls)


class Aggregate(LibraryAggregate):
    """An event-sourced aggregate whose events know which flow they belong to, stored under
    stable names (see the module)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # By now the library has made the aggregate's own event classes (it re-creates those
        # declared in the body): name those it keeps.
        _store_under_its_name(cls)
        for value in list(vars(cls).values()):
            if isinstance(value, type) and issubclass(value, LibraryAggregate.Event):
                _store_under_its_name(value)

    class Event(LibraryAggregate.Event):
        correlation_id: str
        causation_id: str | None

    class Created(Event, LibraryAggregate.Created):
        pass

    @classmethod
    def _create(cls, event_class: type[Any], *, id: Any = None, **kwargs: Any) -> Self:
        return super()._create(event_class, id=id, **_trace_ids(), **kwargs)

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        super().trigger_event(event_class, **_trace_ids(), **kwargs)


class DateAsISO(Transcoding):
    """A calendar date (an expected arrival, a certificate's expiry) in stored events."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ValueObjectTranscoding(Transcoding):
    """Stores a frozen dataclass value object in an event as a JSON object.

    Lists come back as tuples, because value objects hold tuples to stay hashable and immutable.
    """

    def __init__(self, cls: type[Any], *, name: str | None = None) -> None:
        self.type = cls
        self.name = name or stored_name(cls) or module_path_name(cls)
        # Listed once: `dataclasses.fields` filters the class's fields anew on every call, and
        # every value object of every event saved is encoded here.
        self._field_names = tuple(field.name for field in dataclasses.fields(cls))

    def encode(self, obj: Any) -> dict[str, Any]:
        return {name: getattr(obj, name) for name in self._field_names}

    def decode(self, data: dict[str, Any]) -> Any:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return self.type(**values)


def module_path_name(cls: type[Any]) -> str:
    """The name value objects were stored under before stable names: their module path."""
    return f"{cls.__module__}.{cls.__qualname__}"


def module_path_topic(cls: type[Any]) -> str:
    """The name the library stored a class under before stable names: its module path."""
    return f"{cls.__module__}:{cls.__qualname__}"
