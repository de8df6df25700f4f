"""How the commands print: tables drawn with rich (fitted and in colour on a terminal, plain text at
their natural width into a pipe or a file), and waits as a person says them."""

from __future__ import annotations

import io
import sys

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table


def table(*columns: str, right: tuple[str, ...] = ()) -> Table:
    """A table as the commands print them: a bold header, columns apart, no frame."""
    drawn = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for column in columns:
        drawn.add_column(column, no_wrap=True, justify="right" if column in right else "left")
    return drawn


def plain(renderable: RenderableType) -> str:
    """What `renderable` prints as, without colours and at its natural width: for a pipe, a file
    or a test."""
    output = io.StringIO()
    Console(file=output, width=10_000, color_system=None, highlight=False).print(renderable)
    return "\n".join(line.rstrip() for line in output.getvalue().splitlines())


def show(renderable: RenderableType) -> None:
    """Print for a person on a terminal (fitted to it, in colour), as plain text otherwise."""
    if sys.stdout.isatty():
        Console().print(renderable)
    else:
        print(plain(renderable))


def duration(seconds: int) -> str:
    """A wait as a person says it: seconds, minutes, or hours and minutes."""
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"
