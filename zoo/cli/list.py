"""``zoo list``: what is registered, built-in and third-party. Listing imports no plugin module
and no torch (``--with-weights`` imports the models' modules)."""

from __future__ import annotations

import fnmatch
from typing import Annotated

import typer
from rich.markup import escape

from zoo.cli.output import console, print_json, show_table
from zoo.cli.params import Json
from zoo.errors import ZooError
from zoo.registry import DISABLE_ENV, KINDS, Entry, Registry, get_registry

KIND_ALIASES = {f"{k}s": k for k in KINDS} | {k: k for k in KINDS}
WILDCARDS = "*?["


def list_(
    kind: Annotated[
        str | None,
        typer.Argument(help="models, datasets or optimizers (default: all).", show_default=False),
    ] = None,
    pattern: Annotated[
        str | None, typer.Argument(help="A name, or a shell-style wildcard.", show_default=False)
    ] = None,
    with_weights: Annotated[
        bool,
        typer.Option(
            "--with-weights",
            help="Show each model's trained weights (imports torch: slower).",
        ),
    ] = False,
    as_json: Json = False,
) -> None:
    """List everything registered, built-in and third-party.

    A name that matches nothing is an error with close names suggested; a wildcard that matches
    nothing exits 1.

    Example: `zoo list models 'cifar10-*' --with-weights`
    """
    run_list(kind, pattern, with_weights, as_json)


def run_list(kind: str | None, pattern: str | None, with_weights: bool, as_json: bool) -> None:
    """Match the entries, print them (or exit 1 when a wildcard matches nothing)."""
    if kind is not None and kind not in KIND_ALIASES:
        if pattern is not None:
            raise ZooError(f"unknown kind '{kind}': use models, datasets or optimizers")
        kind, pattern = None, kind  # `zoo list 'cifar10-*'`
    pattern = pattern or "*"
    registry = get_registry()
    wanted = KIND_ALIASES.get(kind or "")
    entries = [e for e in registry.entries(wanted) if fnmatch.fnmatchcase(e.name, pattern)]
    if not entries and not any(c in pattern for c in WILDCARDS):
        raise registry.unknown(wanted, pattern)
    rows = [
        {
            "name": e.name,
            "kind": e.kind,
            "source": e.dist,
            "version": e.version,
            "builtin": e.builtin,
            "conflict": [c.qualified_name for c in registry.conflicts(e)],
        }
        for e in entries
    ]
    if with_weights:
        for entry, row in zip(entries, rows, strict=True):
            row["weights"] = weight_names(entry) if entry.kind == "model" else None
    if as_json:
        print_json(rows)
    elif rows:
        cells = []
        for entry, row in zip(entries, rows, strict=True):
            conflict = f"[red]{entry.qualified_name}[/red] [dim](conflict)[/dim]"
            source = entry.dist if entry.builtin else f"[cyan]{entry.dist}[/cyan]"
            name = conflict if row["conflict"] else entry.name
            row_cells = [name, entry.kind, source, entry.version]
            if with_weights:
                row_cells.append(weights_cell(row["weights"]))
            cells.append(row_cells)
        columns = ["Name", "Kind", "Source", "Version"] + (["Weights"] if with_weights else [])
        show_table(columns, cells, wrap=("Weights",))
        footer(registry, any(row["conflict"] for row in rows))
    else:
        console.print(f"nothing registered matches '{pattern}'")
    if not rows:
        raise typer.Exit(1)


def weight_names(entry: Entry) -> list[str] | str:
    """A model's declared weights, the default first; its load error instead if it is broken."""
    from zoo.registry import get_model_info

    try:
        return [w.name for w in get_model_info(entry.qualified_name).weights]
    except ZooError as exc:
        return f"error: {exc}"


def weights_cell(names: list[str] | str | None) -> str:
    if names is None:
        return ""
    if isinstance(names, str):
        return f"[red]{escape(names)}[/red]"
    if not names:
        return "[dim]none[/dim]"
    return ", ".join([f"{names[0]} (default)", *names[1:]])


def footer(registry: Registry, conflicts: bool) -> None:
    """What a listing leaves out or cannot decide: conflicts, invalid and hidden entries."""
    if conflicts:
        console.print(
            "[yellow]Names in red are claimed by several distributions: "
            "use the qualified 'distribution:name'.[/yellow]"
        )
    if registry.invalid:
        console.print(
            f"[yellow]{len(registry.invalid)} plugin entries are invalid: see 'zoo plugins'.[/yellow]"
        )
    if registry.skipped_plugins:
        console.print(
            f"[dim]{registry.skipped_plugins} third-party entries hidden: {DISABLE_ENV} is set.[/dim]"
        )
