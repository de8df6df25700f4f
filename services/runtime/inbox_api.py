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
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.runtime.consumer import Consumer, Rejected
from services.runtime.http_errors import error_response


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
    message: dict[str, Any] = Body(  # noqa: B008
        description="The message exactly as it would be published on the topic."
    ),
    consumer: Consumer = Depends(consumer_of),  # noqa: B008
) -> JSONResponse:
    """Apply one partner message (the same JSON as on `topic`) durably, before answering."""
    if topic not in consumer.intake_topics:
        raise HTTPException(
            404,
            f"{consumer.service_name} takes in {', '.join(consumer.intake_topics) or 'nothing'}",
        )
    body = await request.body()
    try:
        outcome = await consumer.accept(
            topic, body, correlation_id=request.headers.get("x-correlation-id")
        )
    except Rejected as rejection:
        # Not a use case's error: the message itself, as a consumer would dead-letter it.
        return error_response(422, "rejected-message", rejection.reason)
    return JSONResponse({"topic": topic, "outcome": outcome.value}, status_code=202)


@router.get("/dead-letters", tags=["operations"])
async def list_dead_letters(
    request: Request,
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
    consumer: Consumer = Depends(consumer_of),  # noqa: B008
) -> dict[str, Any]:
    """One dead or parked message, with its bytes as text and its headers."""
    letter = await request.app.state.runtime.runner.run(consumer.dead_letters.get, letter_id)
    if letter is None:
        raise HTTPException(404, f"no dead letter {letter_id}")
    detail: dict[str, Any] = letter.detail()
    return detail


class Redrive(BaseModel):
    actor: str = Field(min_length=1, description="Who redrives it, for the record.")


@router.post("/dead-letters/{letter_id}/redrive", tags=["operations"])
async def redrive_dead_letter(
    letter_id: int,
    command: Redrive,
    consumer: Consumer = Depends(consumer_of),  # noqa: B008
) -> dict[str, Any]:
    """Apply a dead letter again and then what is parked behind it, in order, each once."""
    try:
        results = await consumer.redrive(letter_id, command.actor)
    except LookupError as error:
        raise HTTPException(404, str(error)) from error
    except ValueError as error:
        raise HTTPException(409, str(error)) from error
    return {"service": consumer.service_name, "letter": letter_id, "results": results}
