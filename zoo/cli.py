"""The ``zoo`` command. Commands import torch only inside their bodies, never at module level."""

from __future__ import annotations

import contextlib
import fnmatch
import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from zoo.commands import data as data_command
from zoo.commands import export as export_commands
from zoo.commands import plugin as plugin_commands
from zoo.commands import train as train_commands
from zoo.errors import ZooError
from zoo.registry import DISABLE_ENV, KINDS, Entry, get_registry

app = typer.Typer(
    name="zoo",
    help="A PyTorch model zoo: list, train, export and benchmark any registered model, dataset and optimizer.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()
error_console = Console(stderr=True)

KIND_ALIASES = {f"{k}s": k for k in KINDS} | {k: k for k in KINDS}


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _version(value: bool) -> None:
    if value:
        import zoo

        console.print(f"zoo {zoo.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """A PyTorch model zoo. Models, datasets and optimizers are plugins registered through entry points.

    Example: `zoo list models 'cifar10-*'`
    """


@app.command("list")
def list_(
    kind: Annotated[
        str | None,
        typer.Argument(help="models, datasets or optimizers (default: all).", show_default=False),
    ] = None,
    pattern: Annotated[
        str | None, typer.Argument(help="Shell-style wildcard on the name.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List everything registered, built-in and third-party.

    Example: `zoo list models 'cifar10-*'`
    """
    if kind is not None and kind not in KIND_ALIASES:
        if pattern is not None:
            raise ZooError(f"unknown kind '{kind}': use models, datasets or optimizers")
        kind, pattern = None, kind  # `zoo list 'cifar10-*'`
    pattern = pattern or "*"
    registry = get_registry()
    entries = [
        e
        for e in registry.entries(KIND_ALIASES.get(kind or ""))
        if fnmatch.fnmatchcase(e.name, pattern)
    ]
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
        return
    table = Table(box=None, header_style="bold")
    for column in ("Name", "Kind", "Source", "Version"):
        table.add_column(column)
    for entry, row in zip(entries, rows, strict=True):
        name = (
            f"[red]{entry.qualified_name}[/red] [dim](conflict)[/dim]"
            if row["conflict"]
            else entry.name
        )
        source = entry.dist if entry.builtin else f"[cyan]{entry.dist}[/cyan]"
        table.add_row(name, entry.kind, source, entry.version)
    if rows:
        console.print(table)
    else:
        console.print(f"nothing registered matches '{pattern}'")
    _footer(registry, any(row["conflict"] for row in rows))


def _footer(registry: Any, conflicts: bool) -> None:
    if conflicts:
        console.print(
            "[yellow]Names in red are claimed by several distributions: use the qualified 'distribution:name'.[/yellow]"
        )
    if registry.invalid:
        console.print(
            f"[yellow]{len(registry.invalid)} plugin entries are invalid: see 'zoo plugins'.[/yellow]"
        )
    if registry.skipped_plugins:
        console.print(
            f"[dim]{registry.skipped_plugins} third-party entries hidden: {DISABLE_ENV} is set.[/dim]"
        )


@app.command()
def info(
    name: Annotated[str, typer.Argument(help="A registered name, or distribution:name.")],
    kind: Annotated[
        str | None, typer.Option(help="model, dataset or optimizer, when the name is ambiguous.")
    ] = None,
    input_shape: Annotated[
        str | None,
        typer.Option(
            help="C,H,W for the model's parameter count (default: its default dataset's)."
        ),
    ] = None,
    num_classes: Annotated[
        int | None, typer.Option(help="Class count for the model's parameter count.")
    ] = None,
    model_arg: Annotated[
        list[str] | None,
        typer.Option("--model-arg", "-m", help="Model hyper-parameter name=value (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Describe a model, dataset or optimizer: what it is, its source and its parameters.

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
        describe.render(report, console)


@app.command()
def plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
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
    table = Table(box=None, header_style="bold")
    for column in ("Distribution", "Version", "Kind", "Entry", "Status"):
        table.add_column(column)
    previous = None
    for row in rows:
        dist = (row["distribution"], row["version"])
        status = (
            "[green]ok[/green]" if row["status"] == "ok" else f"[red]failed[/red]: {row['error']}"
        )
        table.add_row(*(dist if dist != previous else ("", "")), row["kind"], row["name"], status)
        previous = dist
    console.print(table)
    failed = sum(row["status"] == "failed" for row in rows)
    console.print(f"{len(rows)} entries, {failed} failed.")
    if registry.skipped_plugins:
        console.print(
            f"[dim]{registry.skipped_plugins} third-party entries skipped: {DISABLE_ENV} is set.[/dim]"
        )


app.command("check")(plugin_commands.check)
app.command("new-plugin")(plugin_commands.new_plugin)
app.command("export")(export_commands.export)
app.command("predict")(export_commands.predict)
app.command("bench")(export_commands.bench)
app.command("data")(data_command.data)

app.command("train")(train_commands.train)
app.command("eval")(train_commands.eval_)
app.command("runs")(train_commands.runs)


def main() -> None:
    """Console-script entry point: user errors become one line on stderr and exit status 2."""
    try:
        app()
    except ZooError as exc:
        error_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        error_console.print("interrupted")
        sys.exit(130)
