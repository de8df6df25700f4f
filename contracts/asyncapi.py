"""The AsyncAPI 3.0 document of every topic: what travels on it, keyed how, with which headers.

Generated from the topic registry (`contracts/topics.py`) and the published contracts; the
payload schemas are the committed JSON Schema files, referenced rather than copied, and every
message carries an example recorded from a real message (`contracts/examples/`). Written to
`docs/asyncapi.yaml` by `scripts/generate_schemas.py`, which CI runs with `--check`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

from contracts.base import ContractModel, IntegrationEvent
from contracts.carrier import CarrierTrackingEvent
from contracts.channel import ChannelOrderMessage
from contracts.inventory import StockMovement
from contracts.order import ChannelOrderFeedback
from contracts.registry import EVENT_MODELS, producer_of
from contracts.schemas import load_example, schema_stem
from contracts.threepl import (
    CycleCount,
    GoodsReceipt,
    PackConfirmation,
    PickConfirmation,
    ReturnArrival,
    ShelfDamage,
    ShipConfirmation,
    TransferArrival,
)
from contracts.topics import (
    BROKER_INCARNATION,
    CARRIER_TRACKING,
    CHANNEL_FEEDBACK,
    CHANNEL_ORDERS,
    INVENTORY_MOVEMENTS,
    SERVICES,
    THREEPL_CONFIRMATIONS,
    THREEPL_RECEIPTS,
    THREEPL_STOCK,
    Topic,
    all_topics,
    dead_letter_topic,
    events_topic,
)

ASYNCAPI_PATH = Path(__file__).parent.parent / "docs" / "asyncapi.yaml"
SCHEMA_REFERENCE = "../contracts/schemas/{stem}.json"  # relative to ASYNCAPI_PATH

PARTNER_MESSAGES: dict[str, tuple[type[ContractModel], ...]] = {
    CHANNEL_ORDERS.name: (ChannelOrderMessage,),
    THREEPL_CONFIRMATIONS.name: (PickConfirmation, PackConfirmation, ShipConfirmation),
    THREEPL_RECEIPTS.name: (ReturnArrival, GoodsReceipt, TransferArrival),
    THREEPL_STOCK.name: (CycleCount, ShelfDamage),
    CARRIER_TRACKING.name: (CarrierTrackingEvent,),
}
"""What partners send us, bare JSON (no envelope), per topic; a `type` field tells them apart."""

ENVELOPE_HEADERS: dict[str, str] = {
    "event_type": "The envelope's `event_type`: a consumer may route or skip without parsing.",
    "aggregate_type": "The envelope's `aggregate_type`: consumers skip kinds they do not follow.",
    "aggregate_id": "The envelope's `aggregate_id`.",
    "aggregate_version": "The envelope's `aggregate_version`, in decimal.",
    "correlation_id": "The envelope's `correlation_id`.",
    "notification_id": "The event's position in its producer's store, in decimal: one relay "
    "publishes a store in this order, so it rises on a partition (a repeat after a relay restart "
    "aside, and the records `broker_incarnation` marks as strays), and a reader of an events "
    "topic and a feed of the same store can tell how far each has come.",
    "broker_incarnation": "The life of the broker the relay published the record for: the id at "
    "offset 0 of `unitrail.incarnation.v1`. A broker that comes back empty gets a new one, "
    "and every relay publishes its store to it again from the start; what a relay published "
    "before it noticed lands at the head of the topic with the old id, and comes again in its "
    "place. A reader that compares positions skips a record whose id is not the broker's.",
    "traceparent": "Only when tracing is on where the event was recorded: the W3C trace context "
    "it was recorded in, which a consumer's span continues.",
}
DEAD_LETTER_HEADERS: dict[str, str] = {
    "error": "Why the message was not processed, naming the field or rule.",
    "error-type": "The kind of failure, e.g. `schema violation`, `version gap`.",
    "source-topic": "The topic the message was read from.",
    "source-partition": "Its partition there.",
    "source-offset": "Its offset there.",
    "attempts": "How many times it was tried.",
}


def enveloped_messages(topic: Topic) -> tuple[type[IntegrationEvent], ...]:
    """The events a topic carries in envelopes; none for topics of bare messages."""
    if topic.name == CHANNEL_FEEDBACK.name:
        return (ChannelOrderFeedback,)
    if topic.name == INVENTORY_MOVEMENTS.name:
        return (StockMovement,)
    producers = [name for name in SERVICES if events_topic(name).name == topic.name]
    if not producers:
        return ()
    return tuple(
        model
        for model in EVENT_MODELS
        if producer_of(model) == producers[0] and model is not ChannelOrderFeedback
    )


def example_stem(topic: str, value: bytes) -> str | None:
    """The stem of the published model a recorded message is an example of, if any."""
    try:
        message = json.loads(value)
    except ValueError:
        return None
    if not isinstance(message, dict):
        return None
    partner_models = PARTNER_MESSAGES.get(topic)
    if partner_models is not None:
        kinds = {_kind(model): model for model in partner_models}
        model = kinds.get(message.get("type")) if len(kinds) > 1 else partner_models[0]
        return None if model is None else schema_stem(model)
    if "event_type" in message and "schema_version" in message:
        return f"{message['event_type']}.v{message['schema_version']}"
    return None


def _kind(model: type[ContractModel]) -> Any:
    """The value of a partner message's `type` field (declared `Literal["picked"]`)."""
    field = model.model_fields.get("type")
    return None if field is None else get_args(field.annotation)[0]


