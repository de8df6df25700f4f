"""`unitrail replay`: rebuild a service's read models (or every service's) from scratch, following
the replay's progress, then swap them in."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn

from infra.cli.calls import fetch, service_url
from services.runtime.auth import Role

READ_MODEL_SERVICES = ("pim", "inventory", "order", "returns", "shipping", "traceability")
"""The services that keep read models a replay can rebuild (the others answer 404)."""


def add_replay(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rebuild = commands.add_parser(
        "replay", help="rebuild a service's read models from scratch, then swap them in"
    )
    rebuild.add_argument(
        "read_model",
        choices=[*READ_MODEL_SERVICES, "all"],
        help="the service whose read models to rebuild, or all of them one after the other",
    )
    rebuild.add_argument(
        "--from",
        dest="source",
        choices=["topics", "stores"],
        default="stores",
        help="the services' event stores (the record), or their event topics from the first"
        " offset (refused when they no longer hold the whole history)",
    )
    rebuild.add_argument("--url", help="base URL of the service (not with `all`)")
    rebuild.set_defaults(run=replay_command)


def replay_command(arguments: argparse.Namespace) -> int:
    """One service's read models, or all of them one after the other; exits 1 (with the reasons)
    when one was not swapped in."""
    order_url, traceability_url = arguments.order_url, arguments.traceability_url
    if arguments.read_model == "all" and arguments.url:
        raise argparse.ArgumentError(None, "--url names one service: not with `all`")
    if arguments.read_model != "all":
        service = arguments.read_model
        base_url = arguments.url or service_url(service, order_url, traceability_url)
        print(replay(base_url, arguments.source, service))
        return 0
    not_swapped = []
    for service in READ_MODEL_SERVICES:
        print(f"{service}:", file=sys.stderr)
        try:
            summary = replay(
                service_url(service, order_url, traceability_url), arguments.source, service
            )
        except ReplayNotSwapped as refusal:
            print(refusal.code, file=sys.stderr, flush=True)
            not_swapped.append(service)
            continue
        print(f"{service}: {summary}", flush=True)
    if not_swapped:
        raise SystemExit(f"not swapped: {', '.join(not_swapped)} (reasons above)")
    return 0


def progress_bar(progress: dict[str, Any], width: int = 30) -> str:
    """A replay's progress as one line of text, for logs (a terminal gets a live bar)."""
    total, read = int(progress["total"]), int(progress["read"])
    fraction = min(1.0, read / total) if total else (1.0 if progress["state"] == "done" else 0.0)
    filled = round(width * fraction)
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}  {read}/{total} events"
        f"  {progress['state']}"
    )


ENDED = ("done", "refused", "failed")


def follow_replay(
    base_url: str,
    replay_id: str,
    out: TextIO,
    interval: float = 0.2,
    service: str = "traceability",
) -> dict[str, Any]:
    """Poll the replay until it ends, showing its progress on `out`: a live bar on a terminal,
    a line per tenth otherwise."""

    def latest() -> dict[str, Any]:
        progress = fetch(base_url, "/replays/latest", service=service, role=Role.OPERATOR)
        if progress["replay_id"] != replay_id:
            raise SystemExit(f"replay {replay_id} was replaced by {progress['replay_id']}")
        return progress

    console = Console(file=out)
    if console.is_terminal:
        columns = (
            TextColumn(f"{service} replay"),
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            TextColumn("events  {task.fields[state]}"),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(service, total=None, state="")
            while True:
                progress = latest()
                bar.update(
                    task,
                    total=int(progress["total"]) or None,
                    completed=int(progress["read"]),
                    state=progress["state"],
                )
                if progress["state"] in ENDED:
                    return progress
                time.sleep(interval)
    shown = ""
    while True:
        progress = latest()
        line = progress_bar(progress)
        if line.split("]")[0] + progress["state"] != shown:
            out.write(f"{line}\n")
            out.flush()
            shown = line.split("]")[0] + progress["state"]
        if progress["state"] in ENDED:
            return progress
        time.sleep(interval)


def replay_summary(progress: dict[str, Any]) -> str:
    """What a finished replay read and what the read models hold now."""
    return "\n".join(
        [
            f"replayed {progress['read']} events from {progress['source']}"
            f" ({progress['skipped']} skipped, {progress['merged_from_live']} that arrived"
            " meanwhile taken in at the swap)",
            *(f"  note: {note}" for note in progress["notes"]),
            "read models: "
            + ", ".join(f"{table} {count}" for table, count in progress["counts"].items()),
        ]
    )


class ReplayNotSwapped(SystemExit):
    """A replay that failed or was refused: the live read models are as they were."""


def not_swapped(service: str, progress: dict[str, Any]) -> str:
    """Why a refused or failed replay left the live read models as they were."""
    if progress["state"] == "failed":
        return f"{service}: replay failed: {progress['error']}"
    source = progress["source"]
    lines = [
        f"{service}: replay from {source} refused, the live read models are untouched:",
        *(f"  {reason}" for reason in progress.get("refused", [])),
        *(f"  note: {note}" for note in progress["notes"]),
    ]
    if source == "topics":
        lines.append("  the event stores hold the whole history: --from stores")
    return "\n".join(lines)


def replay(base_url: str, source: str, service: str = "traceability") -> str:
    """Rebuild a service's read models, following the progress on stderr, and say what they
    hold now; raises `ReplayNotSwapped` (exit status 1, with the reasons) when the replay was
    refused or failed."""
    started = fetch(
        base_url, "/replays", service=service, body={"source": source}, role=Role.OPERATOR
    )
    progress = follow_replay(base_url, started["replay_id"], sys.stderr, service=service)
    if progress["state"] != "done":
        raise ReplayNotSwapped(not_swapped(service, progress))
    return replay_summary(progress)
