"""Terminal output shared by every command: the consoles, JSON for scripts, and tables that never
cut what people copy (names, paths, numbers)."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from rich.text import Text

T = TypeVar("T")


def terminal(stderr: bool = False) -> Console:
    """A console as wide as ``$COLUMNS`` (else the terminal) when it prints: Rich reads
    ``$COLUMNS`` once, when a console is made, and these are made when this module is imported
    (by then a test, or a wrapper, may have set another width)."""
    made = Console(stderr=stderr)
    made._width = made._height = None  # what Console.size reads: left to it
    return made


console = terminal()
error_console = terminal(stderr=True)
NUMBER_WIDTH = 9  # a right-aligned (numeric) column is laid out as if this wide, at least


def say(out: Console, text: str | Text, *, markup: bool = True, indent: int | None = None) -> None:
    """A line of prose at any width: wrapped at words to the terminal (where it can, between
    the groups a double space separates), continued lines indented (by ``indent``, else two
    more than the line itself); never cut."""
    line = text if isinstance(text, Text) else Text.from_markup(text) if markup else Text(text)
    if indent is None:
        indent = len(line.plain) - len(line.plain.lstrip(" ")) + 2
    width = max(20, out.width)
    plain = line.plain
    offsets, start, limit = [], 0, width
    while len(plain) - start > limit:
        window = plain[start : start + limit + 1]
        cut = window.rfind("  ")
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut <= 0:  # a word longer than the line: kept whole
            found = plain.find(" ", start + limit)
            if found == -1:
                break
            cut = found - start
        offsets.append(start + cut)
        start += cut
        while start < len(plain) and plain[start] == " ":
            start += 1
        limit = width - indent
    for number, piece in enumerate(line.divide(offsets)):
        if number:
            blanks = len(piece.plain) - len(piece.plain.lstrip(" "))
            piece = Text(" " * indent) + piece[blanks:]
        out.print(piece, highlight=False, soft_wrap=True)


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
    keys: int = 1,
    short: dict[str, str] | None = None,
    wrap: tuple[str, ...] = (),
    fold: tuple[str, ...] = (),
    spare: tuple[str, ...] = (),
) -> None:
    """Rows as a table that fits the terminal and stays a table; identifiers and numbers are
    never cut. When it is too wide, in turn: a ``fold`` column with one value on every row moves
    into a line below it (``device: cpu``); ``spare`` columns (what other columns say too) are
    left out, saying so; headers take their ``short`` names, with a legend; ``wrap``
    columns (free text) wrap at words; the columns are split over tables that each repeat the
    first ``keys`` columns; a key column wider than the terminal makes a block per row (the
    last resort). Numeric (``right``) columns count as :data:`NUMBER_WIDTH` wide when
    there is room, so that two runs of one command whose numbers differ in a digit get the same
    layout. The title is a line of its own: it wraps only where the terminal does."""
    out = out or console
    cells = [[Text.from_markup(cell) for cell in row] for row in rows]
    layout = Layout(list(columns), cells, set(right), out.width)
    notes = layout.fit(keys, short or {}, set(wrap), set(fold), spare)
    parts = layout.parts(keys)
    if any(layout.total(part) > out.width for part in parts):  # a key alone is too wide
        show_blocks(list(columns), cells, title, out)
        return
    if title:
        say(out, Text(title, style="bold"))
    for part in parts:
        grid = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1))
        for index in part:
            column = layout.columns[index]
            grid.add_column(
                layout.header(index),
                justify="right" if column in right else "left",
                no_wrap=column not in wrap,
                min_width=layout.floor(index) if column in wrap else None,
                overflow="fold",  # narrower than its longest word: folded, never cut
            )
        for row in layout.cells:
            grid.add_row(*(row[index] for index in part))
        out.print(grid)
    if notes.folded:
        say(out, Text("the same on every row: " + ", ".join(notes.folded), style="dim"))
    if notes.spared:
        left = ", ".join(notes.spared)
        say(out, Text(f"left out at this width: {left} (wider terminal or --json)", style="dim"))
    if notes.legend:
        say(out, Text("; ".join(notes.legend), style="dim"))


def show_blocks(
    columns: list[str], cells: list[list[Text]], title: str | None, out: Console
) -> None:
    """Rows too wide for any table here: a block per row (its first cell, then ``column:
    value`` lines), every value whole."""
    if title:
        say(out, Text(title, style="bold"))
    for row in cells:
        out.print(Text.assemble(Text(columns[0] + ": ", style="bold"), row[0]), soft_wrap=True)
        for column, cell in zip(columns[1:], row[1:], strict=True):
            if cell.plain:
                out.print(Text.assemble(f"  {column}: ", cell), soft_wrap=True)


@dataclass
class Notes:
    """What fitting a table changed: columns moved into the title, abbreviations used."""

    folded: list[str] = field(default_factory=list)
    legend: list[str] = field(default_factory=list)
    spared: list[str] = field(default_factory=list)


@dataclass
class Layout:
    """The columns of a table, their widths, and how they are laid out to fit ``width``."""

    columns: list[str]
    cells: list[list[Text]]
    right: set[str]
    width: int
    names: dict[int, str] = field(default_factory=dict)  # abbreviated headers
    wrapped: set[int] = field(default_factory=set)
    padded: bool = True  # numbers laid out NUMBER_WIDTH wide (when there is room)

    def header(self, index: int) -> str:
        return self.names.get(index, self.columns[index])

    def natural(self, index: int) -> int:
        """A column's width: its header and its widest cell (numbers: NUMBER_WIDTH at least)."""
        width = max([len(self.header(index)), *(row[index].cell_len for row in self.cells)])
        if self.padded and self.columns[index] in self.right:
            width = max(width, NUMBER_WIDTH)
        return width

    def floor(self, index: int) -> int:
        """The narrowest a wrapped column gets: its longest word, and 12 at least."""
        words = [len(word) for row in self.cells for word in row[index].plain.split()]
        return max([12, len(self.header(index)), *words])

    def total(self, part: list[int]) -> int:
        widths = [self.floor(i) if i in self.wrapped else self.natural(i) for i in part]
        return sum(widths) + 2 * (len(part) - 1)

    def fit(
        self,
        keys: int,
        short: dict[str, str],
        wrap: set[str],
        fold: set[str],
        spare: tuple[str, ...],
    ) -> Notes:
        """Make the table fit: padding dropped, constant columns folded, headers abbreviated,
        free text wrapped (what is left for :meth:`parts`, splitting)."""
        notes = Notes()
        every = list(range(len(self.columns)))
        if self.total(every) <= self.width:
            return notes
        self.padded = False
        for index in reversed(every[keys:]):
            values = {row[index].plain for row in self.cells}
            constant = len(self.cells) > 1 and len(values) == 1 and self.columns[index] in fold
            if self.total(every) > self.width and constant:
                notes.folded.insert(0, f"{self.columns[index]}: {values.pop() or 'none'}")
                self.drop(index)
                every = list(range(len(self.columns)))
        for column in spare:
            if self.total(every) > self.width and column in self.columns:
                notes.spared.append(column)
                self.drop(self.columns.index(column))
                every = list(range(len(self.columns)))
        for index, column in enumerate(self.columns):
            if self.total(every) > self.width and column in short:
                self.names[index] = short[column]
                notes.legend.append(f"{short[column]} = {column}")
        self.wrapped = {i for i, c in enumerate(self.columns) if c in wrap}
        return notes

    def drop(self, index: int) -> None:
        del self.columns[index]
        for row in self.cells:
            del row[index]

    def parts(self, keys: int) -> list[list[int]]:
        """The columns of each table: all of them, or the first ``keys`` columns with as many
        of the others as fit, table after table."""
        every = list(range(len(self.columns)))
        if self.total(every) <= self.width:
            return [every]
        parts: list[list[int]] = []
        for index in every[keys:]:
            if parts and self.total([*parts[-1], index]) <= self.width:
                parts[-1].append(index)
            else:
                parts.append([*every[:keys], index])
        return parts


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