def asyncapi_document(version: str) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic in the registry, for contracts release `version`."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in all_topics():
        channel_id = _identifier(topic.name)
        channel_messages = _channel_messages(topic, messages)
        channels[channel_id] = {
            "address": topic.name,
            "title": topic.name,
            "description": f"{topic.carries}. Written by {topic.written_by}.",
            "messages": {
                name: {"$ref": f"#/components/messages/{name}"} for name in channel_messages
            },
            "bindings": {
                "kafka": {
                    "topic": topic.name,
                    "partitions": topic.partitions,
                    "bindingVersion": "0.5.0",
                }
            },
        }
        action = "receive" if topic.written_by in _OUTSIDE_WRITERS else "send"
        operations[f"{action}_{channel_id}"] = {
            "action": action,
            "title": f"Unitrail {'reads' if action == 'receive' else 'publishes'} {topic.name}",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [
                {"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in channel_messages
            ],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Unitrail",
            "version": version,
            "description": (
                "Every topic of Unitrail, the event-sourced back office for consumer-electronics "
                "commerce: the events each service publishes (in an envelope, keyed by aggregate "
                "id), and the messages channel connectors, 3PLs and carriers send it (bare JSON). "
                "What may change within a version: contracts/CHANGELOG.md. Operations are "
                "described from Unitrail's side: it sends what it publishes and receives what "
                "partners send."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "embedded": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "The embedded Kafka-protocol broker `scripts/run` starts.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


_OUTSIDE_WRITERS = {
    CHANNEL_ORDERS.written_by,
    THREEPL_CONFIRMATIONS.written_by,
    THREEPL_RECEIPTS.written_by,
    THREEPL_STOCK.written_by,
    CARRIER_TRACKING.written_by,
}


def _channel_messages(topic: Topic, messages: dict[str, Any]) -> list[str]:
    """Declare the messages a topic carries in `messages`; their names, in order."""
    key = {"type": "string", "description": f"Message key: {topic.key}."}
    names: list[str] = []
    for partner_model in PARTNER_MESSAGES.get(topic.name, ()):
        name = schema_stem(partner_model).replace(".", "_")
        messages[name] = _message(
            name, schema_stem(partner_model), partner_model, key, headers=None, enveloped=False
        )
        names.append(name)
    for event in enveloped_messages(topic):
        name = schema_stem(event).replace(".", "_")
        keyed = key
        if event.key_description is not None:
            keyed = {"type": "string", "description": f"Message key: {event.key_description}."}
        messages[name] = _message(
            name, schema_stem(event), event, keyed, headers=ENVELOPE_HEADERS, enveloped=True
        )
        names.append(name)
    if topic.name == BROKER_INCARNATION.name:
        messages["BrokerIncarnation"] = {
            "name": "BrokerIncarnation",
            "title": "Broker incarnation",
            "contentType": "text/plain",
            "payload": {"type": "string", "format": "uuid", "description": topic.carries},
        }
        names.append("BrokerIncarnation")
    if any(topic.name == dead_letter_topic(name).name for name in SERVICES):
        messages.setdefault(
            "DeadLetter",
            {
                "name": "DeadLetter",
                "title": "Dead letter",
                "summary": "A message a service could not process: the original bytes.",
                "contentType": "application/octet-stream",
                "headers": _headers_schema(DEAD_LETTER_HEADERS),
                "payload": {"description": "The original message, byte for byte."},
            },
        )
        names.append("DeadLetter")
    return names


def _message(
    name: str,
    stem: str,
    model: type[ContractModel],
    key: dict[str, Any],
    *,
    headers: dict[str, str] | None,
    enveloped: bool,
) -> dict[str, Any]:
    payload: dict[str, Any] = {"$ref": SCHEMA_REFERENCE.format(stem=stem)}
    if enveloped:
        assert issubclass(model, IntegrationEvent)
        payload = {
            "allOf": [
                {"$ref": SCHEMA_REFERENCE.format(stem="Envelope.v1")},
                {
                    "type": "object",
                    "properties": {
                        "event_type": {"const": model.event_type},
                        "schema_version": {"const": model.schema_version},
                        "aggregate_type": {"const": model.aggregate_type},
                        "payload": payload,
                    },
                },
            ]
        }
    message: dict[str, Any] = {
        "name": name,
        "title": stem,
        "summary": " ".join((model.__doc__ or stem).strip().split("\n\n")[0].split()),
        "contentType": "application/json",
        "payload": payload,
        "bindings": {"kafka": {"key": key, "bindingVersion": "0.5.0"}},
    }
    if headers is not None:
        message["headers"] = _headers_schema(headers)
    example = load_example(stem)
    if example is not None:
        recorded: dict[str, Any] = {"name": f"{stem} as recorded", "payload": example["payload"]}
        if headers is not None and example.get("headers"):
            recorded["headers"] = example["headers"]
        message["examples"] = [recorded]
    return message


def _headers_schema(headers: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            header: {"type": "string", "description": description}
            for header, description in headers.items()
        },
    }


def _identifier(topic_name: str) -> str:
    return topic_name.replace(".", "_")
