"""``zoo weights fetch|list|prune``: zoo's cache of weights, predict exports and Hub releases
(a Typer sub-app; the work is :mod:`zoo.weights.cache`'s). The progress bar is drawn here, from
the engine's callback, for large downloads to a terminal."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zoo.cli.help import ZooCommand, ZooGroup
from zoo.cli.params import Json, parameters, with_options
from zoo.publish.options import FetchRequest, PruneRequest

LARGE = 1 << 20  # bytes: smaller downloads draw no bar

app = typer.Typer(
    name="weights",
    cls=ZooGroup,
    help="Trained weights in zoo's cache: fetch them ahead of use, list them, prune them.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command("fetch", cls=ZooCommand)
@with_options(parameters(FetchRequest))
def fetch(
    spec: Annotated[
        str | None,
        typer.Argument(
            metavar="MODEL|hf://OWNER/REPO",
            help="A model, a release on the Hub, or nothing: every installed model's weights.",
            show_default=False,
        ),
    ] = None,
    *,
    as_json: Json = False,
    **values: Any,
) -> None:
    """Download declared weights now, for a machine that will be offline.

    Each file goes where first use would put it ($ZOO_HOME/weights), checked against its
    sha256; files inside a package are checked only. A Hub release is asked for again (its
    ONNX file for zoo predict, and its weights when its model is installed).

    Examples:

    - `zoo weights fetch` (everything installed models declare)
    - `zoo weights fetch my-net --name digits-v1`
    - `zoo weights fetch hf://someone/my-net`
    """
    run_fetch(spec, as_json, values)


def run_fetch(spec: str | None, as_json: bool, values: dict[str, Any]) -> None:
    """Fetch, drawing a bar per large download; one line per file; exit 2 if any failed."""
    from rich.markup import escape

    from zoo.cli.output import console, print_json, say
    from zoo.errors import ZooError
    from zoo.flags import build
    from zoo.publish.modelcard import size_text
    from zoo.weights.cache import fetch_all

    request = build(FetchRequest, values, spec=spec)
    bars = Bars()
    try:
        results = fetch_all(request.spec, request.name, bars.callback)
    finally:
        bars.close()
    if as_json:
        print_json([result.__dict__ for result in results])
    for result in results if not as_json else ():
        if result.error:
            say(console, f"[red]failed[/red] {escape(result.label)}: {escape(result.error)}")
            continue
        where = f"{result.path}  {size_text(result.bytes)}" if result.path else ""
        note = f"  [dim]({result.note})[/dim]" if result.note else ""
        say(console, f"[green]ok[/green] {result.label}  {where}{note}")
    failed = [result for result in results if result.error]
    if failed:
        raise ZooError(
            f"{len(failed)} of {len(results)} could not be fetched; {failed[0].label}: "
            f"{failed[0].error}"
        )


class Bars:
    """Rich progress bars on stderr, one per download, drawn only for large files on a terminal."""

    def __init__(self) -> None:
        self.progress: Any = None
        self.tasks: dict[str, Any] = {}

    def callback(self, label: str) -> Any:
        from zoo.cli.output import error_console

        def report(done: int, total: int) -> None:
            if total < LARGE or not error_console.is_terminal:
                return
            if self.progress is None:
                from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

                columns = (*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn())
                self.progress = Progress(*columns, console=error_console)
                self.progress.start()
            if label not in self.tasks:
                self.tasks[label] = self.progress.add_task(label, total=total)
            self.progress.update(self.tasks[label], completed=done, total=total)

        return report

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@app.command("list", cls=ZooCommand)
def list_(as_json: Json = False) -> None:
    """Show what the cache holds, its size, and what uses each entry.

    Example: `zoo weights list --json`
    """
    run_list(as_json)


def run_list(as_json: bool) -> None:
    from zoo.cli.output import console, print_json, show_table
    from zoo.publish.modelcard import size_text
    from zoo.weights.cache import entries
    from zoo.weights.home import home

    found = entries()
    if as_json:
        print_json([{**entry.__dict__, "path": str(entry.path)} for entry in found])
        return
    rows = [
        [
            entry.kind,
            entry.path.name if entry.kind != "hub" else "/".join(entry.path.parts[-2:]),
            size_text(entry.bytes),
            entry.used_by or "[yellow]nothing: prune removes it[/yellow]",
        ]
        for entry in found
    ]
    show_table(["Kind", "Entry", "Size", "Used by"], rows, right=("Size",), wrap=("Used by",))
    total = sum(entry.bytes for entry in found)
    console.print(
        f"{len(found)} entries, {size_text(total)} in {home()}", highlight=False, soft_wrap=True
    )


@app.command("prune", cls=ZooCommand)
@with_options(parameters(PruneRequest))
def prune(*, as_json: Json = False, **values: Any) -> None:
    """Remove cache entries no installed model declares any more: the predict exports of older
    plugin versions, weights no longer declared, Hub releases whose model is gone, unfinished
    downloads.

    Example: `zoo weights prune --dry-run`
    """
    run_prune(as_json, values)


def run_prune(as_json: bool, values: dict[str, Any]) -> None:
    from zoo.cli.output import console, print_json
    from zoo.flags import build
    from zoo.publish.modelcard import size_text
    from zoo.weights.cache import prune as prune_cache

    request = build(PruneRequest, values)
    removed = prune_cache(request.dry_run)
    if as_json:
        print_json([{**entry.__dict__, "path": str(entry.path)} for entry in removed])
        return
    verb = "would remove" if request.dry_run else "removed"
    for entry in removed:
        console.print(f"{verb} {entry.kind} {entry.path}", highlight=False, soft_wrap=True)
    freed = size_text(sum(entry.bytes for entry in removed))
    count = f"{len(removed)} entr{'y' if len(removed) == 1 else 'ies'}"
    console.print(f"{verb} {count}, {freed}", highlight=False)
