"""``zoo bench``: parse and print; the work is in :mod:`zoo.export.bench`, the text of its tables
in :mod:`zoo.export.report`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from zoo.cli.params import Json, parameters, with_options
from zoo.cli.sources import SOURCE_OPTIONS, SourceArg, source_request
from zoo.export.backends import BACKENDS
from zoo.export.options import BenchRequest
from zoo.flags import build

FOLD = ("device", "precision", "± rounds", "calls/rounds")  # said once when every row agrees
SHORT = {  # the tables' headers where the terminal is narrow (a legend says what they are)
    "precision": "prec",
    "max abs diff": "|a−b|",
    "max rel diff": "rel",
    "of tolerance": "of tol",
    "top-1 agree": "agree",
    "samples/s": "/s",
    "calls/rounds": "n/r",
    "p50 ms": "p50",
    "p90 ms": "p90",
    "p99 ms": "p99",
}


@with_options([*parameters(BenchRequest), *SOURCE_OPTIONS])
def bench(source: SourceArg = None, *, as_json: Json = False, **values: Any) -> None:
    """Compare backends: top-1 accuracy, file size, parity and latency.

    Eager PyTorch, TorchScript, ExportedProgram, ONNX Runtime (float32, int8, float16) and
    OpenVINO, with bfloat16 rows where the hardware has bf16.

    --backends takes {BACKENDS} (by default every one that runs here, and for an export
    directory eager and every file it holds); a backend named that cannot run is an error, a
    default one is skipped with the reason. --device auto means the CPU, and the GPU too when
    there is one; a device named that is not there is an error.

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
    from zoo.cli.output import interruptible, progress_bar
    from zoo.export import bench as engine

    wanted = build(BenchRequest, values)
    job = engine.plan(source_request(source, values), wanted)
    kept = "a benchmark is reported whole: nothing was printed or written"
    with (
        interruptible(f"the benchmark of {job.source.name} stopped", kept),
        progress_bar("loading test samples") as progress,
    ):
        result = engine.run(job, progress)
    manifest = job.source.manifest
    decision = manifest.decision if manifest is not None else None
    show_and_save(result, decision, wanted.report, as_json, wanted.min_accuracy)


bench.__doc__ = (bench.__doc__ or "").replace("{BACKENDS}", ", ".join(BACKENDS))  # the registry's


def show_and_save(
    result: Any,
    decision: Any,
    report: tuple[Path, ...],
    as_json: bool,
    min_accuracy: float | None,
) -> None:
    """The result (JSON, or the tables and the decision), then its --report files: a write
    that fails after the results are shown loses nothing; exit 1 on a failed check."""
    from zoo.cli.output import console, print_json, saving, say
    from zoo.export import report as text
    from zoo.files import write_json, write_text

    if as_json:
        data = result.to_json()
        data["decision"] = None if decision is None else decision.to_json()
        print_json(data)
    else:
        render(result, console, min_accuracy)
        for line in [] if decision is None else decision.lines():
            say(console, f"decision: {line}", markup=False)
    for path in report:
        if path.suffix == ".json":
            saving(path, lambda path=path: write_json(path, result.to_json()))
        else:
            saving(path, lambda path=path: write_text(path, text.markdown(result)))
    if not result.passed or result.below(min_accuracy):
        raise typer.Exit(1)


def render(result: Any, console: Console, min_accuracy: float | None) -> None:
    """The tables, what was skipped and why, the noise verdict and the parity verdict."""
    from zoo.cli.output import say, show_table
    from zoo.export import report as text

    say(console, f"[bold]{escape(text.headline(result))}[/bold]")
    for title, header, rows in text.tables(result):
        cells = [[f"[red]{cell}[/red]" if cell == "FAIL" else cell for cell in row] for row in rows]
        numbers = tuple(c for c in header if c not in ("backend", "device", "file", "precision"))
        keys = 2 if header[0] == "batch" else 1  # a latency row is a batch size and a backend
        short = SHORT | {c: c.replace("p50 ms ", "") for c in header if c.startswith("p50 ms @")}
        show_table(
            header,
            cells,
            right=numbers,
            title=title,
            out=console,
            keys=keys,
            short=short,
            fold=FOLD,
        )
    for line in text.settings_lines(result):
        say(console, f"[dim]{escape(line)}[/dim]")
    for skip in result.skipped:
        say(console, f"[dim]skipped {skip.backend} ({skip.device}): {escape(skip.reason)}[/dim]")
    if result.noise:
        say(console, f"[yellow]{escape(result.noise)}[/yellow]")
    below = result.below(min_accuracy)
    if below:
        shown = ", ".join(f"{b.backend} ({b.device}) {b.top1.text()}" for b in below)
        say(console, f"[red]top-1 below --min-accuracy {min_accuracy:g} %: {escape(shown)}[/red]")
    colour = "green" if result.passed else "red"
    say(console, f"[{colour}]{escape(text.verdict(result))}[/{colour}]")
