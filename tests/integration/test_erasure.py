"""Forgetting a customer on the real system (GDPR Art. 17, by crypto-shredding): before, the
services that need them see the customer's name, e-mail and address in clear through the key
lookup; after `unitrail forget-customer`, no database table of any service, no byte of any topic
kept for ever, no log line and no CSV recall holds them, while recall and trace still work and
show "erased" for the holder and keep the order ids. Another customer is untouched."""

from __future__ import annotations

import base64
import json
import re
import warnings
from pathlib import Path
from typing import Any

import psycopg
import pytest

from contracts.channel import order_id_for
from contracts.topics import SERVICES, THREEPL_FULFILMENT_REQUESTS, all_topics
from infra import cli
from services.runtime.database import PostgresLocation
from services.runtime.privacy import ERASED, is_sealed
from tests.integration.harness import (
    Channel,
    ServiceProcess,
    Services,
    Simulators,
    Stack,
    Topics,
    channel_order,
    eventually,
    read_to_ends,
    receive_serials,
    register_product,
)
from tests.integration.test_idempotent_requests import send
from tests.integration.test_traceability import Deliveries, Run, settled, until

pytestmark = pytest.mark.integration

FORGOTTEN = {"customer_id": "C-GONE", "name": "Ada Forgettable", "email": "ada.gone@example.org"}
KEPT = {"customer_id": "C-KEPT", "name": "Bob Remembered", "email": "bob.kept@example.org"}
ADDRESSES = {
    "C-GONE": {"name": "Ada Forgettable", "line1": "13 Vanishing Lane", "city": "Lethetown",
               "region": "OR", "postal_code": "97999-0413", "country": "US"},
    "C-KEPT": {"name": "Bob Remembered", "line1": "7 Memory Street", "city": "Mnemosyne",
               "region": "WA", "postal_code": "98999", "country": "US"},
}  # fmt: skip
PLAINTEXT = [FORGOTTEN["name"], FORGOTTEN["email"], "13 Vanishing Lane", "Lethetown", "97999-0413"]
"""What must not be found anywhere once the customer is forgotten. The postal code in its ZIP+4
form: five digits alone turn up by chance in the ids and tracking numbers the search reads (a run
found "97999" in six tables, the shipments' among them, and nothing else of the address)."""


def order_of(number: str, person: dict[str, str]) -> dict[str, object]:
    message = channel_order(number, lines=[("CAM-E", 1)], customer=person)
    message["shipping_address"] = ADDRESSES[person["customer_id"]]
    return message


def database_text(stack: Stack) -> dict[str, str]:
    """Every row of every table of every service's database (all schemas), as text."""
    server = PostgresLocation.from_dsn(stack.postgres_dsn)
    dumps: dict[str, str] = {}
    for service in SERVICES:
        location = server.with_database(f"{stack.database_prefix}_{service}")
        with psycopg.connect(location.dsn()) as connection:
            tables = connection.execute(
                "SELECT table_schema, table_name FROM information_schema.tables"
                " WHERE table_type = 'BASE TABLE'"
                " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            ).fetchall()
            for schema, table in tables:
                rows = connection.execute(
                    f'SELECT t::text FROM "{schema}"."{table}" t'.encode()
                ).fetchall()
                # bytea, jsonb unicode escapes and base64 (an idempotent answer's body) would
                # hide text: compare decoded as well
                text = "\n".join(row[0] for row in rows)
                unescaped = _unescaped(text)
                dumps[f"{service}:{schema}.{table}"] = "\n".join(
                    [text, unescaped, _base64_decoded(unescaped)]
                )
    return dumps


def _unescaped(text: str) -> str:
    text = BYTEA_HEX.sub(lambda match: bytes.fromhex(match[1]).decode("utf-8", "replace"), text)
    try:
        # A dump holds backslashes that are no escape (regular expressions in DDL, say).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return text.encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")
    except UnicodeError:
        return text


BYTEA_HEX = re.compile(r"\\x((?:[0-9a-f]{2})+)")
BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}")


def _base64_decoded(text: str) -> str:
    """Every run of text that reads as base64, decoded."""
    decoded = []
    for match in BASE64_RUN.finditer(text):
        run = match.group(0)
        try:
            decoded.append(base64.b64decode(run + "=" * (-len(run) % 4)).decode("utf-8", "replace"))
        except ValueError:
            continue
    return "\n".join(decoded)


