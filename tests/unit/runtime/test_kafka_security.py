"""Every Kafka client of the project takes its TLS and SASL settings from the same variables, as
aiokafka and confluent-kafka (librdkafka) expect them; and the ACLs each principal needs follow
from the topic registry. (These check the clients' configuration; a TLS connection is made for
real in `tests/integration/test_kafka_tls.py`, a SASL login nowhere: the embedded broker's SCRAM
users are out of reach.)"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from confluent_kafka import Producer
from pydantic import ValidationError

from contracts.topics import CHANNEL_ORDERS, THREEPL_FULFILMENT_REQUESTS
from infra import acls
from services.runtime.config import KafkaSecurity, ServiceSettings
from services.runtime.kafka import (
    TokenFile,
    client_security,
    confluent_security,
    kafka_security,
    producer_options,
)
from tests.certificates import make_pki


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    kafka_security.cache_clear()
    yield monkeypatch
    kafka_security.cache_clear()


def test_without_settings_every_client_connects_in_plaintext(env: pytest.MonkeyPatch) -> None:
    assert client_security() == {"security_protocol": "PLAINTEXT"}
    assert confluent_security() == {"security.protocol": "plaintext"}


async def test_scram_over_tls_with_a_client_certificate_reaches_both_clients(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    cert_file, key_file = pki.client
    env.setenv("UNITRAIL_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    env.setenv("UNITRAIL_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    env.setenv("UNITRAIL_KAFKA_SASL_USERNAME", "order")
    env.setenv("UNITRAIL_KAFKA_SASL_PASSWORD", "s3cret")
    env.setenv("UNITRAIL_KAFKA_SSL_CA_FILE", str(pki.ca))
    env.setenv("UNITRAIL_KAFKA_SSL_CERT_FILE", str(cert_file))
    env.setenv("UNITRAIL_KAFKA_SSL_KEY_FILE", str(key_file))

    options = client_security()
    context = options.pop("ssl_context")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert len(context.get_ca_certs()) == 1
    assert options == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "order",
        "sasl_plain_password": "s3cret",
    }
    assert confluent_security() == {
        "security.protocol": "sasl_ssl",
        "ssl.ca.location": str(pki.ca),
        "ssl.certificate.location": str(cert_file),
        "ssl.key.location": str(key_file),
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "order",
        "sasl.password": "s3cret",
    }

    class Settings(ServiceSettings):
        service_name = "order"

    # The clients themselves take them: a service's producer, and the other kinds.
    producer = AIOKafkaProducer(**producer_options(Settings()))
    assert producer.client._security_protocol == "SASL_SSL"
    assert producer.client._sasl_mechanism == "SCRAM-SHA-512"
    assert producer.client._ssl_context is not None
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:9", **client_security())
    assert consumer._client._sasl_plain_username == "order"
    admin = AIOKafkaAdminClient(bootstrap_servers="127.0.0.1:9", **client_security())
    assert admin._client._security_protocol == "SASL_SSL"
    Producer({"bootstrap.servers": "127.0.0.1:9"} | confluent_security())  # librdkafka accepts


def test_oauthbearer_reads_the_token_file_at_every_login(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token_file = tmp_path / "kafka.token"
    expires = 2_000_000_000
    token_file.write_text(jwt.encode({"sub": "order", "exp": expires}, "k" * 32, algorithm="HS256"))
    env.setenv("UNITRAIL_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    env.setenv("UNITRAIL_KAFKA_SASL_MECHANISM", "OAUTHBEARER")
    env.setenv("UNITRAIL_KAFKA_SASL_OAUTH_TOKEN_FILE", str(token_file))

    provider = client_security()["sasl_oauth_token_provider"]
    assert isinstance(provider, TokenFile)
    refresh = confluent_security()["oauth_cb"]
    assert refresh("") == (token_file.read_text(), expires)
    token_file.write_text("opaque-token")
    assert refresh("")[0] == "opaque-token"
    Producer({"bootstrap.servers": "127.0.0.1:9"} | confluent_security())


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"UNITRAIL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs UNITRAIL_KAFKA_SASL_MECHANISM"),
        ({"UNITRAIL_KAFKA_SASL_MECHANISM": "PLAIN"}, "needs a SASL_"),
        (
            {
                "UNITRAIL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "UNITRAIL_KAFKA_SASL_MECHANISM": "PLAIN",
            },
            "needs UNITRAIL_KAFKA_SASL_USERNAME",
        ),
        (
            {
                "UNITRAIL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "UNITRAIL_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
            },
            "needs UNITRAIL_KAFKA_SASL_OAUTH_TOKEN_FILE",
        ),
        (
            {"UNITRAIL_KAFKA_SECURITY_PROTOCOL": "SSL", "UNITRAIL_KAFKA_SSL_CERT_FILE": "c.pem"},
            "needs both",
        ),
        ({"UNITRAIL_KAFKA_SECURITY_PROTOCOL": "TLS"}, "PLAINTEXT"),
    ],
)
def test_incomplete_settings_are_refused_with_what_is_missing(
    env: pytest.MonkeyPatch, settings: dict[str, str], problem: str
) -> None:
    for name, value in settings.items():
        env.setenv(name, value)
    with pytest.raises(ValidationError, match=problem):
        KafkaSecurity()


def test_the_password_is_not_in_the_settings_repr(env: pytest.MonkeyPatch) -> None:
    env.setenv("UNITRAIL_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    env.setenv("UNITRAIL_KAFKA_SASL_MECHANISM", "PLAIN")
    env.setenv("UNITRAIL_KAFKA_SASL_USERNAME", "order")
    env.setenv("UNITRAIL_KAFKA_SASL_PASSWORD", "s3cret")
    assert "s3cret" not in repr(KafkaSecurity())


def test_each_principal_gets_what_its_topics_need_and_no_more() -> None:
    grants = {grant.principal: grant for grant in acls.grants()}
    order = grants["order"]
    assert CHANNEL_ORDERS.name in order.reads
    assert {"order.events.v1", "channel.feedback.v1", "order.deadletter.v1"} <= order.writes
    assert "inventory.events.v1" not in order.writes
    assert "threepl.fulfilment-requests.v1" not in order.reads
    assert grants["pim"].reads == {"unitrail.incarnation.v1"}  # it consumes nothing
    assert grants["3PL adapters"].reads == {
        THREEPL_FULFILMENT_REQUESTS.name,
        "warehouse_adapter.events.v1",
    }
    assert grants["channel connectors"].writes == {CHANNEL_ORDERS.name}
    written = [topic for grant in grants.values() for topic in grant.writes]
    assert len([t for t in written if t != "unitrail.incarnation.v1"]) == len(
        set(written) - {"unitrail.incarnation.v1"}
    ), "one writer per topic"
    commands = acls.kafka_acls_commands(list(grants.values()), "kafka:9093")
    assert (
        "--allow-principal User:order --operation Read --operation Describe --topic "
        "channel.orders.v1" in commands
    )
    assert "--allow-principal User:order --operation Read --group order" in commands
    assert acls.table(list(grants.values())).count("\n") == len(grants) + 1
