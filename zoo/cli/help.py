"""Help pages that read well at any width, in Typer's panels and Click's conventions.

Typer's own option table gives every column its longest entry and the description what is left:
at 80 columns ~22 characters, with type names such as ``<bool>`` on switches and
``<list[str]>``. Here each option is one entry ``--name, -n METAVAR`` (Click's metavars: none on a
switch, ``[a|b|c]`` for choices, ``TEXT``, ``INTEGER``, ``FLOAT``, ``PATH`` or the declared one)
with its help beside it, or below it when the entry is wider than a third of the terminal, so the
help keeps most of the width; every line wraps at words, nothing is cut. Every command and group
of ``zoo`` is made with :class:`ZooCommand` or :class:`ZooGroup`.
"""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

try:  # recent Typer carries its own copy of Click
    from typer._click import Context
except ImportError:  # pragma: no cover - older Typer on Click
    from click import Context  # type: ignore[no-redef,assignment]
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

NAMES_SHARE = 0.34  # the most of a panel's width the option entries take beside their help
NAMES_WIDTH = (14, 32)  # ...and never less than the first, nor more than the second
TYPE_NAMES = {str: "TEXT", int: "INTEGER", float: "FLOAT", Path: "PATH", bool: ""}


def metavar(param: Any) -> str:
    """The value an option or argument takes, as Click writes it: nothing for a switch,
    ``[a|b]`` for choices, else the declared metavar or the type's name in capitals."""
    if isinstance(param, TyperOption) and (param.is_flag or param.count):
        return ""
    if param.metavar:
        return str(param.metavar)
    described = param.type_descriptor
    if described.is_choice and described.choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in described.choices) + "]"
    annotation = described.annotation
    if typing.get_origin(annotation) in (list, tuple):
        annotation = typing.get_args(annotation)[0]
    name = TYPE_NAMES.get(annotation, getattr(annotation, "__name__", "TEXT").upper())
    if isinstance(param, TyperArgument):
        return str(param.name or "").upper()
    return name


def entry(param: Any) -> Text:
    """``--dataset, -d TEXT``, ``--drop-last / --keep-last``, or an argument's ``MODEL``."""
    if isinstance(param, TyperArgument):
        return Text(metavar(param), style="bold cyan")
    names = Text(", ".join(sorted(param.opts, key=len, reverse=True)), style="bold cyan")
    if param.secondary_opts:
        names.append(" / " + ", ".join(param.secondary_opts), style="bold magenta")
    value = metavar(param)
    if value:
        names.append(" " + value, style="yellow")
    return names


def help_text(param: Any) -> Text:
    """An option's help, its range (``[x>=1]``) and whether it is required."""
    text = Text(" ".join(inspect.cleandoc(param.help or "").split()))
    extra = []
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None or high is not None:
        extra.append(
            f"x>={low}" if high is None else f"x<={high}" if low is None else f"{low}<=x<={high}"
        )
    if param.required:
        extra.append("required")
    if extra:
        text.append(f" [{'; '.join(extra)}]", style="dim")
    return text


def panel(title: str, rows: list[tuple[Text, Text]], width: int) -> Panel:
    """Entries and their help in a titled panel: side by side where the entry fits its column,
    else the entry on its own line and its help below, in the help column."""
    inner = width - 4
    longest = max(row[0].cell_len for row in rows)
    low, high = NAMES_WIDTH
    column = min(longest, max(low, min(high, int(inner * NAMES_SHARE))))
    parts: list[RenderableType] = []
    for names, text in rows:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(width=column, no_wrap=True)
        grid.add_column(ratio=1)
        if names.cell_len > column:
            parts.append(names)
            grid.add_row("", text)
        else:
            grid.add_row(names, text)
        parts.append(grid)
    return Panel(Group(*parts), title=title, title_align="left", border_style="dim")


def description(command: Any) -> RenderableType:
    """The command's docstring, as Markdown, up to a line holding only \\f (rich.markdown is
    imported here: running a command never needs it, only its help does)."""
    from rich.markdown import Markdown

    text = inspect.cleandoc(command.help or "").partition("\f")[0]
    return Padding(Markdown(text), (0, 1, 1, 1))


def print_help(command: Any, ctx: Context) -> None:
    """Usage, description, then the arguments, the options (by panel) and the commands."""
    console = Console(highlight=False)
    pieces = " ".join(command.collect_usage_pieces(ctx))
    usage = Text(f"Usage: {ctx.command_path} {pieces}", style="bold")  # wrapped at spaces only
    console.print(Padding(usage, (1, 1)))
    if command.help:
        console.print(description(command))
    panels: dict[str, list[tuple[Text, Text]]] = {}
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        default = "Arguments" if isinstance(param, TyperArgument) else "Options"
        title = getattr(param, "rich_help_panel", None) or default
        panels.setdefault(title, []).append((entry(param), help_text(param)))
    order = ["Arguments", "Options", *(t for t in panels if t not in ("Arguments", "Options"))]
    for title in order:
        if panels.get(title):
            console.print(panel(title, panels[title], console.width))
    if isinstance(command, TyperGroup):
        rows = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                first = inspect.cleandoc(sub.help or "").split("\n\n")[0]
                rows.append((Text(name, style="bold cyan"), Text(" ".join(first.split()))))
        if rows:
            console.print(panel("Commands", rows, console.width))


class ZooCommand(TyperCommand):
    """A zoo command: its help page from :func:`print_help`."""

    def format_help(self, ctx: Context, formatter: Any) -> None:
        print_help(self, ctx)


class ZooGroup(TyperGroup):
    """A group of zoo commands (``zoo``, ``zoo weights``): its help page from
    :func:`print_help`."""

    def format_help(self, ctx: Context, formatter: Any) -> None:
        print_help(self, ctx)