def keyed_post(service: ServiceProcess, path: str, body: dict[str, Any], key: str) -> Any:
    """A POST sent with an idempotency key (its answer is kept for a repeat): the answer."""
    status, _, answer = send(service, path, body, key)
    assert status == 200, answer
    return answer


def topic_bytes(stack: Stack, names: list[str]) -> dict[str, bytes]:
    starts = {(name, partition): -2 for name in names for partition in range(_partitions(name))}
    records, _ = read_to_ends(stack.bootstrap_servers, starts)
    found: dict[str, bytes] = {name: b"" for name in names}
    for record in records:
        headers = json.dumps(record.headers).encode()
        found[record.topic] += (record.key or b"") + record.value + headers
    return found


def _partitions(name: str) -> int:
    return next(topic.partitions for topic in all_topics() if topic.name == name)


def found_in(texts: dict[str, str] | dict[str, bytes], needles: list[str]) -> list[str]:
    return [
        f"{needle!r} in {where}"
        for where, text in texts.items()
        for needle in needles
        if (needle.encode() if isinstance(text, bytes) else needle) in text  # type: ignore[operator]
    ]


def test_a_forgotten_customer_is_nowhere_in_clear_and_recall_still_reaches_their_orders(
    stack: Stack,
    services: Services,
    simulators: Simulators,
    channel: Channel,
    topic: Topics,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pim, inventory, order, _, _, shipping, traceability = services(*SERVICES)
    simulators()
    run = Run(traceability.url, capsys)
    register_product(pim, shipping, "CAM-E", 700, lithium=False)
    receive_serials(inventory, "CAM-E", "WH-A", "E-1", "E-2", "E-3", batch="BE", reference="PO-E")
    sent = {"E1": FORGOTTEN, "E2": FORGOTTEN, "E3": KEPT}
    for number, person in sent.items():
        channel.send(order_of(number, person))
    orders = {str(order_id_for("webshop", number)) for number in sent}
    deliveries = Deliveries(topic)
    until(lambda: deliveries.poll() >= orders, timeout=240, what="the orders to be delivered")
    settled(stack, traceability)

    # Before: who needs it sees it in clear, through the key lookup; what is kept, only sealed.
    recall = run.json("recall", "--batch", "BE", "--format", "json")
    holders = {unit["order_id"]: unit["holder"] for unit in recall["units"]}
    assert sorted(holders.values()) == sorted(person["name"] for person in sent.values())
    requests = topic_bytes(stack, [THREEPL_FULFILMENT_REQUESTS.name])
    assert b"13 Vanishing Lane" in requests[THREEPL_FULFILMENT_REQUESTS.name]
    view = order.get(f"/orders/{order_id_for('webshop', 'E1')}")
    assert (view["customer"]["email"], view["shipping_address"]["city"]) == (
        FORGOTTEN["email"],
        "Lethetown",
    )
    # An idempotent command whose answer (the order's view) shows the customer: the answer kept
    # for a repeat holds them sealed, and a repeat shows them opened.
    # (E5 finds no stock left: it waits, and may be held.)
    channel.send(order_of("E5", FORGOTTEN))
    eventually(
        lambda: order.exists(f"/orders/{order_id_for('webshop', 'E5')}"),
        timeout=120,
        what="the order E5 to be placed",
    )
    held = f"/orders/{order_id_for('webshop', 'E5')}/hold"
    answer = keyed_post(order, held, {"reason": "address check"}, "hold-E5")
    assert answer["customer"]["name"] == FORGOTTEN["name"]
    assert keyed_post(order, held, {"reason": "address check"}, "hold-E5") == answer
    # A channel message of the customer that cannot be applied: a dead letter, sealed; a redrive
    # reads it as it came (the same schema violation, nothing about its sealed values).
    channel.send(order_of("E4", FORGOTTEN) | {"fraud_score": 101})
    dead = eventually(
        lambda: [
            letter
            for letter in order.get("/dead-letters")["dead_letters"]
            if "fraud_score" in letter["reason"]
        ],
        timeout=120,
        what="the invalid order to be dead-lettered",
    )[0]
    assert PLAINTEXT[0] not in json.dumps(order.get(f"/dead-letters/{dead['id']}"))
    (redriven,) = order.post(f"/dead-letters/{dead['id']}/redrive", {})["results"]
    assert redriven["state"] == "dead"
    assert redriven["reason"] == dead["reason"]
    # The audit shows an analyst the customer opened.
    audit = run.json("audit", "webshop:E1", "--json")
    assert FORGOTTEN["email"] in json.dumps(audit)

    assert cli.main(["--order-url", order.url, "forget-customer", "C-GONE"]) == 0
    assert "forgotten" in capsys.readouterr().out

    # After: recall and trace still answer, with the order ids, and "erased" for the holder.
    def erased() -> bool:
        answer = run.json("recall", "--batch", "BE", "--format", "json")
        return sorted(unit["holder"] for unit in answer["units"]) == sorted(
            [ERASED, ERASED, KEPT["name"]]
        )

    eventually(erased, timeout=60, what="the recall to show the forgotten customer as erased")

    # The returns service drops the address its order lines kept (sealed) but the country.
    def returns_lines() -> dict[str, dict[str, str]]:
        location = PostgresLocation.from_dsn(stack.postgres_dsn).with_database(
            f"{stack.database_prefix}_returns"
        )
        with psycopg.connect(location.dsn()) as connection:
            rows = connection.execute("SELECT order_id::text, ship_to FROM order_lines").fetchall()
        return {order_id: ship_to for order_id, ship_to in rows}

    def returns_dropped() -> bool:
        forgotten = [
            address["line1"]
            for order_id, address in returns_lines().items()
            if order_id != str(order_id_for("webshop", "E3"))
        ]
        return len(forgotten) >= 2 and set(forgotten) == {ERASED}

    eventually(
        returns_dropped,
        timeout=60,
        what="the returns service to drop the forgotten customer's address",
    )
    kept = returns_lines()[str(order_id_for("webshop", "E3"))]
    assert is_sealed(kept["line1"])
    assert {a["country"] for a in returns_lines().values()} == {"US"}
    settled(stack, traceability)
    recall = run.json("recall", "--batch", "BE", "--format", "json")
    assert {unit["order_id"] for unit in recall["units"]} == orders
    forgotten_units = [unit for unit in recall["units"] if unit["holder"] == ERASED]
    assert {unit["channel_order_id"] for unit in forgotten_units} == {"E1", "E2"}
    (unit,) = run.json("trace", "serial", forgotten_units[0]["serial"], "--json")["units"]
    assert (unit["holder"], unit["order_id"]) == (ERASED, forgotten_units[0]["order_id"])
    assert {row["customer_name"] for row in unit["history"]} <= {ERASED, None}
    csv = run("recall", "--batch", "BE", "--format", "csv")
    assert KEPT["name"] in csv
    view = order.get(f"/orders/{order_id_for('webshop', 'E1')}")
    assert (view["customer"]["name"], view["shipping_address"]["line1"]) == (ERASED, ERASED)
    again = keyed_post(order, held, {"reason": "address check"}, "hold-E5")
    assert (again["customer"]["name"], again["order_id"]) == (ERASED, answer["order_id"])
    audit = json.dumps(run.json("audit", "webshop:E1", "--json"))
    assert ERASED in audit
    assert "pii1." not in audit

    # Nowhere in clear: databases, topics kept for ever, logs, the CSV recall. (The searches do
    # find what is there: the clear customer id in the tables, the channel's own message on its
    # topic of bounded retention.)
    tables = database_text(stack)
    assert found_in(tables, PLAINTEXT) == []
    assert found_in(tables, ["C-GONE"])
    kept_for_ever = [topic.name for topic in all_topics() if not topic.personal_data]
    assert found_in(topic_bytes(stack, kept_for_ever), PLAINTEXT) == []
    assert found_in(topic_bytes(stack, ["channel.orders.v1"]), ["13 Vanishing Lane"])
    logs = {str(path.name): path.read_text(errors="replace") for path in _logs(stack.log_dir)}
    assert logs
    assert found_in(logs, PLAINTEXT) == []
    assert found_in({"recall.csv": csv}, PLAINTEXT) == []
    # The kept customer is still there in clear for those who need it (the control).
    assert KEPT["name"] in json.dumps(run.json("recall", "--batch", "BE", "--format", "json"))


def _logs(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.log"))
