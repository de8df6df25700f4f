"""Drive the real system from outside: service processes, a channel connector and topic readers.

The outside clients use confluent-kafka (librdkafka), not the services' aiokafka code, so the tests
see what any Kafka client would see.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from jsonschema import Draft202012Validator

from contracts.base import IntegrationEvent
from contracts.envelope import Envelope
from infra.embedded import free_port, wait_for_port
from infra.tokens import LocalIssuer
from services.runtime.auth import Role

T = TypeVar("T")


def eventually(check: Callable[[], T | None], *, timeout: float = 30, what: str = "") -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        time.sleep(0.1)


@dataclass
class Stack:
    """Where the servers of one test are, and the names that keep its data apart."""

    postgres_dsn: str
    bootstrap_servers: str
    database_prefix: str
    log_dir: Path
    order_port: int = field(default_factory=free_port)
    """The first order service process's port: the others ask it for customers' keys."""
    order_port_taken: bool = False
    idempotent_producers: bool = False
    """On real Kafka the services' producers are idempotent, as in production; the embedded
    broker does not take them."""
    processes: list[ServiceProcess] = field(default_factory=list, repr=False, compare=False)
    """Every service process started on it, for a failed test's report."""
    ports_given: set[int] = field(default_factory=set, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.ports_given.add(self.order_port)

    def new_port(self) -> int:
        """A free port none of this stack's processes was given: a port chosen and not yet
        bound is free to the system, which can hand it out again (order's reserved port went
        to PIM once, and order could not start)."""
        while (port := free_port()) in self.ports_given:
            pass
        self.ports_given.add(port)
        return port

    @property
    def issuer(self) -> LocalIssuer:
        """The key the test's services trust, as `scripts/run` makes one."""
        return LocalIssuer(self.log_dir / "auth").ensure()

    def token(
        self, role: Role = Role.ADMIN, subject: str = "test", *, channel: str | None = None
    ) -> str:
        """A bearer token the test's services accept (`admin` unless told otherwise)."""
        return self.issuer.issue(role, subject, channel=channel)

    def env(self) -> dict[str, str]:
        return os.environ | {
            "UNITRAIL_AUTH_PUBLIC_KEY_FILE": str(self.issuer.public_key_file),
            "UNITRAIL_PERSONAL_DATA_TOKEN_FILE": str(self.issuer.personal_data_token_file()),
            "UNITRAIL_ORDER_URL": f"http://127.0.0.1:{self.order_port}",
            "POSTGRES_DSN": self.postgres_dsn,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "UNITRAIL_DATABASE_PREFIX": self.database_prefix,
            "UNITRAIL_KAFKA_IDEMPOTENCE": str(self.idempotent_producers).lower(),
            "UNITRAIL_LOG_LEVEL": "info",
            # Joins the group in about 1.5 s on the embedded broker instead of 5 s.
            "UNITRAIL_KAFKA_SESSION_TIMEOUT_MS": "3000",
        }


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """Ask a process to stop (SIGTERM), and kill it when it has not within 20 s."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class ServiceProcess:
    """One service running as its own operating-system process."""

    name: str
    stack: Stack
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    instance: int = 0

    def __post_init__(self) -> None:
        if self.port:
            return
        if self.name == "order" and not self.stack.order_port_taken:
            self.stack.order_port_taken = True
            self.port = self.stack.order_port
        else:
            self.port = self.stack.new_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        self.launch()
        return self.wait_until_healthy()

    def launch(self) -> None:
        self.instance += 1
        if not any(process is self for process in self.stack.processes):
            self.stack.processes.append(self)
        log = self.stack.log_dir / f"{self.name}-{self.port}-{self.instance}.log"
        env = self.stack.env() | {f"UNITRAIL_{self.name.upper()}_HTTP_PORT": str(self.port)}
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", f"services.{self.name}.main"],
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def wait_until_healthy(self) -> ServiceProcess:
        wait_for_port("127.0.0.1", self.port, timeout=60)
        eventually(self.healthy, timeout=60, what=f"{self.name} to be healthy")
        return self

    def status(self) -> str:
        """What `/health` says now (whatever its status code), or why it says nothing."""
        if self.process is None or self.process.poll() is not None:
            return f"not running (exit code {self.process.returncode if self.process else None})"
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=3) as reply:
                return str(reply.read().decode())
        except urllib.error.HTTPError as error:
            return str(error.read().decode())
        except OSError as error:
            return f"no answer: {error!r}"

    def healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.process.returncode}")
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        stop_process(self.process)

    def authorization(self, token: str | None = None) -> dict[str, str]:
        """The header that authenticates a call: `token`, or an admin token of the test."""
        return {"authorization": f"Bearer {token or self.stack.token()}"}

    def get(self, path: str, *, token: str | None = None) -> Any:
        call = urllib.request.Request(f"{self.url}{path}", headers=self.authorization(token))
        with urllib.request.urlopen(call, timeout=5) as reply:
            return json.loads(reply.read())

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return False
            raise
        return True

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self.post(path, body, method="PUT")

    def post(
        self, path: str, body: dict[str, Any], method: str = "POST", *, token: str | None = None
    ) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"} | self.authorization(token),
            method=method,
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            return json.loads(reply.read())

    def receive_stock(self, sku: str, location: str, quantity: int) -> None:
        self.post(
            "/stock/receipts",
            {
                "sku": sku,
                "location": location,
                "quantity": quantity,
                "reason": "initial-count",
            },
        )


INSTANT_PARTNERS = {
    "UNITRAIL_SIMULATED_3PL_PICK_DELAY": "0",
    "UNITRAIL_SIMULATED_3PL_PACK_DELAY": "0",
    "UNITRAIL_SIMULATED_3PL_SHIP_DELAY": "0",
    "UNITRAIL_SIMULATED_3PL_MIS_SCAN_RATE": "0",
    "UNITRAIL_SIMULATED_3PL_DUPLICATE_RATE": "0",
    # Long enough for an ASN recorded right after its order's confirmation to be waited for.
    "UNITRAIL_SIMULATED_3PL_RECEIVE_DELAY": "1",
    "UNITRAIL_SIMULATED_CARRIERS_PICKUP_DELAY": "0",
    "UNITRAIL_SIMULATED_CARRIERS_TRANSIT_DELAY": "0",
    "UNITRAIL_SIMULATED_CARRIERS_DELIVERY_DELAY": "0",
    "UNITRAIL_SIMULATED_CARRIERS_REDELIVERY_DELAY": "0",
    "UNITRAIL_SIMULATED_CARRIERS_EXCEPTION_RATE": "0",
    "UNITRAIL_SIMULATED_RETURNS_TRANSIT_DELAY": "0",
    "UNITRAIL_SIMULATED_RETURNS_SWITCHEROO_RATE": "0",
}
"""Simulator settings for tests: no delays and no mistakes (tests turn the mistakes they want on)."""


@dataclass
class SimulatorsProcess:
    """The simulated 3PL and carriers (`python -m infra.simulators`) as their own process."""

    stack: Stack
    settings: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.stack.log_dir / "simulators.log"

    def start(self) -> SimulatorsProcess:
        with self.log_file.open("ab") as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "infra.simulators"],
                env=self.stack.env() | INSTANT_PARTNERS | self.settings,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        return self

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)


Simulators = Callable[..., SimulatorsProcess]
"""The `simulators` fixture: start the simulated partners with settings (env name → value)."""


PUBLISHED_SCHEMAS = Path(__file__).parents[2] / "contracts" / "schemas"


@functools.cache
def schema_validator(stem: str) -> Draft202012Validator:
    """A validator of the published JSON Schema `stem` (e.g. `ChannelOrderMessage.v1`), as a
    partner who knows Unitrail only by its schemas would build it."""
    return Draft202012Validator(json.loads((PUBLISHED_SCHEMAS / f"{stem}.json").read_text()))


def schema_checked(envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Envelopes as a partner reads them: each checked against `Envelope.v1`, and its payload
    against the schema its `event_type` and `schema_version` name (each message once)."""
    for envelope in envelopes:
        seen = json.dumps(envelope, sort_keys=True)
        if seen in _CHECKED:
            continue
        schema_validator("Envelope.v1").validate(envelope)
        stem = f"{envelope['event_type']}.v{envelope['schema_version']}"
        schema_validator(stem).validate(envelope["payload"])
        _CHECKED.add(seen)
    return envelopes


_CHECKED: set[str] = set()


def channel_order(
    channel_order_id: str,
    *,
    channel: str = "webshop",
    lines: list[tuple[str, int]] | None = None,
    paid: bool = True,
    country: str = "US",
    customer: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A channel order message exactly as a connector would write it (plain JSON)."""
    return {
        "channel": channel,
        "channel_order_id": channel_order_id,
        "placed_at": datetime.now(UTC).isoformat(),
        "customer": customer
        or {"customer_id": "C-7", "name": "Grace Hopper", "email": "grace@example.com"},
        "shipping_address": {
            "name": "Grace Hopper",
            "line1": "2 Compiler Road",
            "city": "Arlington",
            "region": "VA",
            "postal_code": "22201",
            "country": country,
        },
        "lines": [
            {"sku": sku, "quantity": quantity, "unit_price": "1199.00"}
            for sku, quantity in (lines or [("LAPTOP-14", 1)])
        ],
        "currency": "USD",
        "payment_status": "paid" if paid else "pending",
        "fraud_score": 4.5,
    }


class Channel:
    """A channel connector: publishes raw bytes to `channel.orders.v1` with librdkafka."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self._producer = Producer(
            {"bootstrap.servers": bootstrap_servers, "acks": "all", "log.connection.close": False}
        )

    def send(
        self,
        message: dict[str, Any] | bytes,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if isinstance(message, dict):
            key = key or f"{message['channel']}:{message['channel_order_id']}"
            value = json.dumps(message).encode()
        else:
            value = message
        self.publish("channel.orders.v1", value, key=key, headers=headers)

    def close(self) -> None:
        """Let go of the producer before its broker goes, so it does not keep reconnecting."""
        self._producer.flush(1)
        del self._producer

    def publish(
        self,
        topic: str,
        value: bytes,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, _: object) -> None:
            if error is not None:
                failures.append(error)

        self._producer.produce(
            topic,
            value=value,
            key=key.encode() if key else None,
            headers=list((headers or {}).items()),
            on_delivery=delivered,
        )
        # A send the broker refused is reported to the callback only: flush counts what is
        # still queued.
        if self._producer.flush(10) or failures:
            raise AssertionError(f"could not deliver to {topic}: {failures or 'timed out'}")


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    timestamp_ms: int = field(default=0, compare=False)
    """When its producer made it (the record's create time), in ms since the epoch."""

    def json(self) -> Any:
        return json.loads(self.value)


class TopicReader:
    """Reads a whole topic from the beginning, by assignment (no consumer group)."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.topic = topic
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": f"test-reader-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "log.connection.close": False,
            }
        )
        metadata = self._consumer.list_topics(topic, timeout=10)
        partitions = metadata.topics[topic].partitions
        self._consumer.assign(
            [TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in partitions]
        )
        self.records: list[Record] = []

    def poll(self) -> list[Record]:
        """Everything that arrived since the last poll, added to `records`."""
        while True:
            message = self._consumer.poll(0.2)
            if message is None:
                return self.records
            if message.error():
                continue
            self.records.append(record_of(message))

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        envelopes = [record.json() for record in self.poll()]
        return [e for e in envelopes if event_type is None or e["event_type"] == event_type]

    def distinct_events(self, event_type: str) -> dict[str, dict[str, Any]]:
        """By event id: a re-published event counts once."""
        return {event["event_id"]: event for event in self.events(event_type)}

    def close(self) -> None:
        self._consumer.close()


def by_order(events: Iterable[dict[str, Any]]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = {}
    for event in events:
        grouped.setdefault(event["payload"]["order_id"], []).append(event)
    return grouped


def request(
    service: ServiceProcess,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "",
    *,
    token: str | None = None,
    anonymous: bool = False,
) -> tuple[int, Any]:
    """An HTTP call that returns the status and JSON body, errors included; with `token` (an
    admin token by default), or none when `anonymous`."""
    data = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    headers = {"content-type": content_type or "application/json"}
    if not anonymous:
        headers |= service.authorization(token)
    call = urllib.request.Request(f"{service.url}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(call, timeout=120) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


OPEN_PATHS = {"/health"}
NOT_TRIED = frozenset({("post", "/replays")})
"""An admitted call to it rebuilds the read models: the runtime's own tests cover it."""


def made_up(parameter: re.Match[str]) -> str:
    """A value of a path parameter that names nothing; a channel token's own channel."""
    return "webshop" if parameter.group(1) == "channel" else str(uuid.uuid4())


def operations(
    service: ServiceProcess, *, not_tried: frozenset[tuple[str, str]] = NOT_TRIED
) -> list[tuple[str, str, list[Role], bool]]:
    """(method, path with made-up parameters, roles admitted, whether it takes a body) of every
    operation the service's OpenAPI document declares, but `/health` and (unless told otherwise)
    starting a replay."""
    with urllib.request.urlopen(f"{service.url}/openapi.json", timeout=10) as reply:
        document: dict[str, Any] = json.loads(reply.read())
    found = []
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            if path in OPEN_PATHS or (method, path) in not_tried:
                continue
            (roles,) = operation["security"][0].values()
            filled = re.sub(r"\{([^}]+)\}", made_up, path)
            admitted = [Role(role) for role in roles]
            found.append((method.upper(), filled, admitted, "requestBody" in operation))
    return found


def repeated(reader: TopicReader) -> list[tuple[str, int]]:
    """(aggregate id, version) pairs found more than once on the topic (published twice)."""
    seen = Counter((e["aggregate_id"], e["aggregate_version"]) for e in reader.events())
    return [identity for identity, count in seen.items() if count > 1]


def record_of(message: Any) -> Record:
    """A confluent-kafka message as a `Record`."""
    key, value = message.key(), message.value()
    return Record(
        topic=str(message.topic()),
        partition=int(message.partition() or 0),
        offset=int(message.offset() or 0),
        key=key.encode() if isinstance(key, str) else key,
        value=value.encode() if isinstance(value, str) else (value or b""),
        headers=_headers(message.headers()),
        timestamp_ms=int(message.timestamp()[1]),
    )


def read_to_ends(
    bootstrap_servers: str, starts: dict[tuple[str, int], int], *, timeout: float = 60
) -> tuple[list[Record], dict[tuple[str, int], int]]:
    """Every record from each (topic, partition)'s start offset (or `OFFSET_BEGINNING`) to its
    end, and each partition's end offset.

    The end is where fetches find it (confluent's `enable.partition.eof`), never the listed high
    watermark: the embedded broker lists a partition's end as one past the first record of its
    last record batch (`services.runtime.kafka.partition_ends`)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "group.id": f"read-to-end-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "log.connection.close": False,
        }
    )
    try:
        consumer.assign([TopicPartition(t, p, start) for (t, p), start in starts.items()])
        ends = {where: max(start, 0) for where, start in starts.items()}
        pending = set(starts)
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        while pending:
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read to the end of {sorted(pending)}")
            message = consumer.poll(0.5)
            if message is None:
                continue
            where = (str(message.topic()), int(message.partition() or 0))
            error = message.error()
            if error is None:
                records.append(record_of(message))
                ends[where] = max(ends[where], int(message.offset() or 0) + 1)
            elif error.code() == KafkaError._PARTITION_EOF:
                ends[where] = max(ends[where], int(message.offset() or 0))
                pending.discard(where)
        return records, ends
    finally:
        consumer.close()


def _headers(raw: Any) -> dict[str, str]:
    return {str(name): bytes(value or b"").decode() for name, value in (raw or [])}


Services = Callable[..., list["ServiceProcess"]]
"""The `services` fixture: start service processes by name, side by side."""
Topics = Callable[[str], TopicReader]
"""The `topic` fixture: a reader of a whole topic."""


def published(
    payload: IntegrationEvent, *, producer: str, aggregate_id: uuid.UUID, version: int
) -> bytes:
    """An integration event exactly as the producer's relay would publish it."""
    envelope = Envelope.of(
        payload,
        producer=producer,
        aggregate_id=aggregate_id,
        aggregate_version=version,
        occurred_at=datetime.now(UTC),
        correlation_id=f"test:{aggregate_id}",
    )
    return envelope.model_dump_json().encode()


CONFIRMATIONS = {
    "picked": "PickConfirmation.v1",
    "packed": "PackConfirmation.v1",
    "shipped": "ShipConfirmation.v1",
}
"""A 3PL's confirmations on `threepl.confirmations.v1`, by type: the schema of each."""


class ThreePL:
    """A 3PL adapter: reads what to ship, answers on `threepl.confirmations.v1`."""

    def __init__(self, channel: Channel, topic: Topics) -> None:
        self.channel = channel
        self.events = topic("warehouse_adapter.events.v1")
        self.requested = self.events
        """Where it reads its fulfilment requests."""

    def read(self, reader: TopicReader, event_type: str | None = None) -> list[dict[str, Any]]:
        """The envelopes (of `event_type`) on a topic so far."""
        return reader.events(event_type)

    def payloads(self, event_type: str) -> list[dict[str, Any]]:
        """The payloads of `event_type` on `warehouse_adapter.events.v1` so far."""
        return [e["payload"] for e in self.read(self.events, event_type)]

    def deliver(self, topic: str, stem: str, message: dict[str, Any], *, key: str) -> None:
        """Send a message of the published schema `stem`."""
        self.channel.publish(topic, json.dumps(message).encode(), key=key)

    def requests(self, count: int) -> list[dict[str, Any]]:
        def enough() -> list[dict[str, Any]] | None:
            found = [e["payload"] for e in self.read(self.requested, "FulfilmentRequested")]
            return found if len(found) == count else None

        return eventually(enough, what=f"{count} fulfilment requests")

    def send(self, kind: str, shipment_id: str, **fields: Any) -> None:
        message = {"type": kind, "shipment_id": shipment_id, "at": datetime.now(UTC).isoformat()}
        self.deliver(
            "threepl.confirmations.v1", CONFIRMATIONS[kind], message | fields, key=shipment_id
        )

    def pack(self, shipment_id: str, *units: tuple[int, str, str | None]) -> None:
        self.send(
            "packed",
            shipment_id,
            units=[{"line_number": n, "sku": sku, "serial": serial} for n, sku, serial in units],
        )

    def pick_and_pack(self, request: dict[str, Any], serial: str) -> None:
        """Pick a one-line request, pack its unit with `serial`, and answer inventory's check."""
        self.send("picked", request["shipment_id"])
        self.pack(request["shipment_id"], (1, request["lines"][0]["sku"], serial))
        self.answer(request["shipment_id"])

    def answer(self, shipment_id: str, count: int = 1) -> list[dict[str, Any]]:
        """The next verdicts on packing this shipment: FulfilmentPacked or PackScanRejected."""

        def verdicts() -> list[dict[str, Any]] | None:
            found = [
                e
                for e in self.read(self.events)
                if e["event_type"] in ("FulfilmentPacked", "PackScanRejected")
                and e["payload"]["shipment_id"] == shipment_id
            ]
            return found if len(found) >= count else None

        return eventually(verdicts, what=f"verdict {count} on {shipment_id}")

    def ship(self, shipment_id: str) -> dict[str, Any]:
        """Wait for the parcel's label, then ship with it; return the label."""

        def label() -> dict[str, Any] | None:
            return next(
                (p for p in self.payloads("FulfilmentLabelled") if p["shipment_id"] == shipment_id),
                None,
            )

        printed = eventually(label, what=f"the label of {shipment_id}")
        self.send(
            "shipped",
            shipment_id,
            carrier=printed["carrier"],
            service=printed["service"],
            tracking_number=printed["tracking_number"],
        )
        return printed


class SchemaBuiltThreePL(ThreePL):
    """A 3PL adapter that knows Unitrail only by its published schemas (`contracts/schemas/`, as
    `docs/asyncapi.yaml` lists them): it reads its requests where 3PLs do
    (`threepl.fulfilment-requests.v1`, the ship-to in clear), checks every event it reads against
    the envelope's schema and its payload's, and every message it sends against its own."""

    def __init__(self, channel: Channel, topic: Topics) -> None:
        super().__init__(channel, topic)
        self.requested = topic("threepl.fulfilment-requests.v1")

    def read(self, reader: TopicReader, event_type: str | None = None) -> list[dict[str, Any]]:
        return schema_checked(super().read(reader, event_type))

    def deliver(self, topic: str, stem: str, message: dict[str, Any], *, key: str) -> None:
        schema_validator(stem).validate(message)
        super().deliver(topic, stem, message, key=key)


class SchemaBuiltChannel:
    """A channel connector that knows Unitrail only by its published schemas: it lists what the
    market's catalogue feed lists (`CatalogueEntryChanged`), sells what availability allows
    (`AvailableToSellChanged`), sends orders checked against `ChannelOrderMessage.v1` and learns
    each order's id from `channel.feedback.v1`. Every event it reads is checked against the
    envelope's schema and its payload's."""

    def __init__(self, channel: Channel, topic: Topics, name: str = "webshop") -> None:
        self.channel = channel
        self.name = name
        self.feedback = topic("channel.feedback.v1")
        self.catalogue = topic("pim.events.v1")
        self.stock = topic("inventory.events.v1")
        self.order_ids: dict[str, str] = {}
        """Channel order id → Unitrail's, once accepted."""

    def send(self, message: dict[str, Any]) -> None:
        schema_validator("ChannelOrderMessage.v1").validate(message)
        self.channel.send(message)

    def listed(self, market: str, sku: str) -> dict[str, Any] | None:
        """The market's catalogue entry of a SKU as last fed, or None when it is not listed."""
        entry = None
        for event in schema_checked(self.catalogue.events()):
            payload = event["payload"]
            if (payload.get("market"), payload.get("sku")) != (market, sku):
                continue
            if event["event_type"] == "CatalogueEntryChanged":
                entry = payload
            elif event["event_type"] == "CatalogueEntryWithdrawn":
                entry = None
        return entry

    def available(self, sku: str) -> int | None:
        """New units (or whole kits) this channel may sell of a SKU, as last published."""
        changes = [
            e["payload"]
            for e in schema_checked(self.stock.events())
            if e["event_type"] in ("AvailableToSellChanged", "BundleAvailableToSellChanged")
            and (e["payload"]["channel"], e["payload"]["sku"]) == (self.name, sku)
        ]
        return int(changes[-1]["new"]) if changes else None

    def order_id(self, channel_order_id: str) -> str:
        """The id Unitrail gave a channel order it accepted, from the order's feedback."""

        def accepted() -> str | None:
            for event in schema_checked(self.feedback.events("ChannelOrderFeedback")):
                feedback = event["payload"]
                if feedback["channel"] == self.name and feedback["outcome"] == "accepted":
                    self.order_ids[feedback["channel_order_id"]] = str(feedback["order_id"])
            return self.order_ids.get(channel_order_id)

        if channel_order_id not in self.order_ids:
            eventually(accepted, what=f"order {channel_order_id} accepted")
        return self.order_ids[channel_order_id]


@dataclass
class CustomerKeys:
    """Customers' keys as a service allowed to see personal data asks the order service for
    them (`services.runtime.privacy.KeyLookup`): to open what a test finds sealed."""

    order: ServiceProcess
    stack: Stack

    def key(self, customer_id: str) -> bytes | None:
        token = self.stack.token(Role.PERSONAL_DATA, "test-keys")
        answer = self.order.get(f"/customer-keys/{customer_id}", token=token)
        return base64.urlsafe_b64decode(answer["key"])


def labels_by_order(shipping_events: TopicReader, count: int) -> dict[str, dict[str, Any]]:
    """`LabelPurchased` payloads by order id, once at least `count` orders have a label."""

    def enough() -> dict[str, dict[str, Any]] | None:
        found = {
            e["payload"]["order_id"]: e["payload"] for e in shipping_events.events("LabelPurchased")
        }
        return found if len(found) >= count else None

    return eventually(enough, what=f"{count} labels")


CERTIFIED_EVERYWHERE = [
    {"scheme": scheme, "valid_from": "2025-01-01"} for scheme in ("FCC", "CE", "UKCA", "ISED")
]
"""The certificates that list a product in the US, EU, UK and Canadian catalogues (orders ship there)."""


def register_product(
    pim: ServiceProcess, shipping: ServiceProcess, sku: str, grams: int, lithium: bool
) -> None:
    """Register a product, certified for every market, in PIM and wait until shipping knows its
    facts."""
    pim.put(
        f"/products/{sku}",
        {
            "name": sku,
            "weight_grams": grams,
            "lithium_ion": lithium,
            "certifications": CERTIFIED_EVERYWHERE,
        },
    )
    eventually(lambda: shipping.exists(f"/consignments/product-facts/{sku}"), what=f"{sku} facts")


def register_in_pim(pim: ServiceProcess, order: ServiceProcess, *skus: str) -> None:
    """Register products, certified for every market, in PIM and wait until the order service
    knows them (an order's line for a SKU the PIM never registered holds the order)."""
    for sku in skus:
        pim.put(
            f"/products/{sku}",
            {
                "name": sku,
                "weight_grams": 1000,
                "lithium_ion": False,
                "certifications": CERTIFIED_EVERYWHERE,
            },
        )

    def all_known() -> bool:
        try:
            return all(order.get(f"/orders/eligibility/{sku}")["checked"] for sku in skus)
        except urllib.error.HTTPError as error:
            if error.code < 500:
                raise
            return False  # a service starved of CPU answers late or not at all: ask again

    eventually(all_known, what=f"the order service to know {', '.join(skus)}")


def receive_serials(
    inventory: ServiceProcess,
    sku: str,
    location: str,
    *serials: str,
    batch: str | None = None,
    reference: str | None = None,
) -> None:
    """Serialized units arrive at a location (of one production batch, on one purchase order)."""
    inventory.post(
        "/stock/receipts",
        {
            "sku": sku,
            "location": location,
            "quantity": len(serials),
            "reason": "purchase-receipt",
            "serials": list(serials),
            "batch": batch,
            "reference": reference,
        },
    )
