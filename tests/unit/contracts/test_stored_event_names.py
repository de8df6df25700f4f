"""Every event a store ever kept stays readable: classes are stored under stable names, not module
paths, and events recorded from real stores (`tests/fixtures/stored_events/`) read with today's
code, including classes moved to other modules since they were recorded."""

from __future__ import annotations

import base64
import importlib
import json
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


OLD_NAMES = {
    f"{service}:{name.partition(':')[2] if ':' in name else name.rpartition('.')[2]}": name
    for service, name in MODULE_PATH_NAMES
}
"""Today's stable name → the module path the same class or value object was stored under."""


def as_stored_before_stable_names(state: bytes) -> bytes:
    """An event's state as the stores wrote it then: its aggregate's and its values' names the
    module paths of the time."""
    document = json.loads(state)

    def renamed(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: OLD_NAMES.get(value, value)
                if key in ("_type_", "originator_topic") and isinstance(value, str)
                else renamed(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [renamed(value) for value in node]
        return node

    return json.dumps(renamed(document), separators=(",", ":")).encode()


def test_every_recorded_event_stored_under_its_old_module_paths_reads_as_today() -> None:
    """Real events, their names put back to the module paths the classes had before they moved:
    each reads as the same event it reads as under today's names."""
    assert {name for _, name, _ in RECORDED} <= set(OLD_NAMES)
    renamed_values = created = 0
    for service, name, recorded in RECORDED:
        application = application_of(service)(None)
        try:
            state = base64.b64decode(recorded["state"])
            old_state = as_stored_before_stable_names(state)
            renamed_values += old_state.count(b'"services.')
            today, before = (
                application.mapper.to_domain_event(
                    StoredEvent(
                        originator_id=uuid.UUID(recorded["originator_id"]),
                        originator_version=recorded["originator_version"],
                        topic=topic,
                        state=stored,
                    )
                )
                for topic, stored in ((name, state), (OLD_NAMES[name], old_state))
            )
        finally:
            application.close()
        assert OLD_NAMES[name].startswith("services.")
        assert type(before) is type(today), name
        if isinstance(before, LibraryAggregate.Created):  # it creates its aggregate: old name
            creating: Any = today
            assert resolve_topic(before.originator_topic) is resolve_topic(
                creating.originator_topic
            )
            assert type(before.mutate(None)) is resolve_topic(creating.originator_topic)
            created += 1
        assert fields_but_the_name(before) == fields_but_the_name(today), name
    assert renamed_values > len(RECORDED), "the values inside the events were renamed too"
    assert created > 15, "aggregates were created from events under their old names"


def fields_but_the_name(event: Any) -> dict[str, Any]:
    return {key: value for key, value in vars(event).items() if key != "originator_topic"}
