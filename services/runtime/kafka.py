"""Kafka client settings, the same for every producer and consumer a service opens, and the
security options (TLS, SASL) every Kafka client of the project takes from `KafkaSecurity`:
`client_security()` for aiokafka, `confluent_security()` for confluent-kafka (librdkafka)."""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiokafka.admin.client
import aiokafka.client
import jwt
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.abc import AbstractTokenProvider
from aiokafka.helpers import create_ssl_context
from aiokafka.protocol.metadata import MetadataRequest

from services.runtime.config import KafkaSecurity, ServiceSettings


class MetadataRequestWithoutAutoCreation(MetadataRequest):  # type: ignore[misc]
    """A metadata request that never asks the broker to create the topics it names.

    aiokafka asks for auto-creation in every metadata request (v4 and later), and a broker that
    honours it (the embedded one does, with 4 partitions) creates a topic with its own partition
    count the moment a client looks a missing topic up. Topics are created from the registry, with
    theirs (`services.runtime.topics.ensure_topics`); a missing topic is an error to wait out.
    """

    def __init__(
        self, topics: list[str] | None = None, allow_auto_topic_creation: bool | None = False
    ) -> None:
        super().__init__(topics, allow_auto_topic_creation)


def refuse_topic_auto_creation() -> None:
    """Make every aiokafka client of this process look topics up without
    creating them."""
    aiokafka.client.MetadataRequest = MetadataRequestWithoutAutoCreation
    aiokafka.admin.client.MetadataRequest = MetadataRequestWithoutAutoCreation


refuse_topic_auto_creation()


@functools.cache
def kafka_security() -> KafkaSecurity:
    """This process's Kafka security settings, from the environment (read once)."""
    return KafkaSecurity()


class TokenFile(AbstractTokenProvider):  # type: ignore[misc]
    """An OAUTHBEARER access token read from a file whenever a client logs in."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def token(self) -> str:
        return self.read()

    def read(self) -> str:
        return self.path.read_text(encoding="utf-8").strip()

    def expires_at(self, token: str) -> float:
        """When the token expires (its `exp`), to log in again before; soon when unknown."""
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            return time.time() + 300
        return float(claims.get("exp", time.time() + 300))


def client_security(security: KafkaSecurity | None = None) -> dict[str, Any]:
    """The keyword arguments of an aiokafka producer, consumer or admin client for `security`
    (default: this process's settings)."""
    security = security or kafka_security()
    options: dict[str, Any] = {"security_protocol": security.security_protocol}
    if security.tls:
        options["ssl_context"] = create_ssl_context(
            cafile=security.ssl_ca_file,
            certfile=security.ssl_cert_file,
            keyfile=security.ssl_key_file,
            password=security.ssl_key_password,
        )
    if security.sasl_mechanism is not None:
        options["sasl_mechanism"] = security.sasl_mechanism
        if security.sasl_mechanism == "OAUTHBEARER":
            assert security.sasl_oauth_token_file is not None  # checked by the settings
            options["sasl_oauth_token_provider"] = TokenFile(security.sasl_oauth_token_file)
        else:
            options["sasl_plain_username"] = security.sasl_username
            options["sasl_plain_password"] = security.sasl_password
    return options


def confluent_security(security: KafkaSecurity | None = None) -> dict[str, Any]:
    """The same for a confluent-kafka (librdkafka) client's configuration."""
    security = security or kafka_security()
    options: dict[str, Any] = {"security.protocol": security.security_protocol.lower()}
    if security.tls:
        files = {
            "ssl.ca.location": security.ssl_ca_file,
            "ssl.certificate.location": security.ssl_cert_file,
            "ssl.key.location": security.ssl_key_file,
        }
        options |= {name: str(path) for name, path in files.items() if path is not None}
        if security.ssl_key_password is not None:
            options["ssl.key.password"] = security.ssl_key_password
    if security.sasl_mechanism is not None:
        options["sasl.mechanism"] = security.sasl_mechanism
        if security.sasl_mechanism == "OAUTHBEARER":
            assert security.sasl_oauth_token_file is not None
            token_file = TokenFile(security.sasl_oauth_token_file)

            def refresh(_config: str) -> tuple[str, float]:
                token = token_file.read()
                return token, token_file.expires_at(token)

            options["oauth_cb"] = refresh
        else:
            options["sasl.username"] = security.sasl_username
            options["sasl.password"] = security.sasl_password
    return options


MAX_BATCH_BYTES = 256 * 1024
"""Per partition and request; well under the broker's default limit of 1 MiB per batch."""


def producer_options(settings: ServiceSettings) -> dict[str, Any]:
    """acks=all always; idempotence only where the broker implements it (real Kafka)."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "client_id": f"unitrail-{settings.service_name}",
        "linger_ms": 5,
        # A partition has one batch in flight and one waiting at a time, so the batch size bounds
        # what one round trip to the broker carries; 16 KiB (the default) is about 20 envelopes.
        "max_batch_size": MAX_BATCH_BYTES,
        **client_security(),
    }


def build_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(**producer_options(settings))


def header_value(headers: Any, name: str) -> str | None:
    """A header of a consumed record, decoded, or None when absent."""
    for key, value in headers or ():
        if key == name and value is not None:
            return bytes(value).decode("utf-8", errors="replace")
    return None


FETCH_RESPONSE_TIMEOUT_SECONDS = 15.0
"""How long the broker may take to answer fetches for every partition, when ends are looked up."""


async def partition_ends(
    consumer: AIOKafkaConsumer, positions: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Where each assigned partition ends now, for a reader that must read a topic to its end.

    The broker's listed end offset (ListOffsets) is not enough: the embedded broker lists a
    partition's end as one past the *first* record of its last record batch, so a reader that
    stops there misses the rest of that batch (a relay's republished store ends in batches of
    hundreds). Its fetch responses carry the right high watermark, so the end is the later of the
    two, the watermark taken from responses to fetches sent from now on.

    Fetches start at `positions`; what they return is dropped, so the caller seeks before reading.
    """
    partitions = list(positions)
    listed: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    for partition in partitions:
        consumer.seek(partition, positions[partition])
    deadline = time.monotonic() + FETCH_RESPONSE_TIMEOUT_SECONDS
    # The first response after now may answer a request sent before; the next one cannot (one
    # fetch at a time per broker), so two rounds of responses are waited for.
    for _ in range(2):
        since = int(time.time() * 1000)
        while not all((consumer.last_poll_timestamp(tp) or 0) > since for tp in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError("the broker did not answer fetches for every partition")
            await consumer.getmany(*partitions, timeout_ms=100)
    return {tp: max(listed[tp], consumer.highwater(tp) or 0) for tp in partitions}
