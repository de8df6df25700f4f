"""Every event a service records has its public event: the translators are registries keyed by
event class, so a new domain event without one is found here, not by a relay in production."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from services.runtime.aggregate import Aggregate

REGISTRIES = ("inventory", "pim", "order", "returns", "shipping", "warehouse_adapter")


def recorded_event_classes(domain: ModuleType) -> Iterator[type[Any]]:
    """The event classes of every aggregate the service's domain package exports."""
    for _, aggregate in inspect.getmembers(domain, inspect.isclass):
        if not issubclass(aggregate, Aggregate) or aggregate is Aggregate:
            continue
        members = {
            name: member
            for name, member in vars(aggregate).items()
            if inspect.isclass(member) and issubclass(member, Aggregate.Event)
        }
        # The library's default `Created` is never recorded when the aggregate declares its own
        # creation event.
        declares_creation = any(
            issubclass(member, Aggregate.Created)
            for name, member in members.items()
            if name != "Created"
        )
        for name, member in members.items():
            if name == "Event" or (name == "Created" and declares_creation):
                continue
            yield member


@pytest.mark.parametrize("service", REGISTRIES)
def test_every_recorded_event_has_a_public_event(service: str) -> None:
    translators = importlib.import_module(f"services.{service}.translators")
    domain = importlib.import_module(f"services.{service}.domain")
    fallback = translators.to_contract.registry[object]
    events = sorted(set(recorded_event_classes(domain)), key=lambda kind: kind.__qualname__)
    assert events, f"no events found in services.{service}.domain"
    missing = [
        kind.__qualname__
        for kind in events
        if translators.to_contract.dispatch(kind) is fallback and kind.__subclasses__() == []
    ]
    assert missing == []


def test_an_event_without_a_public_event_is_refused_by_name() -> None:
    from services.returns.translators import to_contract

    class Unknown:
        pass

    with pytest.raises(TypeError, match="no contract for returns event"):
        to_contract(Unknown())
