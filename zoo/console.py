"""Terminal output shared by every command: the consoles, JSON for scripts, and tables that never
cut what people copy (names, paths, numbers)."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
error_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(*columns: str, right: tuple[str, ...] = (), title: str | None = None) -> Table:
    """A borderless table whose cells wrap instead of ending in '…' when the terminal is narrow;
    columns named in ``right`` (numbers) are right-aligned and never wrapped."""
    result = Table(box=None, header_style="bold", title=title, title_justify="left")
    for column in columns:
        numeric = column in right
        result.add_column(
            column, justify="right" if numeric else "left", overflow="fold", no_wrap=numeric
        )
    return result
