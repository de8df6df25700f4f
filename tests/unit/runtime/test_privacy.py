"""Customers' personal data sealed with a key per customer, opened with it, erased without it."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import asdict

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from contracts.channel import ChannelOrderMessage
from services.order.application import OrderApplication
from services.order.domain import Order
from services.order.translators import intake_from_channel, to_contract
from services.runtime import tracing
from services.runtime.outages import OUTAGE_ERRORS
from services.runtime.privacy import (
    ERASED,
    MAX_KEYS_ASKED,
    CustomerKeyClient,
    KeyLookupUnavailable,
    customer_of,
    customers_named,
    encoded_key,
    is_sealed,
    new_key,
    open_sealed,
    reveal,
    seal,
)
from tests.component.inbox import record
from tests.integration.harness import channel_order


class Keys:
    def __init__(self, **keys: bytes) -> None:
        self.keys = keys

    def key(self, customer_id: str) -> bytes | None:
        return self.keys.get(customer_id)


def test_a_sealed_value_opens_with_its_customers_key_only() -> None:
    key = new_key()
    sealed = seal(key, "C-7", "Grace Hopper")
    assert is_sealed(sealed)
    assert "Grace" not in sealed
    assert customer_of(sealed) == "C-7"
    assert open_sealed(key, sealed) == "Grace Hopper"
    assert open_sealed(new_key(), sealed) == ERASED
    assert open_sealed(None, sealed) == ERASED


def test_the_same_value_of_one_customer_seals_alike_and_of_another_differently() -> None:
    key = new_key()
    assert seal(key, "C-7", "Arlington") == seal(key, "C-7", "Arlington")
    assert seal(key, "C-7", "Arlington") != seal(key, "C-7", "Arlingtom")
    assert seal(key, "C-7", "Arlington") != seal(key, "C-8", "Arlington")
    assert seal(key, "C-7", seal(key, "C-7", "x")) == seal(key, "C-7", "x")  # never twice


def test_values_recorded_in_clear_read_as_they_are_and_sealed_parts_of_a_text_open() -> None:
    key = new_key()
    ship_to = ", ".join([seal(key, "C:7", "Grace Hopper"), seal(key, "C:7", "2 Compiler Rd"), "US"])
    assert reveal(ship_to, Keys(**{"C:7": key})) == "Grace Hopper, 2 Compiler Rd, US"
    assert reveal(ship_to, Keys()) == f"{ERASED}, {ERASED}, US"
    assert reveal("Ada Lovelace, 1 Engine St, GB", Keys()) == "Ada Lovelace, 1 Engine St, GB"


class KeyServer(http.server.BaseHTTPRequestHandler):
    keys: dict[str, bytes] = {}
    asked: list[str] = []
    requests: list[list[str]] = []
    traces: list[str | None] = []

    def do_POST(self) -> None:
        """`POST /customer-keys/lookup` as the order service answers it."""
        asked = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["customer_ids"]
        KeyServer.requests.append(asked)
        KeyServer.asked.extend(asked)
        KeyServer.traces.append(self.headers.get("traceparent"))
        if self.path != "/customer-keys/lookup":
            self.send_response(404)
            self.end_headers()
            return
        if self.headers.get("Authorization") != "Bearer service-token":
            self.send_response(401)
            self.end_headers()
            return
        keys = {
            customer: encoded_key(KeyServer.keys[customer]) if customer in KeyServer.keys else None
            for customer in asked
        }
        body = json.dumps({"keys": keys}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def key_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), KeyServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    KeyServer.keys, KeyServer.asked, KeyServer.traces = {"C-7": new_key()}, [], []
    KeyServer.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_keys_are_asked_for_once_per_ttl_and_forgotten_ones_are_never_asked_again(
    key_server: str,
) -> None:
    client = CustomerKeyClient(key_server, lambda: "service-token", ttl_seconds=60)
    assert client.key("C-7") == KeyServer.keys["C-7"]
    assert client.key("C-7") == KeyServer.keys["C-7"]
    assert client.key("C-8") is None
    assert KeyServer.asked == ["C-7", "C-8"]
    client.forget("C-7")
    assert client.key("C-7") is None
    assert KeyServer.asked == ["C-7", "C-8"]
    short = CustomerKeyClient(key_server, lambda: "service-token", ttl_seconds=0)
    short.key("C-7")
    short.key("C-7")
    assert KeyServer.asked.count("C-7") == 3


def test_many_customers_keys_are_asked_for_in_few_requests(key_server: str) -> None:
    customers = [f"C-{number}" for number in range(MAX_KEYS_ASKED + 20)]
    KeyServer.keys = {customer: new_key() for customer in customers[::2]}
    client = CustomerKeyClient(key_server, lambda: "service-token", ttl_seconds=60)
    client.fetch([*customers, *customers[:10]])
    assert [len(asked) for asked in KeyServer.requests] == [MAX_KEYS_ASKED, 20]
    assert {client.key(customer) for customer in customers[1::2]} == {None}
    assert [client.key(customer) for customer in customers[::2]] == [
        KeyServer.keys[customer] for customer in customers[::2]
    ]
    client.forget("C-0")
    client.fetch(["C-0", "C-1", "C-new"])
    assert KeyServer.requests[-1] == ["C-new"]  # kept and forgotten ones are not asked again
    assert client.key("C-0") is None


def test_a_recall_asks_for_its_customers_keys_at_once(key_server: str) -> None:
    keys = {customer: new_key() for customer in ("C:1", "C:2", "C:3")}
    KeyServer.keys = keys
    answers = [
        {"serial": f"SN-{n}", "customer_name": seal(keys[customer], customer, f"Name {n}")}
        for n, customer in enumerate(["C:1", "C:2", "C:3", "C:1"])
    ]
    assert customers_named(answers) == {"C:1", "C:2", "C:3"}
    client = CustomerKeyClient(key_server, lambda: "service-token", ttl_seconds=60)
    client.fetch(customers_named(answers))
    assert [sorted(asked) for asked in KeyServer.requests] == [["C:1", "C:2", "C:3"]]
    assert [reveal(answer["customer_name"], client) for answer in answers] == [
        f"Name {n}" for n in range(4)
    ]
    assert len(KeyServer.requests) == 1


async def test_a_key_lookup_carries_the_trace_it_is_asked_in(key_server: str) -> None:
    untraced = CustomerKeyClient(key_server, lambda: "service-token", ttl_seconds=0)
    await asyncio.to_thread(untraced.key, "C-7")
    assert KeyServer.traces == [None]  # tracing is off: nothing added
    assert tracing.configure("warehouse_adapter", None, exporter=InMemorySpanExporter())
    try:
        client = CustomerKeyClient(key_server, lambda: "service-token", ttl_seconds=0)
        with tracing.consuming("warehouse_adapter", record("order.events.v1", b"{}")):
            await asyncio.to_thread(client.key, "C-7")
            await client.prefetch(["C-7"])
            handling = tracing.current_traceparent()
    finally:
        tracing.shutdown()
    assert handling is not None
    assert KeyServer.traces[1:] == [handling, handling]


def test_a_refused_or_missing_token_is_an_outage_not_a_forgotten_customer(key_server: str) -> None:
    with pytest.raises(KeyLookupUnavailable, match="401"):
        CustomerKeyClient(key_server, lambda: "stolen").key("C-7")
    with pytest.raises(KeyLookupUnavailable, match="UNITRAIL_PERSONAL_DATA_TOKEN_FILE"):
        CustomerKeyClient(key_server, lambda: None).key("C-7")
    with pytest.raises(OUTAGE_ERRORS):
        CustomerKeyClient("http://127.0.0.1:9", lambda: "t", timeout_seconds=1).key("C-7")


def test_an_order_records_and_publishes_its_customer_sealed_and_a_resend_changes_nothing() -> None:
    orders = OrderApplication(None)
    intake = intake_from_channel(ChannelOrderMessage.model_validate(channel_order("P-1")))
    order_id = orders.receive_channel_order(intake)
    orders.receive_channel_order(intake)
    events = list(orders.events.get(order_id))
    assert not any(isinstance(event, Order.Amended) for event in events)
    placed = to_contract(events[0]).model_dump_json()
    for clear in ("Grace", "grace@example.com", "Compiler", "Arlington", "22201"):
        assert clear not in placed
    assert '"country":"US"' in placed
    order = orders.get_order(order_id)
    keys = orders.customer_keys
    assert reveal(order.customer.email, keys) == "grace@example.com"
    assert {
        field: reveal(str(value), keys) for field, value in asdict(order.shipping_address).items()
    }["line1"] == "2 Compiler Road"


def test_forgetting_a_customer_deletes_the_key_and_publishes_customer_forgotten() -> None:
    orders = OrderApplication(None)
    intake = intake_from_channel(ChannelOrderMessage.model_validate(channel_order("P-2")))
    order = orders.get_order(orders.receive_channel_order(intake))
    erasure_id = orders.forget_customer("C-7", actor="dpo (admin)")
    assert orders.customer_keys.key("C-7") is None
    assert reveal(order.customer.name, orders.customer_keys) == ERASED
    assert order.shipping_address.country == "US"
    orders.forget_customer("C-7", actor="dpo (admin)")
    published = [to_contract(event) for event in orders.events.get(erasure_id)]
    assert [(event.event_type, event.model_dump()) for event in published] == [
        ("CustomerForgotten", {"customer_id": "C-7", "actor": "dpo (admin)"})
    ] * 2
