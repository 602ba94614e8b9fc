"""``zoo runs``: the run directories under a folder, with their progress and the metric of the
weights each keeps (JSON only, no torch); and the newest run, for commands given none."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zoo.cli.output import error_console
from zoo.cli.params import Json


def newest(folder: str | None) -> Path:
    """The newest trained run in ``folder`` (default: runs), said on stderr."""
    from zoo.train.runs import newest_run

    path = newest_run(Path(folder or "runs"))
    announce_newest(path)
    return path


def announce_newest(path: Path) -> None:
    """Say on stderr which run a command took because none was named."""
    error_console.print(f"using the newest run: {path}", highlight=False)


def runs(
    folder: Annotated[
        Path, typer.Argument(help="The folder runs went to ('zoo train --out DIR').")
    ] = Path("runs"),
    as_json: Json = False,
) -> None:
    """List training runs, their progress and the metric of the weights each keeps.

    Oldest first; a sweep's runs together, under their sweep.

    Example: `zoo runs runs/ --json`
    """
    from zoo.cli.output import console, print_json, show_table
    from zoo.train.runs import list_runs

    rows = list_runs(folder)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(f"no runs in {folder}")
        return
    groups: dict[str | None, list[list[str]]] = {}
    for row in rows:
        epochs = f"{row['epochs_done']}/{row['epochs']}"
        if not row["finished"]:
            epochs += " (unfinished)"
        cells = [row["run"], row["model"], row["dataset"], epochs, row["kept"]]
        groups.setdefault(row["sweep"], []).append(cells)
    for sweep, cells in groups.items():
        title = f"sweep {sweep} ({len(cells)} runs)" if sweep else None
        columns = ["Run", "Model", "Dataset", "Epochs", "Kept weights"]
        show_table(
            columns,
            cells,
            right=("Epochs",),
            title=title,
            wrap=("Kept weights",),
            spare=("Model", "Dataset"),  # a run's name says them
        )
