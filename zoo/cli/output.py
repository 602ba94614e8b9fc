"""Terminal output shared by every command: the consoles, JSON for scripts, and tables that never
cut what people copy (names, paths, numbers)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

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
