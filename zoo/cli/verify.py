"""``zoo verify``: re-check a deployed export on its own (the work is in
:mod:`zoo.export.verify`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from zoo.cli.params import Json, parameters, with_options
from zoo.export.options import VerifyRequest
from zoo.flags import build

if TYPE_CHECKING:
    from zoo.export.verify import FileCheck, VerifyReport


@with_options(parameters(VerifyRequest))
def verify(
    target: Annotated[
        str,
        typer.Argument(
            metavar="EXPORT_DIR|FILE|hf://OWNER/REPO",
            help="A 'zoo export' directory, one of its files, or a published release.",
        ),
    ],
    *,
    as_json: Json = False,
    **values: Any,
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
    run_verify(build(VerifyRequest, values, target=target), as_json)


def run_verify(request: VerifyRequest, as_json: bool) -> None:
    """Re-check the export and print what was found."""
    from zoo.cli.output import error_console, print_json, say
    from zoo.export import verify as engine

    job = engine.plan(request, lambda text: say(error_console, text, markup=False))
    report = engine.run(job)
    if as_json:
        print_json(report.to_json())
    else:
        print_report(report)
    if not report.passed:
        raise typer.Exit(1)


def print_report(report: VerifyReport) -> None:
    """The export, each file's verdict against its certificate, top-1, the decision."""
    from rich.markup import escape

    from zoo.cli.output import console, say

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
