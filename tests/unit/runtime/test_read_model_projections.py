"""Read models declared once (`services/<name>/projections.py`): the live path and a replay apply
the same functions, so these check the mechanism rather than each SQL statement (the integration
test `test_read_model_replay.py` compares rebuilt tables with live ones row for row)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Self

import pytest

from contracts.envelope import Envelope
from contracts.pim import DimensionsMm, ProductRegistered, ProductSpecified
from services.inventory import handlers as inventory_handlers
from services.inventory import projections as inventory
from services.inventory.application import InventoryApplication
from services.order import handlers as order_handlers
from services.order import projections as order_projections
from services.order.application import OrderApplication
from services.order.domain import FulfilmentPolicy
from services.returns import handlers as returns_handlers
from services.returns.application import ReturnsApplication
from services.runtime import product_facts
from services.runtime.aggregate import Aggregate
from services.runtime.consumer import Consumer
from services.runtime.eventstore import BlockingRunner, ServiceApplication
from services.runtime.projections import (
    Change,
    Insert,
    OwnEventReplay,
    ReadModelChange,
    ReadModels,
    Table,
    Upsert,
)
from services.runtime.replay.shadow import _runs
from services.shipping import handlers as shipping_handlers
from services.shipping import projections as shipping
from services.shipping.application import ShippingApplication
from services.shipping.domain import Consignment, LabelRequest, ParcelLine
from tests.unit.order.test_order_domain import place

# -- every projection of a public event is consumed live ---------------------------------------

SERVICES_WITH_HANDLERS: list[tuple[Callable[[Any], ServiceApplication], Callable[..., None]]] = [
    (OrderApplication, order_handlers.register_handlers),
    (InventoryApplication, inventory_handlers.register_handlers),
    (ShippingApplication, shipping_handlers.register_handlers),
    (ReturnsApplication, returns_handlers.register_handlers),
]


async def publish_nowhere(*_: object, **__: object) -> None:
    raise AssertionError("nothing is published when handlers are registered")


@pytest.mark.parametrize(("application", "register"), SERVICES_WITH_HANDLERS)
def test_every_public_event_a_read_model_projects_has_a_live_handler(
    application: Callable[[Any], ServiceApplication], register: Callable[..., None]
) -> None:
    app = application(None)
    assert app.read_models is not None
    runner = BlockingRunner(workers=1)
    consumer = Consumer(
        service_name="test",
        application=app,
        runner=runner,
        publish=publish_nowhere,
        attempts=1,
    )
    register(consumer, app)
    consumer.subscribe_read_models()
    runner.shutdown()
    routes = app.read_models.contract_routes
    assert routes
    assert [
        (model.event_type, producer)
        for model, producer in routes
        if not consumer.handles(model, producer=producer)
    ] == []


def test_a_public_event_is_projected_only_for_its_producer_and_type() -> None:
    models = ReadModels(Table("t", {"sku": "text"}, key=("sku",)))

    @models.on_event(ProductRegistered, producer="pim")
    def registered(event: ProductRegistered, _: Envelope) -> list[Change]:
        return [Insert("t", {"sku": event.sku})]

    event = ProductRegistered(
        product_id=uuid.uuid4(),
        sku="CAM-1",
        name="Camera",
        weight_grams=600,
        lithium_ion=False,
        serialized=True,
        warranty_months=24,
    )
    assert models.project(event, envelope(event, "pim")) == [Insert("t", {"sku": "CAM-1"})]
    assert models.project(event, envelope(event, "someone-else")) == []
    assert models.producers == ("pim",)
    assert models.projects("pim", "ProductRegistered")
    assert not models.projects("pim", "ProductChanged")
    assert not models.follows_own_events


def spec_of(sku: str, dimensions: DimensionsMm | None) -> ProductSpecified:
    return ProductSpecified.model_validate(
        {
            "product_id": uuid.uuid4(),
            "sku": sku,
            "name": "Monitor",
            "weight_grams": 6_500,
            "lithium_ion": False,
            "serialized": True,
            "warranty_months": 24,
            "dimensions": dimensions,
            **dict.fromkeys(("brand", "ean", "mpn", "parent", "price", "currency")),
            "axes": {},
            **{key: [] for key in ("attributes", "components", "compatible_with", "assets")},
        }
    )


def test_dimensions_of_a_spec_become_a_volume_and_none_remove_it() -> None:
    spec = spec_of("MON-27", DimensionsMm(length_mm="650", width_mm="120", height_mm="450.5"))
    tables = product_facts.read_models.in_memory()
    tables.apply(product_facts.dimensions(spec, envelope(spec, "pim")))
    assert tables.rows("product_dimensions") == [
        {
            "sku": "MON-27",
            "length_mm": Decimal(650),
            "width_mm": Decimal(120),
            "height_mm": Decimal("450.5"),
            "volume_cm3": 35_139,
        }
    ]
    bare = spec.model_copy(update={"dimensions": None})
    tables.apply(product_facts.dimensions(bare, envelope(bare, "pim")))
    assert tables.rows("product_dimensions") == []


def test_inventory_and_shipping_keep_the_same_product_facts() -> None:
    for service in (inventory, shipping):
        names = [table.name for table in service.read_models.tables]
        assert {"product_facts", "product_dimensions"} <= set(names)
        assert service.read_models.projects("pim", "ProductSpecified")
    spec = spec_of("DOCK-1", DimensionsMm(length_mm="10", width_mm="10", height_mm="10"))
    assert shipping.read_models.project(spec, envelope(spec, "pim")) == (
        product_facts.dimensions(spec, envelope(spec, "pim"))
    )
    # Inventory's own projection of a spec (its bundle) comes after the shared one.
    assert inventory.read_models.project(spec, envelope(spec, "pim"))[:1] == (
        product_facts.dimensions(spec, envelope(spec, "pim"))
    )


# -- the service's own events: what its saves wrote, again from its store -------------------------


def test_a_consignment_s_events_one_by_one_make_the_changes_its_saves_made() -> None:
    saved: list[Change] = []
    consignment = Consignment.plan(
        shipment_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        location="WH-A",
        lines=(ParcelLine("CAM-1", 1), ParcelLine("LENS-50", 2)),
        country="US",
        declared_value=Decimal("300.00"),
        currency="USD",
        signature_required=False,
        facts={},
    )
    events = list(consignment.pending_events)
    saved += shipping.read_models.project_saved(consignment)
    consignment.collect_events()
    request = LabelRequest(
        carrier="ups",
        service="ground",
        mode="ground",
        cost=Decimal("9.50"),
        transit_days=5,
        promise_met=True,
        insured_value=Decimal(0),
        insurance_cost=Decimal(0),
        signature_required=False,
    )
    consignment.record_label(request, "1Z999")
    events += consignment.pending_events
    saved += shipping.read_models.project_saved(consignment)
    replayed = [c for event in events for c in shipping.read_models.project_own_event(event)]
    assert replayed == saved
    assert [(type(change).__name__, change.table) for change in saved] == [
        ("Insert", "consignments_by_order"),
        ("Insert", "consignments_awaiting_facts"),
        ("Insert", "consignments_awaiting_facts"),
        ("Insert", "consignments_by_tracking"),
    ]


class Counter(Aggregate):
    """A toy aggregate whose state is projected: its value, and unique labels."""

    if TYPE_CHECKING:  # set by its events, not fields of the aggregate
        label: str
        value: int

    class Created(Aggregate.Created):
        label: str

        def apply(self, counter: Any) -> None:
            counter.label = self.label
            counter.value = 0

    class Counted(Aggregate.Event):
        def apply(self, counter: Any) -> None:
            counter.value += 1

    class Relabelled(Aggregate.Event):
        label: str

        def apply(self, counter: Any) -> None:
            counter.label = self.label

    @classmethod
    def create(cls, label: str) -> Self:
        return cls._create(cls.Created, id=uuid.uuid4(), label=label)

    def count(self) -> None:
        self.trigger_event(self.Counted)

    def relabel(self, label: str) -> None:
        self.trigger_event(self.Relabelled, label=label)


def counters() -> tuple[ReadModels, list[list[tuple[str, int]]]]:
    models = ReadModels(
        Table("counters", {"id": "uuid", "label": "text", "value": "integer"}, key=("id",))
    )
    batches: list[list[tuple[str, int]]] = []

    @models.on_own_aggregates(Counter)
    def rows(saved: Sequence[Counter]) -> list[Change]:
        batches.append([(counter.label, counter.value) for counter in saved])
        return [Upsert("counters", {"id": c.id, "label": c.label, "value": c.value}) for c in saved]

    return models, batches


def test_stored_events_are_projected_as_the_saves_left_each_aggregate_in_order() -> None:
    models, batches = counters()
    a, b = Counter.create("x"), Counter.create("b")
    a.count()
    history = [*a.collect_events(), *b.collect_events()]  # one save: a, then b
    a.relabel("y")
    history += a.collect_events()
    b.relabel("x")  # b takes the label a gave up: a's row must change first
    history += b.collect_events()
    a.count()
    history += a.collect_events()

    replay = OwnEventReplay(models, load=lambda *_: pytest.fail("nothing to load"))
    groups = replay.changes(history)
    assert batches == [[("x", 1), ("b", 0)], [("y", 1), ("x", 0)], [("y", 2)]]
    # Each save's rows in a group of their own: written after the one before.
    assert len(groups) == 3
    assert groups[-1] == [Upsert("counters", {"id": a.id, "label": "y", "value": 2})]


def test_an_aggregate_begun_before_the_page_is_loaded_as_of_the_version_before() -> None:
    models, batches = counters()
    a = Counter.create("x")
    a.count()
    earlier = a.collect_events()
    a.count()
    later = a.collect_events()
    loaded: list[tuple[uuid.UUID, int]] = []

    def load(aggregate_id: uuid.UUID, version: int) -> Counter:
        loaded.append((aggregate_id, version))
        restored: Any = None
        for event in earlier[:version]:
            restored = event.mutate(restored)
        return restored  # type: ignore[no-any-return]

    OwnEventReplay(models, load).changes(later)
    assert loaded == [(a.id, 2)]
    assert batches == [[("x", 2)]]


def test_consecutive_equal_statements_run_together_and_in_order() -> None:
    changes: list[ReadModelChange] = [
        ("DELETE b", (1,)),
        ("INSERT b", (1,)),
        ("INSERT b", (2,)),
        ("DELETE b", (2,)),
        ("INSERT b", (3,)),
    ]
    assert list(_runs(changes)) == [
        ("DELETE b", [(1,)]),
        ("INSERT b", [(1,), (2,)]),
        ("DELETE b", [(2,)]),
        ("INSERT b", [(3,)]),
    ]


def envelope(event: Any, producer: str) -> Envelope:
    return Envelope.of(
        event,
        producer=producer,
        aggregate_id=uuid.uuid4(),
        aggregate_version=1,
        occurred_at=datetime.now(UTC),
        correlation_id="test",
    )


def test_an_order_s_row_shows_its_status_since_when_alike_live_and_from_its_events() -> None:
    """Live, each save writes the order's row; a replay folds consecutive events of one order
    into one row: both end with the status the order entered, when it entered it, and its hold."""
    order = place()
    order.mark_paid(FulfilmentPolicy())
    events = list(order.pending_events)
    live = order_projections.read_models.project_saved(order)
    order.collect_events()
    order.hold(reason="call the customer", actor="ana")  # a second save: no new status
    events += order.pending_events
    live += order_projections.read_models.project_saved(order)

    models = order_projections.read_models
    live_tables, replayed_tables = models.in_memory(), models.in_memory()
    live_tables.apply(live)
    for group in OwnEventReplay(models, load=None).changes(events):  # type: ignore[arg-type]
        replayed_tables.apply(group)
    assert replayed_tables.rows("orders_by_state") == live_tables.rows("orders_by_state")
    (row,) = live_tables.rows("orders_by_state")
    assert (row["channel_order_id"], row["state"], row["state_since"]) == (
        "1001",
        "paid",
        events[1].timestamp,
    )
    assert row["held_because"] == "call the customer"
