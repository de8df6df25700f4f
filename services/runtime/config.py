"""Settings every service shares; each service adds its own with a prefix of its own.

The shared names are the ones an operator sets once for the whole system:
`KAFKA_BOOTSTRAP_SERVERS`, `POSTGRES_DSN`, and `UNITRAIL_*` for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.topics import Topic
from services.runtime.auth import DEFAULT_AUDIENCE, LOCAL_ISSUER, VerifierSettings
from services.runtime.database import PostgresLocation, PostgresTimeouts
from services.runtime.privacy import CustomerKeyClient


@dataclass(frozen=True)
class TopicSettings:
    """How the services create their topics. How many brokers keep each: 1 for one broker
    (embedded, or a laptop); on a real cluster 3 replicas and `min.insync.replicas` 2, so that a
    write acknowledged with `acks=all` survives the loss of a broker. And how many partitions a
    keyed topic has: the registry's `KEYED_PARTITIONS` unless `partitions` says otherwise."""

    replication_factor: int = 1
    min_insync_replicas: int = 1
    personal_data_retention_ms: int = 7 * 24 * 3600 * 1000
    """`retention.ms` of the topics that carry personal data in clear (`Topic.personal_data`)."""
    partitions: int | None = None
    """Partitions of every keyed topic (one the registry gives more than one); None: the
    registry's count. Topics of one partition keep it: their order is their contract."""

    def partitions_of(self, topic: Topic) -> int:
        """The partitions `topic` is created with."""
        if self.partitions is None or topic.partitions == 1:
            return topic.partitions
        return self.partitions


def shared(name: str, *aliases: str) -> AliasChoices:
    return AliasChoices(name, *aliases)


