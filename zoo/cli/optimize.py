"""``zoo optimize``: parse and print; the work is in :mod:`zoo.export.optimize`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.cli.params import Json, parameters, with_options
from zoo.cli.sources import SOURCE_OPTIONS, SourceArg, source_request
from zoo.export.options import OptimizeRequest
from zoo.flags import build


@with_options([*parameters(OptimizeRequest), *SOURCE_OPTIONS])
def optimize(source: SourceArg = None, *, as_json: Json = False, **values: Any) -> None:
    """Find the fastest file this machine can run within an accuracy budget, and write it as a
    certified export with the decision in its manifest.

    Every candidate is measured side by side in one process: float32, bf16 (where the CPU has
    it natively), float16 (CUDA) and int8 (ONNX Runtime's static QDQ per channel and per tensor,
    dynamic for Linear-only models; OpenVINO's through NNCF, with accuracy control) × ONNX
    Runtime, OpenVINO and PyTorch's ExportedProgram × thread counts for the objective. Latency
    comes first; accuracy is measured on a stratified selection sample of the test split for
    every file that beats float32 there (one that does not cannot be chosen, so its top-1 is
    left blank; its parity is checked), and the choice is
    confirmed on a disjoint confirmation sample, whose figure (with its 95 % interval) is the one
    reported; a choice whose confirmed drop exceeds --max-drop gives way to the next. Latency is
    timed as bench times it (interleaved rounds, p50 with its spread); a candidate must beat ONNX
    Runtime float32 beyond the noise to be chosen, else float32 is written, and the output says
    so. `zoo predict DIR` then runs the chosen file with the chosen runtime and settings; `zoo
    bench DIR`, `zoo info DIR` and `zoo verify DIR` show the decision.

    - --max-drop is the accuracy budget: top-1 points the chosen file may lose against the
      float32 file (for a regression model: the MAE it may gain, in the target's units), on the
      confirmation sample.
    - --objective latency is the p50 of one call at --batch-size; throughput, samples/s at it.
    - --time-budget bounds the side-by-side timing of the candidates (interleaved rounds);
      writing the files, measuring accuracy and confirming come on top.
    - --allow-random-inputs: without labelled data, agreement with the float32 file on random
      inputs stands in for accuracy (the decision says so).
    - --confirmation-samples are disjoint from the selection sample (fewer when the split is
      smaller, shared in proportion).

    Examples:

    - `zoo optimize cifar10-fast --weights default --data-dir /tmp/cifar10 --max-drop 0.5`
    - `zoo optimize runs/mnist-mlp3-... --objective throughput --batch-size 64`
    """
    from zoo.cli.output import console, interruptible, print_json, progress_bar
    from zoo.export.optimize import engine

    wanted = build(OptimizeRequest, values)
    job = engine.plan(source_request(source, values), wanted)
    out = job.out
    kept = f"{out} is as it was" if out.exists() else f"nothing was written to {out}"
    with (
        interruptible(f"optimizing {job.source.name} stopped", kept),
        progress_bar("loading samples") as progress,
    ):
        manifest = engine.run(job, progress)
    if as_json:
        print_json(manifest.to_json())
        return
    render(manifest, out, console)


def render(manifest: Any, out: Path, console: Any) -> None:
    """The candidates as a table, then the decision's lines."""
    from zoo.cli.output import say, show_table

    decision = manifest.decision
    header = ["candidate", "MB", decision.metric, "drop", "p50 ms", "±", "×", "outcome"]
    rows = []
    for c in decision.candidates:
        timing = c.timing
        rows.append(
            [
                c.name,
                "" if c.bytes is None else f"{c.bytes / 1e6:.2f}",
                "" if c.selection is None else f"{c.selection.value:.2f}",
                "" if c.drop is None else f"{c.drop:+.2f}",
                "" if timing is None else f"{timing.p50_ms:.3f}",
                "" if timing is None else f"{timing.spread:.0%}",
                "" if c.speedup is None else f"{c.speedup:.2f}",
                c.status if not c.reason else f"{c.status}: {c.reason.split(' (')[0]}",
            ]
        )
    title = f"Candidates ({decision.objective} at batch {decision.batch}; {decision.selection})"
    right = ("MB", decision.metric, "drop", "p50 ms", "±", "×")
    show_table(header, rows, right=right, title=title, wrap=("outcome",))
    for line in decision.lines():
        say(console, line, markup=False)
    say(console, f"written: {out / decision.run.file}", markup=False)
