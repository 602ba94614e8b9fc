"""``zoo optimize``'s engine: make every candidate file, measure every candidate side by side in
one process (accuracy on the selection sample, parity against eager, latency in interleaved
rounds as bench times it), decide (:mod:`.rule`), confirm on the disjoint confirmation sample, and
write the chosen file as a certified export whose manifest carries the decision record.

The output directory appears whole or not at all, as an export's does: everything is made in a
staging directory beside it and a scratch directory, removed on any failure or interrupt.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zoo.artifacts.decision import SKIPPED, CandidateRecord, Figure, Timing
from zoo.artifacts.manifest import Manifest
from zoo.errors import ArgumentError, ZooError
from zoo.export import bench, runtimes
from zoo.export.checks import prepare_checks
from zoo.export.optimize import candidates as made
from zoo.export.optimize import rule
from zoo.export.optimize.candidates import Candidate
from zoo.export.optimize.metric import Metric, metric_for
from zoo.export.optimize.sampling import OptimizeData, load_data
from zoo.export.optimize.writing import make_decision, write_chosen
from zoo.export.options import ExportRequest, OptimizeRequest
from zoo.export.parity import FP32, compare
from zoo.export.pipeline import Exporting, check_out_dir, commit_dir, exporting, staging_dir
from zoo.export.precisions import PRECISIONS
from zoo.sources import EXPORTS, Source, SourceRequest

PARITY_COUNT = 64  # selection inputs each candidate is compared with eager on
ITERATIONS = 20
Progress = Callable[[str, float], None]


@dataclass
class SelectionOutputs:
    """What one candidate measured on the selection sample (shared by its thread variants):
    no outputs where its accuracy could not change the decision (:func:`faster_files`)."""

    outputs: np.ndarray | None
    parity_passed: bool
    parity: str


@dataclass(frozen=True)
class OptimizeJob:
    """An optimisation decided before any work: what it starts from (and the data it measures
    on), the request, and the output folder."""

    source: Source
    data: SourceRequest
    request: OptimizeRequest
    out: Path


def plan(data: SourceRequest, request: OptimizeRequest) -> OptimizeJob:
    """What ``zoo optimize`` will do, checked before any work: the source resolved, the output
    folder (--out, else exports/MODEL-optimized), the request's rules."""
    check_request(request)
    source = data.resolve(accept=EXPORTS, command="zoo optimize")
    out = request.out or Path("exports") / f"{source.name}-optimized"
    return OptimizeJob(source, data, request, out)


def run(job: OptimizeJob, progress: Progress | None = None) -> Manifest:
    """The optimisation ``job`` plans: its output folder checked and held before any work, its
    samples (selection, confirmation, calibration), then every candidate measured and the
    chosen file written with its decision; eager averages the views the weights' card records."""
    with exporting(job.out, job.request.force):
        if progress is not None:
            progress("loading samples", 0.0)
        data = load_data(job.source, job.request, job.data)
        return optimize(job.source, data, job.request, job.out, job.source.tta, progress)