class KafkaSecurity(BaseSettings):
    """How every Kafka client of the project (services, relays, the CLI, the simulators, the
    scripts) authenticates to the brokers and encrypts the connection; the same variables for all
    of them (README: Kafka security). The default, `PLAINTEXT`, is for a broker on loopback."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT",
        validation_alias=shared("UNITRAIL_KAFKA_SECURITY_PROTOCOL"),
        description="`SASL_SSL` on a real cluster: credentials, over TLS.",
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = (
        Field(
            default=None,
            validation_alias=shared("UNITRAIL_KAFKA_SASL_MECHANISM"),
            description="With a `SASL_*` protocol: how the client logs in.",
        )
    )
    sasl_username: str | None = Field(
        default=None, validation_alias=shared("UNITRAIL_KAFKA_SASL_USERNAME")
    )
    sasl_password: str | None = Field(
        default=None, validation_alias=shared("UNITRAIL_KAFKA_SASL_PASSWORD"), repr=False
    )
    sasl_oauth_token_file: Path | None = Field(
        default=None,
        validation_alias=shared("UNITRAIL_KAFKA_SASL_OAUTH_TOKEN_FILE"),
        description="OAUTHBEARER: a file with the client's access token, read again whenever the "
        "client logs in (an identity provider's agent keeps it fresh).",
    )
    ssl_ca_file: Path | None = Field(
        default=None,
        validation_alias=shared("UNITRAIL_KAFKA_SSL_CA_FILE"),
        description="PEM certificates the brokers' certificate must chain to (default: the "
        "system's).",
    )
    ssl_cert_file: Path | None = Field(
        default=None,
        validation_alias=shared("UNITRAIL_KAFKA_SSL_CERT_FILE"),
        description="Mutual TLS: the client's PEM certificate.",
    )
    ssl_key_file: Path | None = Field(
        default=None,
        validation_alias=shared("UNITRAIL_KAFKA_SSL_KEY_FILE"),
        description="Mutual TLS: the client's PEM private key.",
    )
    ssl_key_password: str | None = Field(
        default=None, validation_alias=shared("UNITRAIL_KAFKA_SSL_KEY_PASSWORD"), repr=False
    )

    @model_validator(mode="after")
    def _complete(self) -> KafkaSecurity:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and self.sasl_mechanism is None:
            raise ValueError(f"{self.security_protocol} needs UNITRAIL_KAFKA_SASL_MECHANISM")
        if not sasl and self.sasl_mechanism is not None:
            raise ValueError(
                f"UNITRAIL_KAFKA_SASL_MECHANISM needs a SASL_* protocol, not {self.security_protocol}"
            )
        if self.sasl_mechanism == "OAUTHBEARER":
            if self.sasl_oauth_token_file is None:
                raise ValueError("OAUTHBEARER needs UNITRAIL_KAFKA_SASL_OAUTH_TOKEN_FILE")
        elif sasl and (not self.sasl_username or self.sasl_password is None):
            raise ValueError(
                f"{self.sasl_mechanism} needs UNITRAIL_KAFKA_SASL_USERNAME and _PASSWORD"
            )
        if (self.ssl_cert_file is None) != (self.ssl_key_file is None):
            raise ValueError("mutual TLS needs both UNITRAIL_KAFKA_SSL_CERT_FILE and _KEY_FILE")
        return self

    @property
    def tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")


FETCH_WAIT_ON_THE_ORDER_PATH_MS = 25
"""Busy fetch wait of the consumers a paying customer waits on: order and inventory (paid →
allocated, available-to-sell)."""

FETCH_WAIT_OFF_THE_ORDER_PATH_MS = 200
"""Busy fetch wait of every other consumer: warehouses, carriers and analysts work in seconds."""

IDLE_FETCH_WAIT_ON_THE_ORDER_PATH_MS = 1_000
"""Idle fetch wait of order and inventory: on the embedded broker the first order after a quiet
spell waits at two of their hops (order takes it, inventory reserves) for up to half of it each."""

IDLE_FETCH_WAIT_OFF_THE_ORDER_PATH_MS = 3_000
"""Idle fetch wait of every other consumer."""


OFF_PATH_NICENESS = 10
"""How much nicer than it was started a process off the order path makes itself (Unix `nice`)."""


def off_path_niceness_setting() -> Any:
    """The `off_path_niceness` setting, shared by the services and the simulated partners.

    On one machine the whole stack shares, the order path's hops (order, inventory, Postgres, the
    broker) waited for a core behind warehouse scans, carrier events and the simulated partners:
    with half a core taken by something else, paid → allocated p99 at 20 orders/s read 88-114 ms,
    and 76-110 ms with the other processes at 10 (docs/benchmarks.md). A nicer process still gets
    every core nobody else wants, so nothing is slower on an idle machine, and a service alone on
    its machine or in its container runs as before.
    """
    return Field(
        default=OFF_PATH_NICENESS,
        ge=0,
        le=19,
        validation_alias=shared("UNITRAIL_OFF_PATH_NICENESS"),
        description="How much nicer (Unix `nice`) than it was started each process off the "
        "order path makes itself, so that it yields the cores to order and inventory when both "
        f"want them. {OFF_PATH_NICENESS} for every service but order and inventory, and for the "
        "simulated partners. 0: every process keeps the priority it was started with.",
    )


def busy_fetch_wait(default_ms: int) -> Any:
    """The `kafka_fetch_max_wait_ms` setting with a service's own default.

    A fetch that finds nothing waits at the broker for up to this long. Kafka answers it as soon
    as a message arrives, so there the wait costs nothing. The embedded broker looks again only
    at half the wait, then at three quarters, and so on: a message arriving meanwhile waits up to
    half of it, and each poll that finds nothing costs the broker a pass over every partition the
    consumer reads. On two cores at 20 orders/s that polling was a third of the stack's CPU, and
    the queueing for the cores it caused was most of paid → allocated's p99 (docs/benchmarks.md,
    "Fetch waits by who waits"). So each service waits as briefly as its readers need: the order
    path briefly, the rest longer. `UNITRAIL_KAFKA_FETCH_MAX_WAIT_MS` sets it for every service.
    """
    return Field(
        default=default_ms,
        ge=0,
        validation_alias=shared("UNITRAIL_KAFKA_FETCH_MAX_WAIT_MS"),
        description="Longest wait of a fetch for new messages while messages flow (the "
        "embedded broker answers a waiting fetch only at half of it): a hop's latency against "
        f"the broker's polling. {FETCH_WAIT_ON_THE_ORDER_PATH_MS} ms for order and inventory, "
        f"{FETCH_WAIT_OFF_THE_ORDER_PATH_MS} ms for the other services.",
    )


def idle_fetch_wait(default_ms: int) -> Any:
    """The `kafka_idle_fetch_max_wait_ms` setting with a service's own default.

    At rest a consumer fetches with this long wait: each empty fetch costs the broker a pass over
    the consumer's partitions, and short ones were most of the stack's CPU at rest. On the
    embedded broker the first message after a quiet spell waits up to about half of it, once for
    each hop whose consumer was at rest. Order and inventory rest with a shorter wait than the
    other services: the first order after a quiet spell waits at two of their hops before it is
    allocated, and their two consumers polling once a second cost about 0.3% of two cores
    (docs/benchmarks.md, "The first order after a quiet spell, and what moved the p99 at 20/s").
    `UNITRAIL_KAFKA_IDLE_FETCH_MAX_WAIT_MS` sets it for every service.
    """
    return Field(
        default=default_ms,
        ge=0,
        validation_alias=shared("UNITRAIL_KAFKA_IDLE_FETCH_MAX_WAIT_MS"),
        description="Fetch wait once a consumer has seen no message for a few seconds beyond "
        "`UNITRAIL_KAFKA_QUIET_AFTER_SECONDS`: at rest, short polls are most of the stack's CPU. "
        "On the embedded broker the first message after a quiet spell waits up to about half of "
        "it, once per hop (see services/runtime/fetch_wait.py). "
        f"{IDLE_FETCH_WAIT_ON_THE_ORDER_PATH_MS} ms for order and inventory, "
        f"{IDLE_FETCH_WAIT_OFF_THE_ORDER_PATH_MS} ms for the other services.",
    )


class ServiceSettings(BaseSettings):
    """Kafka, Postgres, HTTP and logging settings of one service process."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: ClassVar[str]

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092",
        validation_alias=shared("KAFKA_BOOTSTRAP_SERVERS"),
        description="Kafka bootstrap servers, comma separated.",
    )
    kafka_idempotence: bool = Field(
        default=True,
        validation_alias=shared("UNITRAIL_KAFKA_IDEMPOTENCE"),
        description="Idempotent producer; on for real Kafka, off for the embedded broker, which "
        "does not implement InitProducerId.",
    )
    kafka_session_timeout_ms: int = Field(
        default=10_000,
        ge=1_000,
        validation_alias=shared("UNITRAIL_KAFKA_SESSION_TIMEOUT_MS"),
        description="How long a silent consumer keeps its partitions. Shorter means faster failover "
        "and faster group joins (the embedded broker waits about half of it), but a busy machine "
        "can then lose a member by mistake.",
    )
    kafka_fetch_max_wait_ms: int = busy_fetch_wait(FETCH_WAIT_OFF_THE_ORDER_PATH_MS)
    kafka_replication_factor: int = Field(
        default=1,
        ge=1,
        validation_alias=shared("UNITRAIL_KAFKA_REPLICATION_FACTOR"),
        description="Replicas of each topic the services create: 3 on a real cluster.",
    )
    kafka_min_insync_replicas: int = Field(
        default=1,
        ge=1,
        validation_alias=shared("UNITRAIL_KAFKA_MIN_INSYNC_REPLICAS"),
        description="Replicas that must have a write before `acks=all` acknowledges it: 2 on a "
        "real cluster.",
    )
    kafka_partitions: int | None = Field(
        default=None,
        ge=1,
        validation_alias=shared("UNITRAIL_KAFKA_PARTITIONS"),
        description="Partitions of each keyed topic the services create (default 2, "
        "`contracts.topics.KEYED_PARTITIONS`): at least the most processes of any service, since "
        "a process beyond that many gets nothing to consume. Every partition costs each fetch of "
        "each consumer, so no more than that. Topics that exist are not changed.",
    )
    personal_data_retention_hours: float = Field(
        default=168,
        gt=0,
        validation_alias=shared("UNITRAIL_PERSONAL_DATA_RETENTION_HOURS"),
        description="How long the topics that carry customers' personal data in clear for "
        "partners (`channel.orders.v1`, `threepl.fulfilment-requests.v1`) keep a message: the "
        "longest a forgotten customer's data stays there. Set when the topic is created.",
    )
    kafka_metadata_max_age_ms: int = Field(
        default=5_000,
        ge=500,
        validation_alias=shared("UNITRAIL_KAFKA_METADATA_MAX_AGE_MS"),
        description="How often a consumer looks the topics up again, so that topics created after "
        "it joined (a broker restarted empty) are assigned within seconds.",
    )
    kafka_idle_fetch_max_wait_ms: int = idle_fetch_wait(IDLE_FETCH_WAIT_OFF_THE_ORDER_PATH_MS)
    topics_on_the_order_path: ClassVar[tuple[str, ...]] = ()
    """The topics of this service's consumer that paid → allocated crosses; when some are named,
    the others are read in spells (`kafka_off_path_read_every_ms`)."""
    kafka_off_path_read_every_ms: int = Field(
        default=200,
        ge=0,
        validation_alias=shared("UNITRAIL_KAFKA_OFF_PATH_READ_EVERY_MS"),
        description="Order and inventory fetch the topics paid → allocated crosses with the "
        "short busy wait all the time, and their other topics in a spell this often (a spell "
        "lasts while they bring messages): on the embedded broker every partition a waiting "
        "fetch names costs it a pass at each look. 0: every topic all the time.",
    )
    off_path_niceness: int = off_path_niceness_setting()
    kafka_quiet_after_seconds: float = Field(
        default=10.0,
        gt=0,
        validation_alias=shared("UNITRAIL_KAFKA_QUIET_AFTER_SECONDS"),
        description="How long without a message before a consumer's fetch wait starts to grow "
        "towards the idle wait (it doubles every second). A service sees one order's messages "
        "seconds apart, so this is longer than such gaps.",
    )
    consumer_batch_max_messages: int = Field(
        default=100,
        ge=1,
        validation_alias=shared("UNITRAIL_CONSUMER_BATCH_MAX_MESSAGES"),
        description="Most messages a consumer applies in one transaction. The batch holds the "
        "store's write lock from its first event to its commit, so other writers of the service "
        "(commands, another process) wait that long: enough to amortise the commit, no more.",
    )
    consumer_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        validation_alias=shared("UNITRAIL_CONSUMER_RETRY_SECONDS"),
        description="How often a consumer tries again the events that came before what they "
        "depend on (parked as waiting).",
    )
    consumer_wait_limit_seconds: float = Field(
        default=600.0,
        gt=0,
        validation_alias=shared("UNITRAIL_CONSUMER_WAIT_LIMIT_SECONDS"),
        description="How long such an event may wait before it becomes a dead letter.",
    )
    consumer_commit_interval_ms: int = Field(
        default=200,
        ge=0,
        validation_alias=shared("UNITRAIL_CONSUMER_COMMIT_INTERVAL_MS"),
        description="Least time between two offset commits of a consumer; each commits every "
        "batch applied since the last. A commit per batch cost the broker and the client a "
        "request for every few messages; what is applied and not yet committed when a process "
        "dies is consumed again and recognised as applied.",
    )
    consumer_batch_max_wait_ms: int = Field(
        default=500,
        ge=1,
        validation_alias=shared("UNITRAIL_CONSUMER_BATCH_MAX_WAIT_MS"),
        description="How long a consumer waits for messages when none are there; whatever has "
        "arrived is applied at once, so this adds no latency under load.",
    )
    postgres_dsn: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        validation_alias=shared("POSTGRES_DSN"),
        description="Any database on the Postgres server; each service uses its own database there.",
    )
    postgres_connect_timeout: float = Field(
        default=PostgresTimeouts.connect,
        gt=0,
        validation_alias=shared("UNITRAIL_POSTGRES_CONNECT_TIMEOUT"),
        description="Seconds to open a connection before the database counts as unreachable.",
    )
    postgres_pool_timeout: float = Field(
        default=PostgresTimeouts.pool,
        gt=0,
        validation_alias=shared("UNITRAIL_POSTGRES_POOL_TIMEOUT"),
        description="Seconds a request waits for a pooled connection; then it answers 503.",
    )
    postgres_statement_timeout: float = Field(
        default=PostgresTimeouts.statement,
        gt=0,
        validation_alias=shared("UNITRAIL_POSTGRES_STATEMENT_TIMEOUT"),
        description="Seconds one statement of a service may run.",
    )
    postgres_lock_timeout: float = Field(
        default=PostgresTimeouts.lock,
        gt=0,
        validation_alias=shared("UNITRAIL_POSTGRES_LOCK_TIMEOUT"),
        description="Seconds a statement waits for another transaction's lock.",
    )
    postgres_idle_in_transaction_timeout: float = Field(
        default=PostgresTimeouts.idle_in_transaction,
        gt=0,
        validation_alias=shared("UNITRAIL_POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT"),
        description="Seconds a transaction may stay open between statements before the server "
        "ends it.",
    )
    unavailable_retry_after: int = Field(
        default=2,
        ge=1,
        validation_alias=shared("UNITRAIL_UNAVAILABLE_RETRY_AFTER"),
        description="Seconds a 503 (database unreachable) tells clients to wait (`Retry-After`).",
    )
    database_prefix: str = Field(
        default="unitrail",
        validation_alias=shared("UNITRAIL_DATABASE_PREFIX"),
        description="A service's database is named `<prefix>_<service>`.",
    )
    http_host: str = Field(default="127.0.0.1", validation_alias=shared("UNITRAIL_HTTP_HOST"))
    http_max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        validation_alias=shared("UNITRAIL_HTTP_MAX_BODY_BYTES"),
        description="Largest request body a service reads (a catalogue import is the largest); "
        "a larger one is refused with a 413.",
    )
    http_port: int = Field(
        default=8000, description="Set per service: `UNITRAIL_<SERVICE>_HTTP_PORT`."
    )
    log_format: Literal["console", "json"] = Field(
        default="console", validation_alias=shared("UNITRAIL_LOG_FORMAT")
    )
    log_level: str = Field(default="info", validation_alias=shared("UNITRAIL_LOG_LEVEL"))
    otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=shared("UNITRAIL_OTLP_ENDPOINT"),
        description="Base URL of an OpenTelemetry collector's OTLP/HTTP receiver (e.g. "
        "`http://127.0.0.1:4318`; spans go to `/v1/traces`): tracing across hops is on, with "
        "W3C `traceparent` in HTTP and Kafka headers. Unset (the default): off, no spans.",
    )
    handler_attempts: int = Field(
        default=3,
        ge=1,
        validation_alias=shared("UNITRAIL_HANDLER_ATTEMPTS"),
        description="How often a failing message is tried before it goes to the dead-letter topic.",
    )
    relay_batch_size: int = Field(
        default=500, ge=1, validation_alias=shared("UNITRAIL_RELAY_BATCH")
    )
    broker_check_seconds: float = Field(
        default=5.0,
        gt=0,
        validation_alias=shared("UNITRAIL_BROKER_CHECK_SECONDS"),
        description="How often a relay checks that the broker is the one it published to (its "
        "incarnation marker); a broker restarted empty is re-published to within about that long.",
    )
    replay_batch_size: int = Field(
        default=500,
        ge=1,
        description="Events projected per transaction when read models are rebuilt by a replay "
        "(per service: `UNITRAIL_<SERVICE>_REPLAY_BATCH_SIZE`).",
    )
    replay_workers: int = Field(
        default=2,
        ge=0,
        description="Worker processes that read, decode and prepare the events of a replay from "
        "the stores, for read models that can be prepared apart (traceability's); 0: in the "
        "service's process (per service: `UNITRAIL_<SERVICE>_REPLAY_WORKERS`).",
    )

    auth_issuer: str = Field(
        default=LOCAL_ISSUER,
        validation_alias=shared("UNITRAIL_AUTH_ISSUER"),
        description="The `iss` every bearer token must carry: the identity provider's issuer URL "
        "(e.g. a Keycloak realm's), or the embedded system's local issuer.",
    )
    auth_audience: str = Field(
        default=DEFAULT_AUDIENCE,
        validation_alias=shared("UNITRAIL_AUTH_AUDIENCE"),
        description="The `aud` every bearer token must carry.",
    )
    auth_jwks_url: str | None = Field(
        default=None,
        validation_alias=shared("UNITRAIL_AUTH_JWKS_URL"),
        description="The identity provider's JSON Web Key Set URL (RS256/ES256 keys).",
    )
    auth_public_key_file: Path | None = Field(
        default=None,
        validation_alias=shared("UNITRAIL_AUTH_PUBLIC_KEY_FILE"),
        description="Without a JWKS URL: the PEM public key tokens are verified with (the local "
        "key `scripts/run` creates under `.unitrail/auth/`).",
    )
    auth_roles_claim: str = Field(
        default="roles",
        validation_alias=shared("UNITRAIL_AUTH_ROLES_CLAIM"),
        description="The claim holding the caller's roles, dotted for a nested one (Keycloak: "
        "`realm_access.roles`); a list, or a space-separated string.",
    )
    auth_channel_claim: str = Field(
        default="channel",
        validation_alias=shared("UNITRAIL_AUTH_CHANNEL_CLAIM"),
        description="The claim naming a channel token's channel.",
    )

    order_url: str = Field(
        default="http://127.0.0.1:8003",
        validation_alias=shared("UNITRAIL_ORDER_URL"),
        description="The order service's HTTP API: where customers' keys are asked for.",
    )
    personal_data_token_file: Path | None = Field(
        default=None,
        validation_alias=shared("UNITRAIL_PERSONAL_DATA_TOKEN_FILE"),
        description="A file holding this service's bearer token of role `personal-data`, read "
        "again at every key lookup (an identity provider's agent keeps it fresh; the embedded "
        "system writes one from the local key). Needed by the services that show or hand on "
        "customers' data in clear: traceability and the warehouse adapter.",
    )
    personal_data_key_ttl_seconds: float = Field(
        default=60.0,
        gt=0,
        validation_alias=shared("UNITRAIL_PERSONAL_DATA_KEY_TTL_SECONDS"),
        description="How long a service keeps a customer's key it asked for: the longest a key "
        "outlives a forgetting in a process that has not yet seen `CustomerForgotten`.",
    )

    def customer_keys(self) -> CustomerKeyClient:
        """Customers' keys, from the order service, with this service's `personal-data` token."""
        token_file = self.personal_data_token_file

        def token() -> str | None:
            return token_file.read_text(encoding="utf-8").strip() if token_file else None

        return CustomerKeyClient(
            self.order_url, token, ttl_seconds=self.personal_data_key_ttl_seconds
        )

    @property
    def verifier(self) -> VerifierSettings:
        """How this service verifies bearer tokens."""
        return VerifierSettings(
            issuer=self.auth_issuer,
            audience=self.auth_audience,
            jwks_url=self.auth_jwks_url,
            public_key_file=self.auth_public_key_file,
            roles_claim=self.auth_roles_claim,
            channel_claim=self.auth_channel_claim,
        )

    @property
    def niceness(self) -> int:
        """How much nicer than it was started this process makes itself: 0 on the order path
        (a service that names topics on it), `off_path_niceness` elsewhere."""
        return 0 if self.topics_on_the_order_path else self.off_path_niceness

    @property
    def topic_settings(self) -> TopicSettings:
        """How the topics this service creates are replicated and partitioned."""
        return TopicSettings(
            self.kafka_replication_factor,
            self.kafka_min_insync_replicas,
            personal_data_retention_ms=round(self.personal_data_retention_hours * 3600 * 1000),
            partitions=self.kafka_partitions,
        )

    @property
    def database(self) -> PostgresLocation:
        """Where this service's own database is."""
        return (
            PostgresLocation.from_dsn(self.postgres_dsn)
            .with_database(f"{self.database_prefix}_{self.service_name}")
            .with_timeouts(
                PostgresTimeouts(
                    connect=self.postgres_connect_timeout,
                    pool=self.postgres_pool_timeout,
                    statement=self.postgres_statement_timeout,
                    lock=self.postgres_lock_timeout,
                    idle_in_transaction=self.postgres_idle_in_transaction_timeout,
                )
            )
        )
