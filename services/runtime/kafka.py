"""Kafka client settings, the same for every producer and consumer a service opens."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer

from services.runtime.config import ServiceSettings


def producer_options(settings: ServiceSettings) -> dict[str, Any]:
    """acks=all always; idempotence only where the broker implements it (real Kafka)."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "client_id": f"unitrail-{settings.service_name}",
        "linger_ms": 5,
    }


def build_producer(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(**producer_options(settings))


def header_value(headers: Any, name: str) -> str | None:
    """A header of a consumed record, decoded, or None when absent."""
    for key, value in headers or ():
        if key == name and value is not None:
            return bytes(value).decode("utf-8", errors="replace")
    return None