def optimize(
    source: Source,
    data: OptimizeData,
    request: OptimizeRequest,
    out_dir: Path,
    tta: str = "none",
    progress: Progress | None = None,
) -> Manifest:
    """The fastest qualifying file written to ``out_dir`` with its decision; nothing is left
    behind if it fails or is interrupted."""
    start = time.perf_counter()
    check_request(request)
    check_out_dir(out_dir, request.force)
    data.check_disjoint()
    made = Exporting.of(source, tta or "none")  # eager averages the views the files do
    staging = staging_dir(out_dir)
    cores = max(1, torch.get_num_threads())
    try:
        with tempfile.TemporaryDirectory(prefix=".zoo-optimize-", dir=out_dir.parent) as scratch:
            manifest = measure_and_write(
                made, data, request, Path(scratch), staging, tta, cores, start, progress
            )
        commit_dir(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def check_request(request: OptimizeRequest) -> None:
    if request.objective not in rule.OBJECTIVES:
        raise ArgumentError(f"--objective is latency or throughput, not '{request.objective}'")
    if request.max_drop < 0:
        raise ArgumentError(f"--max-drop is at least 0, not {request.max_drop:g}")


def device_here(asked: str, skipped: list[str]) -> str:
    """The device asked for, or the CPU with a line saying why (listed in the record)."""
    if asked == "cpu":
        return "cpu"
    if asked.startswith("cuda"):
        if torch.cuda.is_available():
            return asked
        skipped.append(f"--device {asked}: no CUDA GPU here; optimised for the CPU instead")
        return "cpu"
    raise ArgumentError(f"zoo optimize runs on cpu, cuda or cuda:N, not '{asked}'")


def measure_and_write(
    source: Exporting,
    data: OptimizeData,
    request: OptimizeRequest,
    scratch: Path,
    staging: Path,
    tta: str,
    cores: int,
    start: float,
    progress: Progress | None,
) -> Manifest:
    """Make, open, measure, decide, write."""
    clock = Clock(progress)
    say = clock.say
    skipped: list[str] = []
    device = device_here(request.device, skipped)
    clock.stage("float32 files")
    verifying = prepare_checks(
        source.model, source.card.output_kind, data.selection.take(16), ExportRequest()
    )
    files = made.float32_files(source, scratch, verifying, tta, skipped)
    clock.stage("int8 files")
    files += made.derived_files(
        source,
        scratch,
        files,
        verifying,
        data.calibration,
        data.selection,
        request.max_drop,
        device.startswith("cuda"),
        skipped,
    )
    found = made.candidates(files, device, made.thread_counts(request.objective, cores), cores)
    baseline = next(c for c in found if c.backend.name == "onnxruntime" and c.threads == cores)
    if baseline.skipped is not None:
        raise ZooError(f"ONNX Runtime float32, the baseline, cannot run here: {baseline.skipped}")
    metric = metric_for(source.card.regression, data.labelled)
    with runtimes.float32_torch(cores), torch.inference_mode():  # measured, as bench measures
        clock.stage("opening")
        for candidate in found:
            if candidate.skipped is None:
                made.open_candidate(candidate, source.model)
        clock.stage("latency")
        timings = measure_timings(found, source, request, say)
        clock.stage("selection sample")
        contenders = faster_files(found, timings, baseline)
        selection = measure_selection(found, data, source, baseline, contenders, say)
        figures = selection_figures(selection, data, metric, baseline)
        records = [record(c, selection, figures, timings, baseline) for c in found]
        clock.stage("confirmation")
        confirm = confirmer(found, data, metric, baseline, say)
        outcome = rule.decide(records, baseline.name, request.max_drop, request.objective, confirm)
    clock.stage("")
    chosen = next(c for c in found if c.name == outcome.chosen)
    decision = make_decision(
        outcome, chosen, baseline, request, device, data, metric, skipped, start
    )
    decision = dataclasses.replace(decision, stages=clock.marks)
    return write_chosen(source, staging, chosen, verifying, decision, data, metric, request)


class Clock:
    """Stage by stage: what the progress display shows, and the seconds each stage took."""

    def __init__(self, progress: Progress | None) -> None:
        self.say: Progress = progress or (lambda what, done: None)
        self.marks: dict[str, float] = {}
        self.current, self.since = "", time.perf_counter()

    def stage(self, name: str) -> None:
        now = time.perf_counter()
        if self.current:
            self.marks[self.current] = round(now - self.since, 1)
        self.current, self.since = name, now
        if name:
            self.say(name, 0.0)


def faster_files(
    found: list[Candidate], timings: dict[str, Timing], baseline: Candidate
) -> set[tuple[str, str]]:
    """The files whose accuracy can change the decision: the baseline's, and those with a
    variant faster than the baseline beyond the noise (the rule never chooses another)."""
    base = timings[baseline.name]
    compared = len(timings) - 1  # as the rule counts them: every timed candidate but float32
    return {baseline.outputs_key} | {
        c.outputs_key
        for c in found
        if c.name in timings and rule.beats(timings[c.name], base, compared)
    }


def measure_selection(
    found: list[Candidate],
    data: OptimizeData,
    source: Exporting,
    baseline: Candidate,
    contenders: set[tuple[str, str]],
    say: Progress,
) -> dict[str, SelectionOutputs]:
    """Each distinct candidate's parity against eager on the first selection inputs, and the
    outputs on the whole selection sample of the ``contenders`` (a file slower than float32 is
    out whatever it scores: its accuracy is not measured, which keeps the command quick)."""
    inputs = data.selection.inputs
    eager = runtimes.torch_runner(source.model)(inputs[:PARITY_COUNT])
    classification = not source.card.regression
    measured: dict[tuple[str, str], SelectionOutputs] = {}
    # a file's outputs do not depend on its thread count (to float rounding): each is measured
    # once, by its variant with the most threads (the quickest)
    opened = sorted((c for c in found if c.opened is not None), key=lambda c: -c.threads)
    for position, candidate in enumerate(opened):
        if candidate.outputs_key in measured:
            continue
        say("accuracy on the selection sample", position / len(opened))
        whole = candidate.outputs_key in contenders
        outputs = made.run_outputs(candidate, inputs if whole else inputs[:PARITY_COUNT])
        precision = PRECISIONS[candidate.backend.precision]
        parity = compare(
            candidate.name,
            eager,
            outputs[:PARITY_COUNT],
            classification,
            precision.tolerance or FP32,
        )
        passed = parity.passed if precision.tolerance else bool(np.isfinite(outputs).all())
        kept = outputs if whole else None
        measured[candidate.outputs_key] = SelectionOutputs(kept, passed, parity.text())
    assert measured[baseline.outputs_key].outputs is not None
    return {c.name: measured[c.outputs_key] for c in opened}


def selection_figures(
    selection: dict[str, SelectionOutputs], data: OptimizeData, metric: Metric, baseline: Candidate
) -> dict[str, tuple[Figure, float]]:
    """Each measured candidate's metric on the selection sample and its drop against the
    baseline's."""
    reference = selection[baseline.name].outputs
    assert reference is not None
    labels = labels_for(data.selection.labels if data.labelled else None, reference, metric)
    base_scores = metric.scores(reference, labels)
    figures = {}
    for name, measured in selection.items():
        if measured.outputs is None:
            continue
        scores = metric.scores(measured.outputs, labels)
        figures[name] = (metric.figure(scores), metric.drop(base_scores, scores).value)
    return figures


def measure_timings(
    found: list[Candidate], source: Exporting, request: OptimizeRequest, say: Progress
) -> dict[str, Timing]:
    """Every opened candidate timed at the request's batch, interleaved round by round as
    bench does, within the time budget."""
    opened = [c for c in found if c.opened is not None]
    _, batch = bench.synthetic_batch(source, request.batch, np.random.default_rng(0))
    calls = {c.name: c.opened.timed(batch) for c in opened if c.opened is not None}
    min_seconds = 0.6 * request.time_budget / max(1, len(calls))
    timed = bench.interleaved(
        calls,
        iterations=ITERATIONS,
        min_seconds=min_seconds,
        budget=request.time_budget,
        progress=lambda label, done: say(f"latency at batch {request.batch}: {label}", done),
    )
    return {name: timing_of(t, request.batch) for name, t in timed.items()}


def timing_of(timing: bench.Timing, batch: int) -> Timing:
    p50, _, _ = bench.percentiles(timing.times)
    medians = [float(np.median(r)) * 1e3 for r in timing.rounds if r]
    rounds = tuple(round(m, 6) for m in medians)
    return Timing(p50, min(medians), max(medians), batch * 1e3 / p50, len(medians), rounds)


def labels_for(
    samples_labels: np.ndarray | None, reference: np.ndarray, metric: Metric
) -> np.ndarray:
    """Real labels, or (no labels) the float32 baseline's own answers."""
    if samples_labels is not None:
        return samples_labels
    return reference.argmax(1) if metric.classification else reference


def record(
    candidate: Candidate,
    selection: dict[str, SelectionOutputs],
    figures: dict[str, tuple[Figure, float]],
    timings: dict[str, Timing],
    baseline: Candidate,
) -> CandidateRecord:
    """A candidate's record before the decision: what it measured, or why it was skipped."""
    exported = candidate.built.exported
    entry = CandidateRecord(
        name=candidate.name,
        runtime=candidate.runtime,
        format=exported.format.name,
        precision=candidate.backend.precision,
        threads=candidate.threads,
        variant=exported.facts.quantisation,
        bytes=exported.path.stat().st_size
        + sum(p.stat().st_size for p in exported.format.companions(exported.path)),
    )
    if candidate.skipped is not None or candidate.name not in selection:
        return dataclasses.replace(entry, status=SKIPPED, reason=candidate.skipped or "not run")
    measured, timing = selection[candidate.name], timings.get(candidate.name)
    base_timing = timings.get(baseline.name)
    return dataclasses.replace(
        entry,
        parity_passed=measured.parity_passed,
        parity=measured.parity,
        selection=figures[candidate.name][0] if candidate.name in figures else None,
        drop=round(figures[candidate.name][1], 6) if candidate.name in figures else None,
        timing=timing,
        speedup=base_timing.p50_ms / timing.p50_ms if timing and base_timing else None,
    )


def confirmer(
    found: list[Candidate],
    data: OptimizeData,
    metric: Metric,
    baseline: Candidate,
    say: Progress,
) -> rule.Confirm:
    """A candidate's figure and paired drop against the baseline on the confirmation sample."""
    by_name = {c.name: c for c in found}
    inputs = data.confirmation.inputs
    reference = made.run_outputs(baseline, inputs)
    labels = labels_for(data.confirmation.labels if data.labelled else None, reference, metric)
    base_scores = metric.scores(reference, labels)

    def confirm(name: str) -> tuple[Figure, Figure]:
        say(f"confirming {name}", 0.0)
        outputs = made.run_outputs(by_name[name], inputs)
        scores = metric.scores(outputs, labels)
        return metric.figure(scores), metric.drop(base_scores, scores)

    return confirm
