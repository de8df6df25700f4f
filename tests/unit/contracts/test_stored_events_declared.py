"""Every service that publishes events declares how a replay reads its store (`StoredEvents`):
the application class that stored them, whose table and mapper the replay uses, and the
translator its relay publishes with."""

from __future__ import annotations

import importlib
import importlib.util

import pytest

from contracts.topics import SERVICES
from services.runtime.replay.producers import StoredEvents
from services.stored_events import PRODUCERS
from tests.unit.contracts.test_stored_event_names import application_of


def publishes(service: str) -> bool:
    return importlib.util.find_spec(f"services.{service}.translators") is not None


def test_every_publishing_service_declares_its_stored_events_and_no_other() -> None:
    assert set(PRODUCERS) == {service for service in SERVICES if publishes(service)}
    assert all(isinstance(declared, StoredEvents) for declared in PRODUCERS.values())


@pytest.mark.parametrize("service", sorted(PRODUCERS))
def test_a_declaration_names_the_store_its_application_writes_and_the_relay_s_translator(
    service: str,
) -> None:
    declared = PRODUCERS[service]
    application = application_of(service)(None)
    translators = importlib.import_module(f"services.{service}.translators")

    assert declared.service == service
    assert declared.application is type(application)
    assert declared.table == f"{application.name.lower()}_events"
    assert declared.translate is translators.to_contract
    assert type(declared.mapper().transcoder) is type(application.mapper.transcoder)
