"""The Kafka clients' TLS settings against a broker that speaks TLS, with certificates made here.

The embedded broker cannot serve TLS itself (README, "Kafka security"), so it sits behind a TLS
terminator on loopback that requires a client certificate, and advertises the terminator's
address: every connection a client makes, the bootstrap and the ones to the broker it learns from
the metadata, is mutual TLS checked against the generated CA and the broker's name. The project's
clients, configured by the `UNITRAIL_KAFKA_*` variables alone, create a topic (aiokafka's admin
client), publish (aiokafka) and read back (confluent-kafka); a client without the certificate, or
in plaintext, is refused."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from contracts.topics import CHANNEL_ORDERS
from infra.embedded import EmbeddedBroker, free_port
from services.runtime.kafka import client_security, confluent_security, kafka_security
from services.runtime.topics import ensure_topics
from tests.certificates import Pki, make_pki

pytestmark = pytest.mark.integration


class TlsTerminator:
    """Mutual TLS on `port`, each connection piped in plaintext to the broker on `upstream`."""

    def __init__(self, port: int, upstream: int, pki: Pki) -> None:
        self.port = port
        self.upstream = upstream
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(*pki.server)
        self.context.load_verify_locations(pki.ca)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    def __enter__(self) -> TlsTerminator:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._connect, "127.0.0.1", self.port, ssl=self.context),
            self.loop,
        ).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        pipes = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)

    async def _connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                "127.0.0.1", self.upstream
            )
        except OSError:
            writer.close()
            return
        await asyncio.gather(
            _pipe(reader, upstream_writer), _pipe(upstream_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[str, Pki]]:
    """The bootstrap address of a broker reached by mutual TLS only, and its certificates."""
    pki = make_pki(tmp_path)
    tls_port = free_port()
    broker = EmbeddedBroker(free_port(), advertised=f"127.0.0.1:{tls_port}")
    broker.start()
    try:
        with TlsTerminator(tls_port, broker.port, pki):
            yield f"127.0.0.1:{tls_port}", pki
    finally:
        broker.stop()


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    kafka_security.cache_clear()
    yield monkeypatch
    kafka_security.cache_clear()


def test_the_clients_talk_to_a_broker_over_mutual_tls_and_without_a_certificate_are_refused(
    tls_broker: tuple[str, Pki], settings: pytest.MonkeyPatch
) -> None:
    bootstrap, pki = tls_broker
    settings.setenv("UNITRAIL_KAFKA_SECURITY_PROTOCOL", "SSL")
    settings.setenv("UNITRAIL_KAFKA_SSL_CA_FILE", str(pki.ca))
    settings.setenv("UNITRAIL_KAFKA_SSL_CERT_FILE", str(pki.client[0]))
    settings.setenv("UNITRAIL_KAFKA_SSL_KEY_FILE", str(pki.client[1]))
    topic = CHANNEL_ORDERS.name

    async def create_and_publish() -> None:
        await ensure_topics(bootstrap, [CHANNEL_ORDERS])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **client_security())
        await producer.start()
        try:
            await producer.send_and_wait(topic, b'{"over": "tls"}', key=b"k", partition=0)
        finally:
            await producer.stop()

    asyncio.run(create_and_publish())

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "tls-check", "enable.auto.commit": False}
        | confluent_security()
    )
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        message = None
        for _ in range(20):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                break
        assert message is not None
        assert message.error() is None, message.error()
        assert message.value() == b'{"over": "tls"}'
    finally:
        consumer.close()

    # Without the client certificate, or in plaintext: no metadata, no topics.
    client_files = ("ssl.certificate.location", "ssl.key.location")
    without_certificate = {k: v for k, v in confluent_security().items() if k not in client_files}
    plaintext: dict[str, Any] = {"security.protocol": "plaintext"}
    for refused in (without_certificate, plaintext):
        config: dict[str, Any] = {"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000}
        admin = AdminClient(config | refused)
        with pytest.raises(KafkaException):
            admin.list_topics(timeout=2)
