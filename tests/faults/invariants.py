"""What must hold after any fault, read as an outside client reads it: over HTTP and from the
topics with confluent-kafka.

- every accepted order reaches its end state (delivered, or held / backordered as planned), none is
  lost, none decided twice (one reservation decision, one allocation, one delivery per order; one
  confirmation per parcel, one stock movement per parcel line);
- stock is conserved per SKU and location: on hand = received - shipped, reserved = what the
  orders not yet shipped hold;
- every channel's last available-to-sell figure is what stock says;
- every dead letter is one of the poison messages sent, and every poison message was dead-lettered
  with a reason.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer

from contracts.topics import SERVICES, events_topic
from infra.drain import consumed_so_far, unfinished_work
from infra.processes import consumes, relays
from services.runtime.deadletters import shown_value
from tests.faults.flow import Flow, FlowOrder, Ledger, Poison
from tests.faults.system import BROKER, SALES_CHANNELS, SIMULATORS, System, http_json, note
from tests.integration.harness import Record, read_to_ends


def envelope_of(record: Record) -> dict[str, Any] | None:
    """The envelope a record carries, or None for anything else (poison)."""
    try:
        found = json.loads(record.value)
    except ValueError:
        return None
    if not isinstance(found, dict) or not {"event_id", "aggregate_id"} <= found.keys():
        return None
    return found


def read_topic(bootstrap_servers: str, topic: str, *, timeout: float = 60) -> list[Record]:
    """Every record of `topic`, from the beginning to its end as fetches find it."""
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "fault-check"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    finally:
        consumer.close()
    starts = {(topic, partition): OFFSET_BEGINNING for partition in partitions}
    records, _ = read_to_ends(bootstrap_servers, starts, timeout=timeout)
    return records


def envelopes(bootstrap_servers: str, producer: str) -> list[dict[str, Any]]:
    """The envelopes on a service's events topic, each event once (a re-published one counts
    once: its event id is the same)."""
    distinct: dict[str, dict[str, Any]] = {}
    for record in read_topic(bootstrap_servers, events_topic(producer).name):
        envelope = envelope_of(record)
        if envelope is not None:
            distinct.setdefault(envelope["event_id"], envelope)
    return list(distinct.values())


def order_view(system: System, order: FlowOrder) -> tuple[int, dict[str, Any] | None]:
    channel = urllib.parse.quote(order.message.channel, safe="")
    number = urllib.parse.quote(order.message.channel_order_id, safe="")
    status, view = http_json("GET", f"{system.url('order')}/orders/by-channel/{channel}/{number}")
    return status, view if status == 200 else None


def reached(order: FlowOrder, view: dict[str, Any] | None) -> bool:
    if view is None:
        return False
    if order.expect == "held":
        return bool(view["on_hold"]) and view["status"] == "allocated"
    return bool(view["status"] == order.expect) and not view["on_hold"]


def describe_state(view: dict[str, Any] | None) -> str:
    if view is None:
        return "unknown to the order service"
    return f"{view['status']}{' (on hold)' if view['on_hold'] else ''}"


@dataclass
class Verdict:
    """The outcome of one check of the invariants."""

    accepted: int = 0
    delivered: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [
            *(f"lost: {reference}" for reference in self.lost),
            *(f"duplicated: {what}" for what in self.duplicated),
            *(f"stuck: {what}" for what in self.stuck),
            *self.violations,
        ]

    def report(self) -> str:
        """The summary and every problem, one a line."""
        return "\n".join([self.summary(), *self.problems])

    def summary(self) -> str:
        return (
            f"orders accepted {self.accepted} · delivered {self.delivered} · "
            f"lost {len(self.lost)} · duplicated {len(self.duplicated)} · "
            f"stuck {len(self.stuck)} · other violations {len(self.violations)}"
        )


def settle(
    system: System, ledger: Ledger, *, timeout: float = 180
) -> dict[str, dict[str, Any] | None]:
    """Wait until every accepted order is in its planned end state (or the timeout): the views."""
    views: dict[str, dict[str, Any] | None] = {}
    pending = list(ledger.accepted)
    deadline = time.monotonic() + timeout
    while True:
        still = []
        for order in pending:
            _, view = order_view(system, order)
            views[order.reference] = view
            if not reached(order, view):
                still.append(order)
        pending = still
        if not pending or time.monotonic() > deadline:
            return views
        time.sleep(1)


def wait_until_quiet(system: System, *, timeout: float = 120) -> list[str]:
    """Until every consumer has caught up and every relay has published all it stored, as the
    launcher's drain judges it from /health, with no message counted between two looks; what is
    still unfinished at the timeout (nothing when quiet)."""
    deadline = time.monotonic() + timeout
    counted: dict[str, object] | None = None
    while True:
        answers = {
            service: http_json("GET", f"{system.url(service)}/health")[1] for service in SERVICES
        }
        unfinished = {
            service: unfinished_work(
                health if isinstance(health, dict) else None,
                consumes=consumes(service),
                relays=relays(service),
            )
            for service, health in answers.items()
        }
        now_counted = {
            service: consumed_so_far(health if isinstance(health, dict) else None)
            for service, health in answers.items()
        }
        if not any(unfinished.values()) and now_counted == counted:
            return []
        if time.monotonic() > deadline:
            return [
                f"{service} never caught up: {', '.join(pending)}"
                for service, pending in unfinished.items()
                if pending
            ]
        counted = now_counted
        time.sleep(1)


def kill_the_broker_with_nothing_of_the_partners_in_flight(
    system: System, flow: Flow | None = None
) -> None:
    """kill -9 of the embedded broker once the simulated partners are held (SIGSTOP) and all they
    published was consumed: their messages live on the broker only, which keeps nothing when it
    dies (on the embedded broker a partner uses the durable HTTP intake). The broker comes back
    empty; the partners are let go once every service is healthy again (the launcher lets every
    process go on once the new broker is up, and the simulators then start again on it).

    With `flow`, the broker dies just after the flow's next order was accepted: the services
    store its events after the broker died, and their relays publish them to the new broker
    before they notice it is another, ahead of their stores published again."""
    partners = system.freeze(SIMULATORS)
    try:
        assert not (unfinished := wait_until_quiet(system)), unfinished
        if flow is not None:
            flow.next_accepted()
            time.sleep(0.1)  # the order on its way from the order service to inventory
        dead = system.kill(BROKER)
        system.wait_until_replaced(BROKER, dead)
        system.wait_until_healthy()
    finally:
        system.thaw(partners)


def check(system: System, ledger: Ledger, *, timeout: float = 180) -> Verdict:
    """Wait for the accepted orders to settle and the system to be quiet (so the topics hold
    everything the stores do), then check every invariant."""
    views = settle(system, ledger, timeout=timeout)
    verdict = Verdict(accepted=len(ledger.accepted))
    verdict.violations.extend(wait_until_quiet(system))
    note("orders settled; checking the invariants")
    for order in ledger.accepted:
        view = views.get(order.reference)
        if view is None:
            status, _ = order_view(system, order)
            if status == 404:
                verdict.lost.append(order.reference)
                continue
        if not reached(order, view):
            verdict.stuck.append(
                f"{order.reference} is {describe_state(view)}, expected {order.expect}"
            )
        elif order.expect == "delivered":
            verdict.delivered += 1
    known = {
        order.reference: view for order in ledger.accepted if (view := views.get(order.reference))
    }
    bootstrap = system.bootstrap_servers
    check_decided_once(
        verdict,
        ledger,
        envelopes(bootstrap, "order"),
        envelopes(bootstrap, "inventory"),
        envelopes(bootstrap, "warehouse_adapter"),
    )
    check_stock(verdict, system, ledger, known, envelopes(bootstrap, "inventory"))
    check_dead_letters(verdict, system, ledger)
    note(verdict.summary())
    return verdict


def _by(
    events: Iterable[dict[str, Any]], *keys: str
) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        grouped[tuple(event["payload"][key] for key in keys)].append(event)
    return grouped


def _of_type(events: Iterable[dict[str, Any]], *types: str) -> list[dict[str, Any]]:
    return [event for event in events if event["event_type"] in types]


def check_decided_once(
    verdict: Verdict,
    ledger: Ledger,
    order_events: list[dict[str, Any]],
    inventory_events: list[dict[str, Any]],
    warehouse_events: list[dict[str, Any]],
) -> None:
    """One decision, allocation and delivery per order; one confirmation per parcel and one stock
    movement per parcel line. Events count once per event id, so a re-publication is no double;
    two distinct events of the same kind for the same order are."""
    per_order: dict[str, Counter[str]] = defaultdict(Counter)
    for event in order_events:
        per_order[event["aggregate_id"]][event["event_type"]] += 1
    decisions = _by(_of_type(inventory_events, "StockReserved", "StockShortage"), "order_id")
    for order in ledger.accepted:
        counts = per_order.get(str(order.order_id), Counter())
        for kinds in (
            ("OrderPlaced",),
            ("OrderAllocated", "OrderBackordered"),
            ("OrderDelivered",),
        ):
            times = sum(counts[kind] for kind in kinds)
            if times > 1:
                verdict.duplicated.append(f"{order.reference}: {' or '.join(kinds)} {times} times")
        decided = len(decisions.get((str(order.order_id),), []))
        if decided > 1:
            verdict.duplicated.append(f"{order.reference}: inventory decided {decided} times")
    for (shipment,), confirmed in _by(
        _of_type(warehouse_events, "ShipmentConfirmed"), "shipment_id"
    ).items():
        if len(confirmed) > 1:
            verdict.duplicated.append(f"shipment {shipment} confirmed {len(confirmed)} times")
    for (shipment, line), moved in _by(
        _of_type(inventory_events, "StockShipped"), "shipment_id", "line_number"
    ).items():
        if len(moved) > 1:
            verdict.duplicated.append(
                f"shipment {shipment} line {line}: shipped {len(moved)} times"
            )


def expected_stock(
    ledger: Ledger, views: dict[str, dict[str, Any]]
) -> dict[tuple[str, str], tuple[int, int]]:
    """(SKU, location) → (on hand, reserved) from what was received and what the orders say."""
    shipped: Counter[tuple[str, str]] = Counter()
    allocated: Counter[tuple[str, str]] = Counter()
    for view in views.values():
        for shipment in view["shipments"]:
            if shipment["shipped"]:
                for line in shipment["lines"]:
                    shipped[(line["sku"], shipment["location"])] += line["quantity"]
        for line in view["allocation"]:
            for allocation in line["allocations"]:
                allocated[(line["sku"], allocation["location"])] += allocation["quantity"]
    return {
        key: (ledger.received[key] - shipped[key], allocated[key] - shipped[key])
        for key in {*ledger.received, *shipped, *allocated}
    }


def shipped_per_order(
    views: dict[str, dict[str, Any]], inventory_events: list[dict[str, Any]]
) -> list[str]:
    """Orders whose parcels (as the order service tells) and stock movements (as inventory
    published them) disagree: where a stock discrepancy comes from."""
    by_order: dict[str, Counter[tuple[str, str]]] = defaultdict(Counter)
    for event in _of_type(inventory_events, "StockShipped"):
        payload = event["payload"]
        by_order[payload["order_id"]][(payload["sku"], payload["location"])] += payload["quantity"]
    disagreements = []
    for reference, view in views.items():
        told: Counter[tuple[str, str]] = Counter()
        for shipment in view["shipments"]:
            if shipment["shipped"]:
                for line in shipment["lines"]:
                    told[(line["sku"], shipment["location"])] += line["quantity"]
        moved = by_order.pop(view["order_id"], Counter())
        if moved != told:
            disagreements.append(
                f"{reference} ({describe_state(view)}): parcels {dict(told)}, stock shipped "
                f"{dict(moved)}"
            )
    disagreements.extend(
        f"order {order_id} (not accepted by the tests): stock shipped {dict(moved)}"
        for order_id, moved in by_order.items()
    )
    return disagreements


def check_stock(
    verdict: Verdict,
    system: System,
    ledger: Ledger,
    views: dict[str, dict[str, Any]],
    inventory_events: list[dict[str, Any]],
) -> None:
    """On hand and reserved per location as the orders say, and each channel's last
    available-to-sell figure equal to what stock says (it may trail the stock by a moment)."""
    wanted = expected_stock(ledger, views)
    verdict.violations.extend(shipped_per_order(views, inventory_events))
    available: Counter[str] = Counter()
    for sku in sorted({sku for sku, _ in wanted}):
        status, stock = http_json(
            "GET", f"{system.url('inventory')}/stock/{urllib.parse.quote(sku)}"
        )
        if status != 200:
            verdict.violations.append(f"stock of {sku}: HTTP {status}")
            continue
        levels = {level["location"]: level for level in stock["locations"]}
        for (item, location), (on_hand, reserved) in sorted(wanted.items()):
            if item != sku:
                continue
            level = levels.get(location, {"on_hand": 0, "reserved": 0})
            if (level["on_hand"], level["reserved"]) != (on_hand, reserved):
                verdict.violations.append(
                    f"stock of {sku} at {location}: on hand {level['on_hand']}, reserved "
                    f"{level['reserved']}; expected {on_hand} and {reserved} "
                    f"(received {ledger.received[(sku, location)]})"
                )
        available[sku] = sum(level["available"] for level in levels.values())
    deadline = time.monotonic() + 30
    while True:
        wrong = wrong_available_to_sell(system, available)
        if not wrong or time.monotonic() > deadline:
            verdict.violations.extend(wrong)
            return
        time.sleep(1)


def wrong_available_to_sell(system: System, available: Counter[str]) -> list[str]:
    latest: dict[tuple[str, str], tuple[int, int]] = {}
    for event in envelopes(system.bootstrap_servers, "inventory"):
        if event["event_type"] != "AvailableToSellChanged":
            continue
        key = (event["payload"]["sku"], event["payload"]["channel"])
        if event["aggregate_version"] > latest.get(key, (0, 0))[0]:
            latest[key] = (event["aggregate_version"], event["payload"]["new"])
    wrong = []
    for sku, units in sorted(available.items()):
        for channel, buffer in sorted(SALES_CHANNELS.items()):
            figure = latest.get((sku, channel), (0, 0))[1]
            if figure != max(0, units - buffer):
                wrong.append(
                    f"available-to-sell of {sku} on {channel}: {figure}, "
                    f"expected {max(0, units - buffer)}"
                )
    return wrong


def open_dead_letters(system: System) -> dict[str, list[dict[str, Any]]]:
    """Service → its dead and parked messages (kept in its database), each with its bytes."""
    found: dict[str, list[dict[str, Any]]] = {}
    for service in SERVICES:
        status, listing = http_json("GET", f"{system.url(service)}/dead-letters")
        if status == 404:
            continue  # a service that consumes nothing
        assert status == 200, f"{service} /dead-letters: HTTP {status} {listing}"
        found[service] = []
        for letter in listing["dead_letters"]:
            status, detail = http_json("GET", f"{system.url(service)}/dead-letters/{letter['id']}")
            assert status == 200, f"{service} dead letter {letter['id']}: HTTP {status}"
            found[service].append(detail)
    return found


def _as_shown(poison: Poison) -> str:
    return shown_value(poison.topic, poison.value).decode(errors="replace")


def check_dead_letters(verdict: Verdict, system: System, ledger: Ledger) -> None:
    """Each poison message dead-lettered with a reason where expected; nothing else dead or
    parked (a parked event would be an order's history stuck behind something)."""
    # A channel's message is kept with its customer sealed (`services.runtime.deadletters`).
    sent = {_as_shown(message) for message in ledger.poison}
    letters = open_dead_letters(system)
    for service, found in letters.items():
        for letter in found:
            if letter["value"] not in sent:
                verdict.violations.append(
                    f"{service} holds a {letter['state']} message nobody poisoned "
                    f"({letter['topic']}): {letter['reason'][:300]}"
                )
    for poison in ledger.poison:
        for service in poison.dead_letter_services:
            text = _as_shown(poison)
            reasons = [
                letter["reason"] for letter in letters.get(service, []) if letter["value"] == text
            ]
            if not any(reasons):
                verdict.violations.append(
                    f"{poison.what} on {poison.topic}: not dead-lettered by {service} with a reason"
                )
