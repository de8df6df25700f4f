"""A service process: its store, its inbox, its relay and its HTTP API, started and stopped together.

Connections open in the lifespan, never at import time; `build_http_app` is all a service's `main.py`
needs to call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from eventsourcing.persistence import IntegrityError
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client.core import Metric

from contracts.topics import events_topic
from services.runtime import tracing
from services.runtime.auth import Role, TokenVerifier, allow, unguarded_routes
from services.runtime.config import ServiceSettings
from services.runtime.consumer import Consumer, subscribe
from services.runtime.context import MessageContext, handling, new_correlation_id
from services.runtime.database import PostgresLocation, ensure_database, schema_lock
from services.runtime.deadletters import DeadLetters
from services.runtime.eventstore import BlockingRunner, ServiceApplication
from services.runtime.heap import freeze_startup_objects, observe_collections
from services.runtime.http_edge import install_http_edge
from services.runtime.http_errors import ERROR_RESPONSES, install_error_handlers
from services.runtime.inbox import KafkaInbox
from services.runtime.inbox_api import router as inbox_router
from services.runtime.kafka import build_producer
from services.runtime.leadership import Leadership
from services.runtime.logging import configure_logging
from services.runtime.metrics import install_metrics
from services.runtime.outages import asked_to_stop
from services.runtime.positions import ConsumedPositions
from services.runtime.priority import be_nicer
from services.runtime.relay import Feed, FeedTranslator, Relay, Translator, create_relay_table
from services.runtime.relay_messages import outbox_writer
from services.runtime.replay import RebuildFactory, Replays, ShadowRebuild
from services.runtime.replay.api import router as replay_router
from services.runtime.replay.declared import declaration_digest, record_digest, recorded_digest
from services.runtime.topics import BrokerIncarnation, ensure_topics

log = structlog.get_logger(__name__)

A = TypeVar("A", bound=ServiceApplication)


@dataclass
class ServiceDefinition(Generic[A]):
    """What makes a service: its application, how its events are published, what it consumes."""

    settings: ServiceSettings
    application: Callable[[PostgresLocation], A]
    """Builds the application on the service's database (a class, or a factory with settings)."""
    translate: Translator | None = None
    feeds: Sequence[Feed] = ()
    """Further topics its stored events are published on, each by a relay of its own (e.g.
    inventory's movements for finance)."""
    register_handlers: Callable[[Consumer, A], None] | None = None
    routers: list[APIRouter] = field(default_factory=list)
    description: str = ""
    """What the service is for, shown in its OpenAPI documentation."""
    on_start: Callable[[A], object] | None = None
    """A use case run once the store is open, before consuming: e.g. publish configuration."""
    recurring: Sequence[Recurring[A]] = ()
    """Use cases run on the clock while the service runs: e.g. decisions that change with the date."""
    figures: Callable[[A], Iterable[Metric]] | None = None
    """The service's own metric families for `/metrics`, read from its read models at each
    scrape (e.g. order's orders per status); run on a worker thread."""
    rebuild: RebuildFactory | None = None
    """How a replay rebuilds the read models (`POST /replays`); by default the read models the
    application declares (`read_models`) are rebuilt in a shadow schema and swapped in."""


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RECURRING_MARGIN_SECONDS = 0.5


