"""``zoo bench``: parse and print; the work is in :mod:`zoo.export.bench`, the text of its tables
in :mod:`zoo.export.report`."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from zoo.cli.params import Json, opt, parameters, with_options
from zoo.cli.sources import SOURCE_OPTIONS, SourceArg, source_request
from zoo.errors import ArgumentError
from zoo.export.options import CALIBRATION_SAMPLES, BenchRequest
from zoo.flags import build, flag

REPORT = flag(
    "--report",
    help="Also write the result to FILE: JSON for .json, markdown tables to paste for .md "
    "(repeatable).",
    kind=list[Path] | None,
)
REPORT_SUFFIXES = (".json", ".md")


@with_options([*parameters(BenchRequest), *SOURCE_OPTIONS])
def bench(
    source: SourceArg = None,
    *,
    report: opt(REPORT) = None,
    as_json: Json = False,
    **values: Any,
) -> None:
    """Compare eager PyTorch, TorchScript, ExportedProgram, ONNX Runtime (float32, int8, float16)
    and OpenVINO, with bfloat16 rows where the hardware has bf16: top-1 accuracy, file size,
    parity and latency.

    Every row computes in the precision it names (float32 rows pinned to float32 whatever the
    CPU's default) and is judged by its precision's rule. Parity is against eager on the same
    inputs; top-1 (with its 95 % interval) is on labelled test samples stratified by class: the
    dataset an export was verified on, the run's own, --dataset or --data-dir. Parity and top-1
    always use every sample; --max-time bounds the timing only. Latency is p50 with its spread
    across interleaved rounds, p90/p99 and samples/s, every runtime on the same threads; a ratio
    within the noise is marked so. The header names the CPU and the features the figures depend
    on. Exits 1 if any parity check fails or a top-1 is below --min-accuracy, so it can gate CI.

    A run, checkpoint or model is exported to a temporary directory first (with int8 and float16
    files if their backends are asked for); an export directory's files are used as they are
    (checked against its manifest; they are loaded with torch.jit.load and torch.export.load,
    which may run code: bench only exports you trust). On CUDA, eager, TorchScript and ONNX
    Runtime's CUDA provider are timed host to host, synchronised.

    Examples:

    - `zoo bench exports/cifar10-cnn --data-dir /tmp/cifar10 --min-accuracy 70 --report bench.json`
    - `zoo bench cifar10-cnn --weights default --backends eager,onnxruntime,onnxruntime-int8`
    """
    run_bench(source, report, as_json, values)


def run_bench(
    source: str | None, report: list[Path] | None, as_json: bool, values: dict[str, Any]
) -> None:
    """The bench command's work: resolve, sample, bench, print."""
    from zoo.cli.output import console, print_json
    from zoo.export import bench as engine
    from zoo.export import report as text
    from zoo.export.samples import load_samples, missing_data_hint
    from zoo.files import write_json, write_text
    from zoo.sources import EXPORTS

    bad = [p for p in report or [] if p.suffix not in REPORT_SUFFIXES]
    if bad:
        raise ArgumentError(f"--report '{bad[0]}' must end in .json or .md")
    wanted = build(BenchRequest, values)
    engine.devices_for(wanted.device)  # a device that is not here: before any work
    request = source_request(source, values)
    resolved = request.resolve(accept=EXPORTS, command="zoo bench")
    dataset = request.dataset_for(resolved)
    data_dir = request.data_dir or resolved.data_dir
    samples = load_samples(resolved.preprocessing, dataset, data_dir, wanted.samples, request.seed)
    if wanted.min_accuracy is not None and not samples.labelled:
        hint = f"; {missing_data_hint(dataset)}" if dataset is not None else ""
        raise ArgumentError(
            f"--min-accuracy needs labelled test data, and there is none here ({samples.origin})"
            f"{hint}"
        )
    names, explicit = engine.chosen_backends(wanted, resolved.manifest)
    calibration = None
    if "onnxruntime-int8" in names and resolved.manifest is None:
        train = dataclasses.replace(dataset, split="train") if dataset else None
        calibration = load_samples(
            resolved.preprocessing, train, data_dir, CALIBRATION_SAMPLES, request.seed
        )
    with (
        engine.files_to_bench(resolved, names, samples, calibration, wanted) as files,
        progress_bar() as progress,
    ):
        result = engine.bench(resolved, files, samples, wanted, names, explicit, progress)
    for path in report or []:
        if path.suffix == ".json":
            write_json(path, result.to_json())
        else:
            write_text(path, text.markdown(result))
    decision = resolved.manifest.decision if resolved.manifest is not None else None
    if as_json:
        data = result.to_json()
        data["decision"] = None if decision is None else decision.to_json()
        print_json(data)
    else:
        render(result, console, wanted.min_accuracy)
        for line in [] if decision is None else decision.lines():
            console.print(f"decision: {line}", highlight=False, soft_wrap=True)
    if not result.passed or result.below(wanted.min_accuracy):
        raise typer.Exit(1)


def render(result: Any, console: Console, min_accuracy: float | None) -> None:
    """The tables, what was skipped and why, the noise verdict and the parity verdict."""
    from zoo.cli.output import show_table
    from zoo.export import report as text

    console.print(f"[bold]{text.headline(result)}[/bold]", highlight=False, soft_wrap=True)
    for title, header, rows in text.tables(result):
        cells = [[f"[red]{cell}[/red]" if cell == "FAIL" else cell for cell in row] for row in rows]
        numbers = tuple(c for c in header if c not in ("backend", "device", "file", "precision"))
        show_table(header, cells, right=numbers, title=title, out=console)
    for line in text.settings_lines(result):
        console.print(f"[dim]{line}[/dim]", highlight=False, soft_wrap=True)
    for skip in result.skipped:
        console.print(
            f"[dim]skipped {skip.backend} ({skip.device}): {skip.reason}[/dim]", soft_wrap=True
        )
    if result.noise:
        console.print(f"[yellow]{result.noise}[/yellow]", highlight=False, soft_wrap=True)
    below = result.below(min_accuracy)
    if below:
        shown = ", ".join(f"{b.backend} ({b.device}) {b.top1.text()}" for b in below)
        console.print(
            f"[red]top-1 below --min-accuracy {min_accuracy:g} %: {shown}[/red]", soft_wrap=True
        )
    colour = "green" if result.passed else "red"
    console.print(f"[{colour}]{text.verdict(result)}[/{colour}]", highlight=False, soft_wrap=True)


@contextlib.contextmanager
def progress_bar() -> Iterator[Any]:
    """A transient Rich progress bar on stderr: the stage (parity, or the batch size and the
    backend being timed) and how far that stage got."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description:<44}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # a log or a pipe gets the results, not the bar
    ) as bar:
        task = bar.add_task("opening backends", total=1.0)

        def update(what: str, done: float) -> None:
            bar.update(task, description=what, completed=done)

        yield update
