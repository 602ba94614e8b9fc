"""Terminal output shared by every command: the consoles, JSON for scripts, and tables that never
cut what people copy (names, paths, numbers)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from rich.text import Text

T = TypeVar("T")
console = Console()
error_console = Console(stderr=True)
NUMBER_WIDTH = 9  # a right-aligned (numeric) column is laid out as if this wide, at least


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def show_table(
    columns: list[str],
    rows: list[list[str]],
    *,
    right: tuple[str, ...] = (),
    title: str | None = None,
    out: Console | None = None,
) -> None:
    """Print rows as a table when it fits the terminal, else as a block per row (first cell, then
    ``column: value`` lines): identifiers and numbers are never cut or wrapped mid-word. Numeric
    columns count as :data:`NUMBER_WIDTH` wide, so that two runs of one command whose numbers
    differ in a digit get the same layout."""
    out = out or console
    cells = [[Text.from_markup(cell) for cell in row] for row in rows]
    widths = [
        max(
            [
                len(column),
                *(row[index].cell_len for row in cells),
                NUMBER_WIDTH if column in right else 0,
            ]
        )
        for index, column in enumerate(columns)
    ]
    if sum(widths) + 2 * (len(columns) - 1) <= out.width:
        grid = Table(box=None, header_style="bold", title=title, title_justify="left")
        for column in columns:
            grid.add_column(column, justify="right" if column in right else "left", no_wrap=True)
        for row in cells:
            grid.add_row(*row)
        out.print(grid)
        return
    if title:
        out.print(f"[bold]{title}[/bold]")
    for row in cells:
        out.print(Text.assemble(Text(columns[0] + ": ", style="bold"), row[0]), soft_wrap=True)
        for column, cell in zip(columns[1:], row[1:], strict=True):
            if cell.plain:
                out.print(Text.assemble(f"  {column}: ", cell), soft_wrap=True)


@contextlib.contextmanager
def progress_bar(start: str) -> Iterator[Callable[[str, float], None]]:
    """A transient progress bar on stderr, for a terminal only (a log or a pipe gets the
    results, not the bar); yields ``update(what, fraction done)``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar_console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=None if bar_console.width >= 100 else 20),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=bar_console,
        transient=True,
        disable=not bar_console.is_terminal,
    ) as bar:
        task = bar.add_task(start, total=1.0)

        def update(what: str, done: float) -> None:
            bar.update(task, description=what, completed=done)

        yield update


def saving(path: Path, write: Callable[[], T]) -> T:
    """Write results that were already shown: a write that fails now (a disk full, a folder
    removed since it was checked) is one line naming the file, and the results are not lost."""
    from zoo.errors import ZooError

    try:
        return write()
    except OSError as exc:
        name = Path(exc.filename) if getattr(exc, "filename", None) else path
        reason = exc.strerror or type(exc).__name__
        raise ZooError(
            f"cannot write {name}: {reason} (the results above were not saved)"
        ) from None


@contextlib.contextmanager
def interruptible(stopped: str, kept: str) -> Iterator[None]:
    """Ctrl-C in the block: one line on stderr saying what was ``stopped`` and what was
    ``kept``, and exit status 130 (as training's own stop says where it stopped)."""
    import typer

    try:
        yield
    except KeyboardInterrupt:
        error_console.print(
            f"interrupted: {stopped}; {kept}", highlight=False, soft_wrap=True, markup=False
        )
        stop_said()
        raise typer.Exit(130) from None


STOPS: list[bool] = []  # whether this command has said what Ctrl-C stopped


def stop_said() -> None:
    """The command has said what Ctrl-C stopped and what it kept (zoo.cli.app says it for
    commands that did not)."""
    STOPS.append(True)
