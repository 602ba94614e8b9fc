"""``zoo list``, ``zoo info`` and ``zoo plugins``: what is registered. Listing imports no plugin
module and no torch; ``info`` and ``plugins`` load the entries they describe."""

from __future__ import annotations

import contextlib
import fnmatch
from typing import Annotated, Any

import typer
from rich.markup import escape

from zoo import options
from zoo.console import console, print_json, show_table
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
    as_json: options.Json = False,
) -> None:
    """List everything registered, built-in and third-party.

    A name that matches nothing is an error with close names suggested; a wildcard that matches
    nothing exits 1.

    Example: `zoo list models 'cifar10-*'`
    """
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
    if as_json:
        print_json(rows)
    elif rows:
        cells = []
        for entry, row in zip(entries, rows, strict=True):
            conflict = f"[red]{entry.qualified_name}[/red] [dim](conflict)[/dim]"
            source = entry.dist if entry.builtin else f"[cyan]{entry.dist}[/cyan]"
            name = conflict if row["conflict"] else entry.name
            cells.append([name, entry.kind, source, entry.version])
        show_table(["Name", "Kind", "Source", "Version"], cells)
        footer(registry, any(row["conflict"] for row in rows))
    else:
        console.print(f"nothing registered matches '{pattern}'")
    if not rows:
        raise typer.Exit(1)


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


def info(
    name: Annotated[str, typer.Argument(help="A registered name, or distribution:name.")],
    kind: Annotated[
        str | None, typer.Option(help="model, dataset or optimizer, when the name is ambiguous.")
    ] = None,
    input_shape: options.InputShape = None,
    num_classes: options.NumClasses = None,
    model_arg: options.ModelArg = None,
    as_json: options.Json = False,
) -> None:
    """Describe a model, dataset or optimizer: what it is, its source and its parameters.

    For a model, its parameter count for an input (default: its default dataset's).

    Example: `zoo info cifar10-cnn --input-shape 3,64,64`
    """
    from zoo import describe

    registry = get_registry()
    kinds = [KIND_ALIASES[kind]] if kind in KIND_ALIASES else None
    if kind is not None and kinds is None:
        raise ZooError(f"unknown kind '{kind}': use model, dataset or optimizer")
    bare = name.rpartition(":")[2]
    candidates = kinds or [k for k in KINDS if registry.names(k, bare)]
    if not candidates:
        raise registry.unknown(None, bare)
    reports = [
        describe.describe(
            registry.resolve(k, name),
            input_shape=input_shape,
            num_classes=num_classes,
            model_args=model_arg or [],
        )
        for k in candidates
    ]
    if as_json:
        print_json(reports[0] if len(reports) == 1 else reports)
        return
    for report in reports:
        render(report)


def render(report: dict[str, Any]) -> None:
    """Print a report from :func:`zoo.describe.describe` for people."""
    description = report.get("description") or "[dim]no description[/dim]"
    console.print(f"[bold]{report['name']}[/bold] ({report['kind']}): {description}")
    console.print(
        f"  source: {report['source']} {report['version']}  [dim]{report['target']}[/dim]",
        highlight=False,
    )
    for key in ("default_dataset", "output", "task", "input_shape", "mean", "std"):
        if report.get(key) not in (None, "", []):
            console.print(f"  {key.replace('_', ' ')}: {plain(report[key])}", highlight=False)
    if report.get("classes"):
        classes = report["classes"]
        more = " ..." if len(classes) > 12 else ""
        console.print(f"  classes ({len(classes)}): {', '.join(classes[:12])}{more}")
    if report.get("targets"):
        console.print(f"  targets: {', '.join(report['targets'])}")
    if report.get("recipe") and report["kind"] == "model":
        recipe = {k: v for k, v in report["recipe"].items() if v not in (None, {}, 0)}
        console.print(
            "  recipe: "
            + ", ".join(f"{k.replace('_', ' ')} {plain(v)}" for k, v in recipe.items()),
            highlight=False,
        )
    for dataset, result in (report.get("reference") or {}).items():
        console.print(f"  reported: {result} on {dataset}", highlight=False)
    if report.get("size"):
        size = report["size"]
        shape = "x".join(map(str, size["input_shape"]))
        console.print(
            f"  parameters: {size['parameters']:,} ({size['trainable']:,} trainable) "
            f"for input {shape} and {size['num_classes']} outputs"
        )
    if report["parameters"]:
        cells = [
            [
                escape(p["name"]),
                escape(p["type"]),
                escape(p["default"] or ""),
                f"[dim]{escape(p['set_by_zoo'] or ('required' if p['required'] else ''))}[/dim]",
            ]
            for p in report["parameters"]
        ]
        show_table(["Parameter", "Type", "Default", "Note"], cells)


def plain(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(plain(v) for v in value) + ")"
    return str(value)


def plugins(as_json: options.Json = False) -> None:
    """Show each distribution that registers entries, its version, and whether each entry loads.

    Set ZOO_DISABLE_PLUGIN_AUTOLOAD=1 to use zoo's built-ins only.

    Example: `zoo plugins --json`
    """
    registry = get_registry()
    entries: list[Entry] = registry.entries() + registry.invalid
    rows = []
    for entry in sorted(entries, key=lambda e: (not e.builtin, e.dist.lower(), e.kind, e.name)):
        if entry.error is None:
            with contextlib.suppress(ZooError):  # a failure is recorded in entry.error
                entry.load()
        rows.append(
            {
                "distribution": entry.dist,
                "version": entry.version,
                "kind": entry.kind,
                "name": entry.name,
                "target": entry.target,
                "status": "failed" if entry.error else "ok",
                "error": entry.error,
            }
        )
    if as_json:
        print_json(rows)
        return
    cells = []
    for row in rows:
        failed = f"[red]failed[/red]: {escape(row['error'] or '')}"
        status = "[green]ok[/green]" if row["status"] == "ok" else failed
        cells.append([row["distribution"], row["version"], row["kind"], row["name"], status])
    show_table(["Distribution", "Version", "Kind", "Entry", "Status"], cells)
    failed_count = sum(row["status"] == "failed" for row in rows)
    console.print(f"{len(rows)} entries, {failed_count} failed.")
    if registry.skipped_plugins:
        console.print(
            f"[dim]{registry.skipped_plugins} third-party entries skipped: {DISABLE_ENV} is set.[/dim]"
        )
