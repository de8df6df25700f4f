"""Every event a store ever kept stays readable: classes are stored under stable names, not module
paths, and events recorded from real stores (`tests/fixtures/stored_events/`) read with today's
code, including classes moved to other modules since they were recorded."""

from __future__ import annotations

import base64
import importlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import Aggregate as LibraryAggregate
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from contracts.topics import SERVICES
from services.runtime.aggregate import Aggregate, stored_name
from services.runtime.eventstore import ServiceApplication
from tests.integration.stored_events import load_stored_events


def application_of(service: str) -> type[ServiceApplication]:
    module = importlib.import_module(f"services.{service}.application")
    (application,) = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ServiceApplication)
        and value.__module__ == module.__name__
    ]
    return application


def stored_classes() -> list[type[Any]]:
    """Every aggregate and event class of the services, once all are imported."""
    for service in SERVICES:
        application_of(service)
    found: list[type[Any]] = []
    pending: list[type[Any]] = [Aggregate]
    while pending:
        cls = pending.pop()
        for sub in cls.__subclasses__():
            pending.append(sub)
            if sub.__module__.startswith("services."):
                found.append(sub)
                found.extend(
                    value
                    for value in vars(sub).values()
                    if isinstance(value, type) and issubclass(value, LibraryAggregate.Event)
                )
    return found


def test_every_stored_class_is_stored_under_its_service_and_name_not_its_module() -> None:
    classes = stored_classes()
    assert len(classes) > 100
    for cls in classes:
        name = get_topic(cls)
        assert name == stored_name(cls), cls
        assert not name.startswith("services."), name
        assert name.split(":")[1] == cls.__qualname__
        assert resolve_topic(name) is cls


RECORDED = [
    (service, name, event)
    for service in SERVICES
    for name, event in load_stored_events(service).items()
]


def test_events_were_recorded_from_every_service_under_stable_names() -> None:
    # Traceability keeps no events of its own: only read models of the others' events.
    assert {service for service, _, _ in RECORDED} == set(SERVICES) - {"traceability"}
    assert not [name for _, name, _ in RECORDED if name.startswith("services.")]


@pytest.mark.parametrize(("service", "name", "recorded"), RECORDED, ids=lambda v: str(v)[:60])
def test_every_recorded_event_reads_with_todays_code(
    service: str, name: str, recorded: dict[str, Any]
) -> None:
    application = application_of(service)(None)
    try:
        event = application.mapper.to_domain_event(
            StoredEvent(
                originator_id=uuid.UUID(recorded["originator_id"]),
                originator_version=recorded["originator_version"],
                topic=name,
                state=base64.b64decode(recorded["state"]),
            )
        )
    finally:
        application.close()
    assert get_topic(type(event)) == name
    assert event.originator_version == recorded["originator_version"]


MODULE_PATH_NAMES = [
    tuple(line.split())
    for line in (Path(__file__).parents[2] / "fixtures" / "module_path_names.txt")
    .read_text()
    .splitlines()
]
"""Every class and value object name the stores used before stable names (their module paths at
the time), with its service: events stored then must read however the classes move since."""


@pytest.mark.parametrize(("service", "name"), MODULE_PATH_NAMES, ids=lambda v: str(v)[-60:])
def test_every_name_stored_before_stable_names_still_reads(service: str, name: str) -> None:
    if service == "runtime":
        assert get_topic(resolve_topic(name)).startswith("runtime:")
        return
    application = application_of(service)(None)
    try:
        if ":" in name:  # an aggregate or event class
            resolved = resolve_topic(name)
            assert get_topic(resolved) == f"{service}:{name.partition(':')[2]}"
        else:  # a value object carried in events
            transcoding = application.mapper.transcoder.names[name]  # type: ignore[attr-defined]
            assert transcoding.type.__qualname__ == name.rpartition(".")[2]
    finally:
        application.close()