@dataclass(frozen=True)
class Recurring(Generic[A]):
    """A use case run at every multiple of `period` since the Unix epoch, so that a daily one runs
    just after midnight UTC, when dated things (certificates, windows) start and end."""

    period: timedelta
    use_case: Callable[[A], object]

    def next_run(self, now: datetime) -> datetime:
        """The first multiple of the period strictly after `now`."""
        return EPOCH + ((now - EPOCH) // self.period + 1) * self.period


COMMAND_CONFLICT_RETRIES = 5


class ReadModelsNotRebuilt(RuntimeError):
    """The read models' tables were built from another declaration and no rebuild (from the
    stores, nor from the topics) finished: consuming would write rows of one shape into tables of
    another."""


class ServiceRuntime(Generic[A]):
    """The running parts of one service process."""

    def __init__(self, definition: ServiceDefinition[A]) -> None:
        self.definition = definition
        self.settings = definition.settings
        self.runner = BlockingRunner(workers=ServiceApplication.pool_size)
        self._application: A | None = None
        self._pool: asyncpg.Pool | None = None
        self.consumer: Consumer | None = None
        self._inbox: KafkaInbox | None = None
        self._positions: ConsumedPositions | None = None
        self._producer: AIOKafkaProducer | None = None
        self.relay: Relay | None = None
        self.feed_relays: list[Relay] = []
        self._relay_tasks: list[asyncio.Task[None]] = []
        self.incarnation: BrokerIncarnation | None = None
        self._recurring_tasks: list[asyncio.Task[None]] = []
        self.replays: Replays | None = None

    @property
    def _client_id(self) -> str:
        return f"unitrail-{self.settings.service_name}"

    @property
    def application(self) -> A:
        assert self._application is not None, "the service is not started"
        return self._application

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "the service is not started"
        return self._pool

    async def run_command(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run a use case of the application for an HTTP request, on a worker thread.

        A command that lost a race to a concurrent writer of the same aggregate saved nothing, so
        it is decided again on fresh state, as the consumer does with events.
        """
        for _ in range(COMMAND_CONFLICT_RETRIES):
            try:
                return await self.runner.run(function, *args)
            except IntegrityError:
                continue
        return await self.runner.run(function, *args)

    async def start(self) -> None:
        settings = self.settings
        location = settings.database
        await ensure_database(location)
        async with schema_lock(location):
            self._application = await self.runner.run(self.definition.application, location)
            if self.definition.translate is not None:
                self._application.keep_message = outbox_writer(
                    settings.service_name, self.definition.translate
                )
            self._pool = await asyncpg.create_pool(
                min_size=1, max_size=4, **location.asyncpg_pool_kwargs()
            )
            await create_relay_table(self._pool)
            if self.definition.register_handlers is not None:
                # Under the schema lock: processes of one service starting together would both
                # try to create the table, and one of them would fail.
                await self.runner.run(DeadLetters(self._application).create_table)
                self._positions = ConsumedPositions(self._pool)
                await self._positions.create_table()
            rebuild = self.definition.rebuild
            if rebuild is None and self._application.read_models is not None:
                rebuild = ShadowRebuild.of
            if rebuild is not None:
                self.replays = Replays(self, rebuild)
            # Under the schema lock: another process of the service waits for the rebuild.
            await self._read_models_as_declared()
            if self.definition.on_start is not None:
                await self.run_command(self.definition.on_start, self._application)
        # Before anything reads or writes a topic: on a broker without them (new, or restarted
        # empty) they are created from the registry, never by a client with the broker's default.
        await ensure_topics(
            settings.kafka_bootstrap_servers,
            client_id=self._client_id,
            topic_settings=settings.topic_settings,
        )
        self.incarnation = BrokerIncarnation(
            settings.kafka_bootstrap_servers,
            client_id=self._client_id,
            check_seconds=settings.broker_check_seconds,
            topic_settings=settings.topic_settings,
        )
        await self.incarnation.current()
        self._producer = build_producer(settings)
        await self._producer.start()
        if self.definition.register_handlers is not None:
            consumer = Consumer(
                service_name=settings.service_name,
                application=self.application,
                runner=self.runner,
                publish=self.publish,
                attempts=settings.handler_attempts,
                wait_limit_seconds=settings.consumer_wait_limit_seconds,
            )
            subscribe(consumer, self.application, self.definition.register_handlers)
            self.consumer = consumer
            if consumer.topics:
                self._inbox = KafkaInbox(consumer, settings, self.incarnation, self._positions)
                await self._inbox.start()
        if self.definition.translate is not None:
            topic = events_topic(settings.service_name).name
            self.relay = self._relay(topic, self.definition.translate)
        self.feed_relays = [
            self._relay(feed.topic.name, feed.translate, feed=True, key=feed.key)
            for feed in self.definition.feeds
        ]
        self._relay_tasks = [asyncio.create_task(relay.keep_running()) for relay in self.relays]
        self._recurring_tasks = [
            asyncio.create_task(self._keep_running(job)) for job in self.definition.recurring
        ]
        log.info("service started", database=location.dbname)

    async def _read_models_as_declared(self) -> None:
        """When the live tables were built from another declaration of the read models (see
        `replay.declared`), rebuild them before the service consumes or answers: from the stores,
        else from the topics. A fresh database records the declaration its tables were made
        from."""
        read_models = self.application.read_models
        if self.replays is None or read_models is None:
            return
        declared = declaration_digest(read_models)
        recorded = await recorded_digest(self.pool)
        if recorded == declared:
            return
        if recorded is None and not await self.runner.run(self.application.has_history):
            await record_digest(self.pool, declared)
            return
        log.warning(
            "read models declared otherwise than their tables were built: rebuilding them "
            "before consuming",
            recorded=recorded,
            declared=declared,
        )
        outcomes = []
        # The stores hold the whole history; the topics, where a store cannot be read from here.
        for source in ("stores", "topics"):
            progress = await self.replays.run_to_the_end(source)
            if progress.state == "done":
                return
            outcomes.append(
                f"from the {source}: {progress.state}, {'; '.join(progress.refused) or progress.error}"
            )
        raise ReadModelsNotRebuilt(
            f"{self.settings.service_name}'s read models were built from another declaration and "
            f"could not be rebuilt ({' / '.join(outcomes)})"
        )

    async def _keep_running(self, job: Recurring[A]) -> None:
        while True:
            now = datetime.now(UTC)
            # The loop sleeps by the monotonic clock, which may drift from the wall clock a little:
            # wake a moment late rather than early, so the new day has begun.
            await asyncio.sleep(
                (job.next_run(now) - now).total_seconds() + RECURRING_MARGIN_SECONDS
            )
            try:
                result = await self.run_command(job.use_case, self.application)
                log.info("recurring use case ran", use_case=_name_of(job.use_case), result=result)
            except (Exception, asyncio.CancelledError):
                if asked_to_stop():
                    raise
                log.exception("recurring use case failed", use_case=_name_of(job.use_case))

    @property
    def relays(self) -> list[Relay]:
        """Every relay of the process: the events topic's, then the feeds'."""
        return ([self.relay] if self.relay is not None else []) + self.feed_relays

    def _relay(
        self,
        topic: str,
        translate: FeedTranslator,
        *,
        feed: bool = False,
        key: Callable[[Any], str] | None = None,
    ) -> Relay:
        """A relay of `topic`; it publishes only while this process leads it (one per store)."""
        assert self._producer is not None
        assert self.incarnation is not None
        return Relay(
            producer_name=self.settings.service_name,
            application=self.application,
            translate=translate,
            producer=self._producer,
            pool=self.pool,
            leadership=Leadership(self.settings.database, f"relay:{topic}"),
            incarnation=self.incarnation,
            topic=topic,
            batch_size=self.settings.relay_batch_size,
            feed=feed,
            key=key,
        )

    async def stop(self) -> None:
        if self.replays is not None:
            await self.replays.stop()
        for task in (*self._recurring_tasks, *self._relay_tasks):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._inbox is not None:
            await self._inbox.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()
        if self._application is not None:
            await self.runner.run(self._application.close)
        self.runner.shutdown()
        log.info("service stopped")

    async def publish(
        self, value: bytes, *, topic: str, key: bytes | None, headers: dict[str, str]
    ) -> None:
        """Send one message and wait until the broker has it."""
        assert self._producer is not None, "the service is not started"
        delivery = await self._producer.send(
            topic, value=value, key=key, headers=[(k, v.encode()) for k, v in headers.items()]
        )
        await delivery

    async def figures(self) -> Iterable[Metric]:
        """The service's own metric families (none when it declares none, or while the
        database is away: the health figures say so)."""
        if self.definition.figures is None or self._application is None:
            return []
        try:
            figures: Iterable[Metric] = await self.runner.run(
                self.definition.figures, self._application
            )
        except Exception as error:
            log.warning("service figures unavailable", error=repr(error))
            return []
        return figures

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether the service can do its work, and what each part says: the database, the
        broker (asked now, not from a cache, and whether it is the life the relays publish
        for and the consumer joined), the consumer loop and how far behind it is, the
        relays."""
        checks: dict[str, Any] = {}
        healthy = True
        try:
            await asyncio.wait_for(self.pool.fetchval("SELECT 1"), 2)
            checks["database"] = "ok"
        except Exception as error:
            checks["database"] = f"unavailable: {error!r}"
            healthy = False
        try:
            assert self._producer is not None
            await asyncio.wait_for(self._producer.client.fetch_all_metadata(), 2)
            checks["kafka"] = await self._broker_life_check()
        except Exception as error:
            checks["kafka"] = f"unavailable: {error!r}"
        healthy = healthy and checks["kafka"] == "ok"
        if self._inbox is not None:
            consumer = await self._inbox.status()
            checks["consumer"] = consumer
            healthy = healthy and bool(consumer["alive"])
        relays: dict[str, Any] = {}
        for relay in self.relays:
            try:
                relays[relay.topic] = await asyncio.wait_for(relay.status(), 2)
            except Exception as error:  # the database is away: said above
                relays[relay.topic] = {"alive": relay.alive, "error": repr(error)}
        if relays:
            checks["relays"] = relays
            healthy = healthy and all(bool(status["alive"]) for status in relays.values())
        return healthy, checks

    async def _broker_life_check(self) -> str:
        """`ok` when the broker is the life this process's relays publish for and its consumer
        joined. A broker that restarted empty answers at once, but until each part has noticed
        (within `broker_check_seconds`) the stores are not on it and the group is not there:
        that is said, not "ok"."""
        if self.incarnation is None:
            return "ok"
        life = await asyncio.wait_for(self.incarnation.marked(), 2)
        if life is None:
            return (
                "a new broker, not set up yet: it carries no incarnation marker (the relays "
                "mark it and publish their stores to it again)"
            )
        behind = [
            f"the relay of {relay.topic}"
            for relay in self.relays
            if relay.publishing_for not in (None, life)
        ]
        if self._inbox is not None and self._inbox.joined_incarnation not in (None, life):
            behind.append("the consumer")
        if behind:
            return (
                f"a new broker life ({life}) not yet taken up by {', '.join(behind)}: still on "
                "the one before"
            )
        return "ok"


def _name_of(use_case: Callable[..., object]) -> str:
    return getattr(use_case, "__qualname__", repr(use_case))


def build_http_app(definition: ServiceDefinition[A]) -> FastAPI:
    """The service's process as an ASGI app: lifespan, health check, correlation ids, its routers."""
    settings = definition.settings
    configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
    tracing.configure(settings.service_name, settings.otlp_endpoint)
    runtime = ServiceRuntime(definition)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Before anything else: a service that cannot verify tokens does not start at all.
        app.state.verifier = TokenVerifier(settings.verifier)
        observe_collections(settings.service_name)
        await runtime.start()
        app.state.runtime = runtime
        if getattr(app.state, "own_process", False):
            # What startup made lives as long as the process: the collector need not walk it.
            freeze_startup_objects()
        try:
            yield
        finally:
            await runtime.stop()
            tracing.shutdown()  # what is still buffered goes out

    app = FastAPI(
        title=f"Unitrail {settings.service_name}",
        lifespan=lifespan,
        description=definition.description,
        responses=ERROR_RESPONSES,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_http_edge(app, settings)

    @app.middleware("http")
    async def correlate(request: Request, call_next: Callable[[Request], Any]) -> Response:
        correlation_id = request.headers.get("x-correlation-id") or new_correlation_id()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
        with handling(MessageContext(correlation_id=correlation_id, causation_id=None)):
            response: Response = await call_next(request)
        response.headers["x-correlation-id"] = correlation_id
        return response

    install_metrics(app, settings.service_name, runtime.health, runtime.figures)
    if tracing.enabled():
        # Added last, so outermost: the request's span is current for everything it runs.
        app.add_middleware(tracing.TracingMiddleware)

    @app.get("/health", tags=["operations"])
    async def health() -> JSONResponse:
        """Whether this service reaches its database and the broker (open: no token)."""
        healthy, checks = await runtime.health()
        body = {"service": settings.service_name, "status": "ok" if healthy else "degraded"}
        return JSONResponse(body | checks, status_code=200 if healthy else 503)

    for router in definition.routers:
        app.include_router(router)
    app.include_router(replay_router, dependencies=[allow(Role.OPERATOR)])
    app.include_router(inbox_router)
    if unguarded := unguarded_routes(app):
        raise RuntimeError(f"routes that admit anyone: {'; '.join(unguarded)} (see runtime.auth)")
    return app


def runtime_of(request: Request) -> ServiceRuntime[Any]:
    """The running service behind an HTTP request (FastAPI dependency)."""
    runtime: ServiceRuntime[Any] = request.app.state.runtime
    return runtime


def serve(app: FastAPI) -> None:
    """Run the service on its configured address until SIGINT or SIGTERM."""
    import uvicorn

    settings: ServiceSettings = app.state.settings
    app.state.own_process = True
    be_nicer(settings.niceness)
    # libuv's loop: at 20 orders/s a service's own asyncio code (waking on a socket, a timer or a
    # worker thread's hand-over) was a fifth of its CPU; uvloop does that in C
    uvicorn.run(
        app, host=settings.http_host, port=settings.http_port, log_config=None, loop="uvloop"
    )
