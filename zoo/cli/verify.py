"""``zoo verify``: re-check a deployed export on its own (the work is in
:mod:`zoo.export.verify`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from zoo import flags
from zoo.cli.params import Json, opt

if TYPE_CHECKING:
    from zoo.export.verify import FileCheck


def verify(
    target: Annotated[
        str,
        typer.Argument(
            metavar="EXPORT_DIR|FILE|hf://OWNER/REPO",
            help="A 'zoo export' directory, one of its files, or a published release.",
        ),
    ],
    data_dir: opt(
        flags.DATA_DIR.with_help(
            "Where the dataset the export was verified on lives: top-1 is measured again on it."
        )
    ) = None,
    as_json: Json = False,
) -> None:
    """Re-check an export against its certificates: files, parity, top-1.

    Every file's sha256 against the manifest, then its recorded verification run again (the
    stored inputs through the file, with the runtime its certificate names, compared with the
    stored eager outputs by the same rule), for the same verdict: where the file was certified
    on this machine with these runtimes, the same figures too. Top-1 again on the dataset the
    export was verified on, where its data is here (--data-dir, else the default data folder).

    Exits 1 when a check no longer holds (a file edited, a runtime upgraded that changes
    answers), 2 when the export cannot be read.

    Examples:

    - `zoo verify exports/cifar10-cnn`
    - `zoo verify exports/cifar10-cnn/cifar10-cnn.int8.onnx --data-dir /tmp/cifar10`
    - `zoo verify hf://someone/cifar10-cnn` (the release as `zoo predict` caches it)
    """
    run_verify(target, data_dir, as_json)


def run_verify(target: str, data_dir: str | None, as_json: bool) -> None:
    """Re-check the export and print what was found."""
    from rich.markup import escape

    from zoo.cli.output import console, error_console, print_json, say
    from zoo.export.verify import verify as check
    from zoo.weights.releases import is_hub_spec, release_to_verify

    def note(text: str) -> None:
        say(error_console, text, markup=False)

    if data_dir is not None:
        flags.existing_folder(data_dir)
    folder = release_to_verify(target, note) if is_hub_spec(target) else Path(target)
    report = check(folder, data_dir)
    if as_json:
        print_json(
            {
                "target": str(report.target),
                "passed": report.passed,
                "problems": report.problems,
                "accuracy": report.accuracy,
                "decision": report.decision,
                "files": [
                    {
                        "file": f.file,
                        "passed": f.passed,
                        "problem": f.problem,
                        "recorded": dataclasses.asdict(f.recorded),
                        "now": dataclasses.asdict(f.now) if f.now else None,
                        "top1_recorded": f.top1_recorded,
                        "top1_now": f.top1_now,
                    }
                    for f in report.files
                ],
            }
        )
    else:
        say(
            console,
            f"[bold]{report.model}[/bold] in {escape(str(report.target))}, verified on "
            f"{escape(report.inputs)}",
        )
        for problem in report.problems:
            say(console, f"  [red]FAIL[/red] {escape(problem)}", indent=4)
        for item in report.files:
            mark = "[green]ok[/green]  " if item.passed else "[red]FAIL[/red]"
            say(
                console,
                f"  {mark} {item.label:<10} {escape(item.file)}: {escape(line(item))}",
                indent=4,
            )
        if report.accuracy:
            say(console, f"  {escape(report.accuracy)}", indent=4)
        for text in report.decision:
            say(console, f"  decision: {escape(text)}", indent=4)
        word = "[green]verified[/green]" if report.passed else "[red]verification FAILED[/red]"
        console.print(word)
    if not report.passed:
        raise typer.Exit(1)


def line(item: FileCheck) -> str:
    """What one file's check found, against what was certified."""
    if item.problem or item.now is None:
        return item.problem
    now, recorded = item.now, item.recorded
    text = f"max |a−b| {now.max_abs:.2e} (certified {recorded.max_abs:.2e})"
    if now.top1_agreement is not None:
        text += f", top-1 agreement {now.top1_agreement:.2%}"
    if not now.passed:
        text += f"; breaks {now.tolerance}"
    if item.top1_now is not None and item.top1_recorded is not None:
        text += f"; top-1 {item.top1_now:.2%} (certified {item.top1_recorded:.2%})"
    return text
