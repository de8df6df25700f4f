"""A service's read models, declared once: their tables and the pure functions that keep them.

Each service with read models has a `projections.py` that builds one `ReadModels` and registers
its projections on it, of three kinds:

- `on_event(Model, producer=...)`: a public event of another service (with its envelope) → the
  changes it makes. Handlers apply it live (`ServiceApplication.project`, or a use case that also
  decides something), a replay applies it to events read from the topics or the producers' stores.
- `on_own_event(Aggregate.Event)`: one of the service's own domain events → its changes.
- `on_own_aggregates(Aggregate)`: the state of some of the service's own aggregates → the rows that
  show it (for read models that are a view of the whole aggregate, not of one event).

The service's own events are applied live by `ServiceApplication.save_projected`, in the
transaction that records them; a replay reads them from the service's own store. So the live
path and the replay call the same functions, and a rebuilt read model equals the live one.

Changes are plain `(sql, parameters)` pairs with unqualified table names: the replay runs them with
the search path set to its shadow schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from services.runtime.aggregate import Aggregate
from services.runtime.eventstore import ReadModelChange

F = TypeVar("F", bound=Callable[..., list[ReadModelChange]])

ContractProjection = Callable[[Any, Envelope], list[ReadModelChange]]
"""A public event and its envelope → read-model changes."""
EventProjection = Callable[[Any], list[ReadModelChange]]
"""One of the service's own domain events → read-model changes."""
StateProjection = Callable[[Sequence[Any]], list[ReadModelChange]]
"""The current state of some of the service's own aggregates of one kind → read-model changes."""


class ReadModels:
    """The read models of one service: `CREATE ... IF NOT EXISTS` statements of their tables
    (unqualified names) and the projections that fill them."""

    def __init__(self, *tables: str) -> None:
        self.tables: tuple[str, ...] = tables
        self._contracts: dict[tuple[str, str], tuple[type[IntegrationEvent], ContractProjection]]
        self._contracts = {}
        self._events: list[tuple[type[Any], EventProjection]] = []
        self._states: list[tuple[type[Aggregate], StateProjection]] = []

    # -- declaring ----------------------------------------------------------------------------

    def on_event(self, model: type[IntegrationEvent], *, producer: str) -> Callable[[F], F]:
        """Register the decorated function, `(event, envelope) -> changes`, as the projection of
        `model` events of `producer` (decorators stack: one function may project several)."""

        def register(project: F) -> F:
            self._contracts[(producer, model.event_type)] = (model, project)
            return project

        return register

    def on_own_event(self, event_class: type[Any]) -> Callable[[F], F]:
        """Register the decorated function, `(domain_event) -> changes`, as the projection of the
        service's own `event_class` events (subclasses included)."""

        def register(project: F) -> F:
            self._events.append((event_class, project))
            return project

        return register

    def on_own_aggregates(self, kind: type[Aggregate]) -> Callable[[F], F]:
        """Register the decorated function, `(aggregates) -> changes`, as the projection of the
        state of `kind` aggregates, given several at once (as saved together, in that order)."""

        def register(project: F) -> F:
            self._states.append((kind, project))
            return project

        return register

    # -- what they follow ---------------------------------------------------------------------

    @property
    def producers(self) -> tuple[str, ...]:
        """The services whose public events are projected: a replay reads their topics or stores."""
        return tuple(sorted({producer for producer, _ in self._contracts}))

    @property
    def follows_own_events(self) -> bool:
        """Some read models are derived from the service's own events (a replay reads its store)."""
        return bool(self._events or self._states)

    @property
    def contract_routes(self) -> list[tuple[type[IntegrationEvent], str]]:
        """Every (public event model, producer) projected: each needs a handler live."""
        return [(model, producer) for (producer, _), (model, _) in self._contracts.items()]

    def projects(self, producer: str, event_type: str) -> bool:
        """Whether events of this type by this producer change anything (a replay decodes only
        those)."""
        return (producer, event_type) in self._contracts

    # -- projecting ---------------------------------------------------------------------------

    def project(self, event: IntegrationEvent, envelope: Envelope) -> list[ReadModelChange]:
        """The changes a public event makes (none for one that is not projected)."""
        registered = self._contracts.get((envelope.producer, envelope.event_type))
        if registered is None or not isinstance(event, registered[0]):
            return []
        return registered[1](event, envelope)

    def project_own_event(self, event: Any) -> list[ReadModelChange]:
        """The changes one of the service's own domain events makes by itself."""
        return [
            change
            for event_class, project in self._events
            if isinstance(event, event_class)
            for change in project(event)
        ]

    def project_saved(self, *aggregates: Any) -> list[ReadModelChange]:
        """The changes of aggregates about to be saved: their new events' changes, in order, then
        the rows of those whose state is projected."""
        changes = [
            change
            for aggregate in aggregates
            if aggregate is not None
            for event in aggregate.pending_events
            for change in self.project_own_event(event)
        ]
        for kind, project in self._states:
            of_kind = [aggregate for aggregate in aggregates if isinstance(aggregate, kind)]
            if of_kind:
                changes += project(of_kind)
        return changes

    def state_kind_of(self, event: Any) -> type[Aggregate] | None:
        """The aggregate kind whose state is projected that `event` belongs to, if any."""
        for kind, _ in self._states:
            if isinstance(event, kind.Event):
                return kind
        return None

    def project_states(self, aggregates: Sequence[Any]) -> list[ReadModelChange]:
        """The rows of these aggregates (of any projected kinds), kind by kind, in their order."""
        changes: list[ReadModelChange] = []
        for kind, project in self._states:
            of_kind = [aggregate for aggregate in aggregates if isinstance(aggregate, kind)]
            if of_kind:
                changes += project(of_kind)
        return changes


class OwnEventReplay:
    """Turns a service's own stored events, in notification order, into the read-model changes its
    saves made: each event's own changes, and the rows of projected aggregates as each save left
    them.

    One save writes one aggregate's events consecutively, so a run of consecutive events of one
    aggregate is (at least) one save; its rows are projected as of the run's last event. Runs are
    projected in batches of distinct aggregates, in order, so a batch's rows go in as the saves
    wrote them one after another (unique columns that moved from one product to another never
    collide with a row that was already updated live).
    """

    def __init__(self, read_models: ReadModels, load: Callable[[uuid.UUID, int], Any]) -> None:
        """`load(aggregate_id, version)`: the aggregate as of that version (from the store)."""
        self.read_models = read_models
        self.load = load

    def changes(self, events: Sequence[Any]) -> list[ReadModelChange]:
        changes: list[ReadModelChange] = []
        folded: dict[uuid.UUID, Any] = {}
        batch: dict[uuid.UUID, Any] = {}
        previous: uuid.UUID | None = None
        for event in events:
            changes += self.read_models.project_own_event(event)
            originator = event.originator_id
            if self.read_models.state_kind_of(event) is not None:
                if originator in batch and originator != previous:
                    # A later save of an aggregate already in the batch: write the batch first.
                    changes += self.read_models.project_states(list(batch.values()))
                    batch = {}
                aggregate = folded.get(originator)
                if aggregate is None and event.originator_version > 1:
                    aggregate = self.load(originator, event.originator_version - 1)
                folded[originator] = batch[originator] = event.mutate(aggregate)
            previous = originator
        return changes + self.read_models.project_states(list(batch.values()))
