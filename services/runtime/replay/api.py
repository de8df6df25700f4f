"""`POST /replays` and `GET /replays/latest`, the same on every service that keeps read models."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict

from services.runtime.replay.progress import ReplayRunning
from services.runtime.replay.runner import Replays

router = APIRouter(tags=["operations"])


class ReplayRequest(BaseModel):
    """Where to rebuild the read models from: the event stores (the record, the default) or the
    topics (refused when they no longer hold the whole history)."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["topics", "stores"] = "stores"


def replays_of(request: Request) -> Replays:
    """The process's replays (FastAPI dependency); 404 for a service that keeps no read models."""
    runtime = request.app.state.runtime
    replays: Replays | None = runtime.replays
    if replays is None:
        raise HTTPException(
            status_code=404, detail=f"{runtime.settings.service_name} keeps no read models"
        )
    return replays


ReplaysDependency = Annotated[Replays, Depends(replays_of)]


@router.post("/replays", status_code=202)
async def start_replay(command: ReplayRequest, replays: ReplaysDependency) -> dict[str, Any]:
    """Rebuild the service's read models from scratch beside the live ones (from the event stores,
    or from the topics from offset 0), then swap them in. Queries are answered from the live ones
    meanwhile. A replay from the topics is refused (state `refused`, with the reasons) when they
    do not hold the whole history. Follow it with `GET /replays/latest`."""
    try:
        progress = await replays.start(command.source)
    except ReplayRunning as error:
        raise HTTPException(status_code=409, detail=str(error)) from None
    return progress.as_dict()


@router.get("/replays/latest")
async def latest_replay(replays: ReplaysDependency) -> dict[str, Any]:
    """The progress of the latest replay of this process: total, read, state, the rows per table
    once done, and why it was refused if it was."""
    if replays.latest is None:
        raise HTTPException(status_code=404, detail="no replay has run in this process")
    return replays.latest.as_dict()
