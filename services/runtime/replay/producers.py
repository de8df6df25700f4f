"""What a producer exports for a replay from its event store: a typed declaration, not reflection.

A replay from the stores reads another service's stored events and must see them as that service's
relay publishes them. Only the producer knows how: its application class decodes what it stored
(its mapper and transcodings, its table), its `translators.to_contract` makes the public event.
So each producer declares both in one value, `StoredEvents`, in its own `stored_events` module,
and `services/stored_events.py` lists every producer's declaration: the one module that names the
services, imported by the replay alone (the import contracts in pyproject.toml allow that one
edge, and nothing loads a service's module by name).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.runtime.database import PostgresLocation

if TYPE_CHECKING:
    from eventsourcing.persistence import Mapper

    from services.runtime.config import ServiceSettings
    from services.runtime.eventstore import ServiceApplication
    from services.runtime.relay import Translator


@dataclass(frozen=True)
class StoredEvents:
    """A producer's event store as a replay reads it: where it is and how its stored events
    become the public events on its topic."""

    service: str
    """The producer: its store is the database `<prefix>_<service>` on the services' server."""
    application: type[ServiceApplication]
    """The application class that stored the events: it names their table and decodes them."""
    translate: Translator
    """The producer's `translators.to_contract`: a stored domain event as its public event."""

    @property
    def table(self) -> str:
        """The table of its stored events (the event-sourcing library names it after the
        application)."""
        return events_table(self.application.name)

    def location(self, settings: ServiceSettings) -> PostgresLocation:
        """Its database, on the server of `settings`."""
        return PostgresLocation.from_dsn(settings.postgres_dsn).with_database(
            f"{settings.database_prefix}_{self.service}"
        )

    def mapper(self) -> Mapper[uuid.UUID]:
        """The producer's mapper (its transcodings), without its database."""
        return _mapper(self.application)


def events_table(application_name: str) -> str:
    """The table of an application's stored events."""
    return f"{application_name.lower()}_events"


_mappers: dict[str, Mapper[uuid.UUID]] = {}


def _mapper(application: type[ServiceApplication]) -> Mapper[uuid.UUID]:
    # In memory (no location): only the mapper is wanted, not a connection to its database.
    key = f"{application.__module__}.{application.__qualname__}"
    if key not in _mappers:
        _mappers[key] = application(None).mapper
    return _mappers[key]
