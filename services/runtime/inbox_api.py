"""HTTP for a service's inbox: the durable intake of partners' messages, and its dead letters.

- `POST /intake/{topic}`: a partner (channel connector, 3PL, carrier) hands over one message it
  would otherwise publish on `topic`; it is applied exactly as if consumed from Kafka (same
  validation, same deduplication) and the answer, `202 Accepted`, comes only after it is committed
  to the service's store. An invalid message gets a 422 with what is wrong, and is not kept. On the
  embedded broker, which keeps nothing across a restart, this is the way to hand over a message
  so that it cannot be lost.
- `GET /dead-letters`, `GET /dead-letters/{id}`, `POST /dead-letters/{id}/redrive`: what the
  consumer could not apply (and what is parked behind it), and applying it again once the cause
  is fixed.

Who may hand over what: a `channel` token its own channel's orders, a `warehouse` token the 3PLs'
and carriers' messages; dead letters are the `operator`'s.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from contracts.topics import (
    CARRIER_TRACKING,
    CHANNEL_ORDERS,
    THREEPL_CONFIRMATIONS,
    THREEPL_RECEIPTS,
    THREEPL_STOCK,
)
from services.runtime.auth import Caller, OnBehalfOf, Role, allow
from services.runtime.consumer import Consumer, Rejected
from services.runtime.http_errors import error_response

INTAKE_ROLES = {
    CHANNEL_ORDERS.name: Role.CHANNEL,
    THREEPL_CONFIRMATIONS.name: Role.WAREHOUSE,
    THREEPL_RECEIPTS.name: Role.WAREHOUSE,
    THREEPL_STOCK.name: Role.WAREHOUSE,
    CARRIER_TRACKING.name: Role.WAREHOUSE,
}
"""The role that may hand over each partner topic's messages (besides `admin`)."""

Partner = Annotated[Caller, allow(Role.CHANNEL, Role.WAREHOUSE)]
Operator = Annotated[Caller, allow(Role.OPERATOR)]


def consumer_of(request: Request) -> Consumer:
    consumer: Consumer | None = getattr(request.app.state.runtime, "consumer", None)
    if consumer is None:
        raise HTTPException(404, "this service consumes nothing")
    return consumer


router = APIRouter(tags=["inbox"])


@router.post(
    "/intake/{topic}",
    status_code=202,
    responses={202: {"description": "committed to the service's store"}, 422: {}},
)
async def take_in(
    topic: str,
    request: Request,
    caller: Partner,
    message: dict[str, Any] = Body(  # noqa: B008
        description="The message exactly as it would be published on the topic."
    ),
    consumer: Consumer = Depends(consumer_of),  # noqa: B008
) -> JSONResponse:
    """Apply one partner message (the same JSON as on `topic`) durably, before answering.
    `channel.orders.v1` takes a `channel` token for the message's channel; the 3PLs' and
    carriers' topics a `warehouse` token."""
    if topic not in consumer.intake_topics:
        raise HTTPException(
            404,
            f"{consumer.service_name} takes in {', '.join(consumer.intake_topics) or 'nothing'}",
        )
    body = await request.body()
    _may_hand_over(caller, topic, message)
    try:
        outcome = await consumer.accept(
            topic, body, correlation_id=request.headers.get("x-correlation-id")
        )
    except Rejected as rejection:
        # Not a use case's error: the message itself, as a consumer would dead-letter it.
        return error_response(422, "rejected-message", rejection.reason)
    return JSONResponse({"topic": topic, "outcome": outcome.value}, status_code=202)


def _may_hand_over(caller: Caller, topic: str, message: dict[str, Any]) -> None:
    wanted = INTAKE_ROLES.get(topic, Role.ADMIN)
    if caller.role not in (wanted, Role.ADMIN):
        raise HTTPException(403, f"{topic} takes messages from a {wanted} token, not {caller.role}")
    if caller.role is Role.CHANNEL:
        channel = message.get("channel")
        # A message that names no channel is refused by its own validation.
        if isinstance(channel, str):
            caller.may_act_for_channel(channel)


@router.get("/dead-letters", tags=["operations"])
async def list_dead_letters(
    request: Request,
    _caller: Operator,
    include_resolved: bool = False,
    consumer: Consumer = Depends(consumer_of),  # noqa: B008
) -> dict[str, Any]:
    """Dead and parked messages, newest first (with `include_resolved`, also redriven ones)."""
    runtime = request.app.state.runtime
    letters = await runtime.runner.run(
        lambda: consumer.dead_letters.listing(include_resolved=include_resolved)
    )
    counts = await runtime.runner.run(consumer.dead_letters.counts)
    return {
        "service": consumer.service_name,
        "counts": counts,
        "dead_letters": [letter.summary() for letter in letters],
    }


@router.get("/dead-letters/{letter_id}", tags=["operations"])
async def show_dead_letter(
    letter_id: int,
    request: Request,
    _caller: Operator,
    consumer: Consumer = Depends(consumer_of),  # noqa: B008
) -> dict[str, Any]:
    """One dead or parked message, with its bytes as text and its headers; customers' personal
    values in it show as "sealed" (a redrive applies them as they came)."""
    letter = await request.app.state.runtime.runner.run(
        lambda: consumer.dead_letters.get(letter_id, opened=False)
    )
    if letter is None:
        raise HTTPException(404, f"no dead letter {letter_id}")
    detail: dict[str, Any] = letter.detail()
    return detail


class Redrive(BaseModel):
    """The caller redrives it; the record may name for whom."""

    model_config = ConfigDict(extra="forbid")

    on_behalf_of: OnBehalfOf = None


@router.post("/dead-letters/{letter_id}/redrive", tags=["operations"])
async def redrive_dead_letter(
    letter_id: int,
    caller: Operator,
    command: Redrive | None = None,
    consumer: Consumer = Depends(consumer_of),  # noqa: B008
) -> dict[str, Any]:
    """Apply a dead letter again and then what is parked behind it, in order, each once; the
    caller is recorded as who redrove it."""
    actor = caller.actor(command.on_behalf_of if command else None)
    try:
        results = await consumer.redrive(letter_id, actor)
    except LookupError as error:
        raise HTTPException(404, str(error)) from error
    except ValueError as error:
        raise HTTPException(409, str(error)) from error
    return {"service": consumer.service_name, "letter": letter_id, "results": results}
