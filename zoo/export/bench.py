"""Accuracy, parity and latency of every available backend, side by side, in one process.

Backends are registered objects (:mod:`zoo.export.backends`): PyTorch eager, TorchScript,
ExportedProgram, ONNX Runtime (float32, int8 and float16 files) and OpenVINO, with bfloat16 rows
where the hardware has bf16; on a GPU, those that run on CUDA. Every row computes in the precision
it names: float32 rows are pinned to float32 (OpenVINO's hint, oneDNN's and CUDA's TF32/bf16
shortcuts off), reduced-precision rows are labelled and judged by their own tolerance.

Parity is against eager on the same device, on every sample; top-1 accuracy on every labelled
sample, with its 95 % interval: the latency budget never shortens them. Latency: ONNX Runtime's
full optimisation, every runtime on the same thread count, backends interleaved round by round
so that machine noise hits them alike (a short pause before each slice lets the previous
backend's spinning worker threads go idle); each p50 comes with its spread across rounds, and a
ratio to eager whose spreads overlap is marked as within noise. ``max_seconds`` bounds the timing.
On CUDA, a timed call takes a host batch and returns a host result (transfers included).
"""

from __future__ import annotations

import contextlib
import dataclasses
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.artifacts.card import softmax
from zoo.artifacts.manifest import PROBABILITIES, FileFacts, Manifest, Parity
from zoo.errors import ArgumentError, ZooError
from zoo.export import runtimes
from zoo.export.backends import BACKENDS, DEFAULT, Backend, Opened, Opening
from zoo.export.backends.openvino import missing as openvino_missing
from zoo.export.options import CALIBRATION_SAMPLES, BenchRequest, ExportRequest
from zoo.export.parity import Top1, judge, top1
from zoo.export.pipeline import scratch_export
from zoo.export.precisions import PRECISIONS
from zoo.export.samples import Samples, calibration_samples, evaluation_samples, missing_data_hint
from zoo.files import check_file
from zoo.machine import Machine, this_machine
from zoo.sources import EXPORTS, ExportDirectory, Source, SourceRequest
from zoo.tta import with_tta

PARITY_CHUNK = 32
WARMUP_CALLS, WARMUP_SECONDS = 3, 0.05  # up to 3 calls or 50 ms, at least one call
SLICE_SECONDS = 0.1  # each backend runs this long per round, at most
MIN_SLICE_SECONDS = 0.02
MIN_ROUNDS = 3  # rounds every backend gets before timing may stop, budget permitting
MIN_TIMINGS = 1  # timed calls every backend gets, even past the wall-time budget
NOISE = 0.05  # ± this share of the p50 across rounds: beyond it, the machine was too noisy
# the pause before each slice: the previous backend's spinning worker threads (ONNX Runtime's and
# OpenMP's spin-wait after a call) go idle instead of taking cores from the next one
SETTLE_SECONDS = 0.02
Progress = Callable[[str, float], None]  # (what is being measured, fraction done)


@dataclass(frozen=True)
class ParityRow:
    """One backend against eager on the same device."""

    backend: str
    device: str
    precision: str
    parity: Parity

    @property
    def passed(self) -> bool:
        return self.parity.passed


@dataclass(frozen=True)
class BackendRow:
    """One backend's file, size and top-1 accuracy on the labelled samples."""

    backend: str
    device: str
    precision: str
    file: str
    bytes: int | None
    top1: Top1 | None  # None without labelled real samples


@dataclass
class Latency:
    """Timings of one backend at one batch size, and how much they moved across rounds."""

    backend: str
    device: str
    batch: int
    iterations: int
    rounds: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    low_ms: float  # the fastest round's median
    high_ms: float  # the slowest round's median
    samples_per_s: float
    speedup_vs_eager: float | None = None
    within_noise: bool = False  # its spread overlaps eager's: the ratio is not significant

    @property
    def spread(self) -> float:
        """The rounds' medians as ± a share of the p50."""
        return (self.high_ms - self.low_ms) / (2 * self.p50_ms) if self.p50_ms else 0.0


@dataclass(frozen=True)
class Skipped:
    backend: str
    device: str
    reason: str


@dataclass(frozen=True)
class CudaDevice:
    """The GPU a bench's CUDA rows ran on."""

    device: str  # its name, as torch.cuda gives it
    capability: str  # compute capability, "9.0"


@dataclass(frozen=True)
class BenchEnvironment:
    """What a bench's figures depend on besides the files: the machine, the runtimes' versions,
    the thread count, the precision each runtime really ran at, the GPU."""

    machine: Machine
    versions: dict[str, str]
    threads: int
    precision_settings: dict[str, str]  # per backend row (and the request's), as text
    cuda: CudaDevice | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "machine": self.machine.to_json(),
            "versions": dict(self.versions),
            "threads": self.threads,
            "precision settings": dict(self.precision_settings),
        }
        return data | ({"cuda": asdict(self.cuda)} if self.cuda is not None else {})


@dataclass
class BenchResult:
    """Everything one `zoo bench` run measured."""

    model: str
    source: str
    threads: int
    inputs: str
    samples: int
    per_class: dict[str, int] = field(default_factory=dict)  # the samples' labels, counted
    environment: BenchEnvironment | None = None  # set once the backends have run
    parity: list[ParityRow] = field(default_factory=list)
    backends: list[BackendRow] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    export_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.parity)

    @property
    def noise(self) -> str | None:
        """Why the timings do not meet ±5 % across rounds, or None when they do."""
        worst = max(self.latency, key=lambda row: row.spread, default=None)
        if worst is None or worst.spread <= NOISE:
            return None
        return (
            f"the machine was too noisy for p50s within ±{NOISE:.0%}: {worst.backend} at batch "
            f"{worst.batch} moved by ±{worst.spread:.0%} across {worst.rounds} rounds"
        )

    def below(self, min_accuracy: float | None) -> list[BackendRow]:
        """The backends whose top-1 is below ``min_accuracy`` percent."""
        if min_accuracy is None:
            return []
        return [
            r for r in self.backends if r.top1 is not None and 100 * r.top1.value < min_accuracy
        ]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["parity"] = [
            {**asdict(row.parity), "device": row.device, "precision": row.precision}
            for row in self.parity
        ]
        data["latency"] = [{**asdict(row), "spread": row.spread} for row in self.latency]
        data["passed"] = self.passed
        data["noise"] = self.noise
        data["tolerance"] = {p.name: p.rule for p in PRECISIONS.values()}
        data["environment"] = self.environment.to_json() if self.environment else {}
        return data


@dataclass
class Row:
    """A backend on one device: opened, or skipped with the reason."""

    backend: Backend
    device: str
    file: Path | None
    facts: FileFacts
    timed: bool
    opened: Opened | None = None
    skipped: str | None = None

    @property
    def label(self) -> str:
        return f"{self.backend.name} ({self.device})"


@dataclass(frozen=True)
class BenchFiles:
    """The files a bench runs, by (format, precision), and how long a fresh export took."""

    files: dict[tuple[str, str], tuple[Path, FileFacts]]
    fixed_batch: int | None
    export_seconds: dict[str, float]
    tta: str = "none"  # the views the files' graphs average: eager averages the same ones


@dataclass(frozen=True)
class BenchJob:
    """A benchmark decided before any work: what it runs (and the data it measures on), the
    request, and the backends it times (``explicit``: named by the user, so one that cannot run
    is an error)."""

    source: Source
    data: SourceRequest
    request: BenchRequest
    backends: tuple[str, ...]
    explicit: bool


def plan(data: SourceRequest, request: BenchRequest) -> BenchJob:
    """What ``zoo bench`` will do, checked before any work: every --report file writable, the
    device here, the source resolved, the backends chosen."""
    for path in request.report:
        check_file(path, "--report")
    devices_for(request.device)
    source = data.resolve(accept=EXPORTS, command="zoo bench")
    names, explicit = chosen_backends(request, source.manifest)
    return BenchJob(source, data, request, names, explicit)


def run(job: BenchJob, progress: Progress | None = None) -> BenchResult:
    """The benchmark ``job`` plans: its test samples (labelled ones when --min-accuracy asks
    for a top-1), the files (an export directory's own, else a temporary export, int8 calibrated
    on training inputs), then parity, accuracy and latency."""
    request, source = job.request, job.source
    if progress is not None:
        progress("loading test samples", 0.0)
    samples = evaluation_samples(source, job.data, request.test_samples)
    if request.min_accuracy is not None and not samples.labelled:
        dataset = job.data.dataset_for(source)
        hint = f"; {missing_data_hint(dataset)}" if dataset is not None else ""
        raise ArgumentError(
            f"--min-accuracy needs labelled test data, and there is none here ({samples.origin})"
            f"{hint}"
        )
    calibration = None
    if ("onnx", "int8") in made_files(job.backends, source):
        calibration = calibration_samples(source, job.data, CALIBRATION_SAMPLES)
    if progress is not None:
        progress("preparing the files", 0.0)
    with files_to_bench(source, job.backends, samples, calibration, request) as files:
        return bench(source, files, samples, request, job.backends, job.explicit, progress)


def made_files(names: tuple[str, ...], source: Source) -> set[tuple[str, str]]:
    """The (format, precision) files a bench exports for ``names`` (none for an export
    directory: its own files are run)."""
    if isinstance(source, ExportDirectory):
        return set()
    return {BACKENDS[n].runs for n in names if BACKENDS[n].runs is not None}  # type: ignore[misc]


def devices_for(device: str) -> tuple[str, ...]:
    """``auto``: the CPU, and the GPU when there is one; a device asked for must be there."""
    cuda = torch.cuda.is_available()
    if device == "auto":
        return ("cpu", "cuda") if cuda else ("cpu",)
    if device.startswith("cuda"):
        if not cuda:
            raise ZooError(f"--device {device}: no CUDA GPU is available here (try --device cpu)")
        return (device,)
    if device != "cpu":
        raise ArgumentError(f"zoo bench runs on cpu, cuda or cuda:N, not '{device}'")
    return ("cpu",)


def chosen_backends(
    request: BenchRequest, manifest: Manifest | None
) -> tuple[tuple[str, ...], bool]:
    """The backends to time and whether the user named them: named, else for an export
    directory eager and every backend whose file it holds, else the default set."""
    if request.backends:
        return tuple(request.backends), True
    if manifest is None:
        return DEFAULT, False
    held = {(f.format, f.precision) for f in manifest.files}
    names = tuple(b.name for b in BACKENDS.values() if b.runs is None or b.runs in held)
    return names, False


def collect_files(manifest: Manifest, directory: Path, wanted: set[tuple[str, str]]) -> BenchFiles:
    """The manifest's files that ``wanted`` backends run, each checked against its sha256."""
    files = {}
    for entry in manifest.files:
        key = (entry.format, entry.precision)
        if key in wanted:
            files[key] = (manifest.checked_path(directory, entry), entry.facts)
    seconds = {entry.label: entry.export_seconds for entry in manifest.files}
    tta = next((entry.facts.tta for entry in manifest.files), "none")  # one export, one TTA
    return BenchFiles(files, manifest.export.fixed_batch, seconds, tta)


@contextlib.contextmanager
def files_to_bench(
    source: Source,
    names: tuple[str, ...],
    checks: Samples,
    calibration: Samples | None,
    request: BenchRequest,
) -> Iterator[BenchFiles]:
    """An export directory's own files (hashes checked), else a fresh export into a temporary
    directory that lasts as long as the ``with`` block, of the files ``names`` run."""
    wanted = {BACKENDS[n].runs for n in names if BACKENDS[n].runs is not None}
    if isinstance(source, ExportDirectory):
        yield collect_files(source.manifest, source.path, wanted)  # type: ignore[arg-type]
        return
    if not wanted:
        yield BenchFiles({}, None, {})
        return
    export_request = ExportRequest(
        formats=tuple(dict.fromkeys(fmt for fmt, _ in wanted)),  # type: ignore[misc]
        precisions=tuple(p for p in ("int8", "fp16") if ("onnx", p) in wanted),
        opset=request.opset,
        batch=request.batch,
        tta=source.tta,  # what the weights' card records, as zoo export and zoo eval use
    )
    test = checks if "int8" in export_request.precisions else None  # bench measures the rest
    with scratch_export(source, export_request, checks.take(16), test, calibration) as (
        out,
        manifest,
    ):
        yield collect_files(manifest, out, wanted)  # type: ignore[arg-type]


def open_rows(
    source: Source,
    files: BenchFiles,
    names: tuple[str, ...],
    explicit: bool,
    devices: tuple[str, ...],
    threads: int,
) -> list[Row]:
    """Every requested backend on every device, opened or skipped with the reason; eager is
    opened on each device for the parity reference whether or not it is timed, averaging the
    test-time views the files average. A backend the user named that cannot run is an error."""
    model = with_tta(source.model(), files.tta)
    rows = []
    for device in devices:
        kind = device.split(":")[0]
        for name in ("eager", *[n for n in names if n != "eager"]):
            backend = BACKENDS[name]
            if kind not in backend.devices:
                if explicit and not any(d.split(":")[0] in backend.devices for d in devices):
                    raise ZooError(f"--backends {name} runs on {', '.join(backend.devices)} only")
                continue
            path, facts = (
                files.files.get(backend.runs, (None, FileFacts()))
                if backend.runs
                else (None, FileFacts())
            )
            row = Row(backend, device, path, facts, timed=name in names)
            row.skipped = backend.missing(device)
            if row.skipped is None and backend.runs is not None and path is None:
                fmt, precision = backend.runs
                row.skipped = (
                    f"no {fmt if precision == 'fp32' else f'{precision} {fmt}'} file to run"
                )
            if row.skipped is not None and explicit and row.timed:
                raise ZooError(f"--backends {name} cannot run on {device}: {row.skipped}")
            if row.skipped is None:
                row.opened = backend.open(Opening(model, path, facts, device, threads))
            rows.append(row)
    return rows


def expected(outputs: np.ndarray, facts: FileFacts, model_output: str) -> np.ndarray:
    """Eager's outputs as a file returns them (probabilities if it ends in a softmax)."""
    if facts.output != PROBABILITIES:
        return outputs
    return np.exp(outputs) if model_output == "log_probs" else softmax(outputs)


def measure_parity(
    rows: list[Row],
    samples: Samples,
    model_output: str,
    fixed: int | None,
    progress: Progress | None = None,
) -> tuple[list[ParityRow], list[BackendRow]]:
    """Each backend against eager on the same device, and top-1 on the labelled samples: on
    every sample, in whole chunks of the files' batch size when it is fixed."""
    opened = [r for r in rows if r.opened is not None]
    chunk = fixed or PARITY_CHUNK
    outputs: dict[str, list[np.ndarray]] = {r.label: [] for r in opened}
    for start in range(0, len(samples), chunk):
        stop = min(start + chunk, len(samples))
        for row in opened:
            feed = samples.raw if row.backend.takes_raw(row.facts) else samples.inputs
            assert row.opened is not None
            outputs[row.label].append(row.opened.parity(feed[start:stop]))
        if progress:
            progress("parity and accuracy", stop / len(samples))
    classification = model_output != "regression"
    parity, summaries = [], []
    for row in opened:
        got = np.concatenate(outputs[row.label])
        accuracy = top1(got, samples.labels) if classification and samples.labelled else None
        size = row.file.stat().st_size if row.file else None
        summaries.append(
            BackendRow(
                row.backend.name,
                row.device,
                row.backend.precision,
                row.file.name if row.file else "",
                size,
                accuracy,
            )
        )
        if row.backend.name != "eager":
            reference = np.concatenate(outputs[f"eager ({row.device})"])
            parity.append(
                parity_row(row, expected(reference, row.facts, model_output), got, model_output)
            )
    return parity, summaries


def parity_row(row: Row, reference: np.ndarray, got: np.ndarray, model_output: str) -> ParityRow:
    """The parity of one backend, by its precision's rule (:func:`zoo.export.parity.judge`). An
    int8 file has no elementwise bound: its accuracy gate was applied at export (the rule says
    how); here its outputs need only be finite, and its top-1 stands beside eager's
    (``--min-accuracy`` sets a floor)."""
    precision = PRECISIONS[row.backend.precision]
    classification = model_output != "regression"
    parity = judge(row.backend.name, reference, got, classification, precision)
    if precision.tolerance is None:
        accuracy, gate = row.facts.accuracy, row.facts.max_accuracy_drop
        checked = accuracy is not None and accuracy.top1 is not None and gate is not None
        rule = (
            f"int8: top-1 at most {gate:g} below float32 (in points) on {accuracy.samples} "
            "samples at export"
            if checked and accuracy is not None
            else "int8: accuracy not checked at export"
        )
        parity = dataclasses.replace(parity, tolerance=rule)
    return ParityRow(row.backend.name, row.device, precision.name, parity)


def percentiles(seconds: list[float]) -> tuple[float, float, float]:
    """p50, p90 and p99 in milliseconds (linear interpolation, numpy's default)."""
    p50, p90, p99 = (float(v) for v in np.percentile(np.asarray(seconds) * 1e3, [50, 90, 99]))
    return p50, p90, p99


@dataclass
class Timing:
    """One backend's timed calls, round by round."""

    call: Callable[[], Any]
    times: list[float] = field(default_factory=list)
    rounds: list[list[float]] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.times)


def warm_up(call: Callable[[], Any], deadline: float) -> None:
    """Lazy initialisation, caches, thread pools: up to a few calls, at least one."""
    warm_end = min(time.perf_counter() + WARMUP_SECONDS, deadline)
    for _ in range(WARMUP_CALLS):
        call()
        if time.perf_counter() > warm_end:
            break


def run_slice(timing: Timing, seconds: float, deadline: float) -> None:
    """One round's slice of a backend: calls for ``seconds`` after a settle pause."""
    time.sleep(SETTLE_SECONDS)
    slice_end = min(time.perf_counter() + seconds, deadline)
    this_round: list[float] = []
    while True:
        begin = time.perf_counter()
        timing.call()
        end = time.perf_counter()
        this_round.append(end - begin)
        if end >= slice_end and (
            end < deadline or len(timing.times) + len(this_round) >= MIN_TIMINGS
        ):
            break
    timing.times.extend(this_round)
    timing.rounds.append(this_round)


def interleaved(
    calls: dict[str, Callable[[], Any]],
    *,
    iterations: int,
    min_seconds: float,
    budget: float,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Timing]:
    """Time every call in rounds, each backend in turn; stop once every backend has
    ``MIN_ROUNDS`` rounds and ``iterations`` timings summing to ``min_seconds``, or when
    ``budget`` seconds of wall time are spent (then only a backend with fewer than
    ``MIN_TIMINGS`` timings is still called: a slow one's overrun)."""
    start = time.perf_counter()
    deadline = start + budget
    for call in calls.values():
        warm_up(call, deadline)
    timings = {label: Timing(call) for label, call in calls.items()}
    # slices short enough for several rounds within the budget, long enough to time a call
    rounds = 2 * MIN_ROUNDS
    seconds = min(SLICE_SECONDS, max(MIN_SLICE_SECONDS, budget / (rounds * max(1, len(calls)))))

    def enough(timing: Timing) -> bool:
        rounds = len(timing.rounds) >= MIN_ROUNDS
        return rounds and len(timing.times) >= iterations and timing.total >= min_seconds

    while True:
        for label, timing in timings.items():
            if time.perf_counter() >= deadline and len(timing.times) >= MIN_TIMINGS:
                continue
            run_slice(timing, seconds, deadline)
            if progress:
                wanted = min(
                    min(len(t.times) / iterations, t.total / min_seconds if min_seconds else 1.0)
                    for t in timings.values()
                )
                elapsed = (time.perf_counter() - start) / budget if budget else 1.0
                progress(label, min(1.0, max(wanted, elapsed)))
        late = time.perf_counter() >= deadline
        if all(enough(t) for t in timings.values()) or (
            late and all(len(t.times) >= MIN_TIMINGS for t in timings.values())
        ):
            return timings


def latency_row(row: Row, batch: int, timing: Timing) -> Latency:
    p50, p90, p99 = percentiles(timing.times)
    medians = [float(np.median(r)) * 1e3 for r in timing.rounds if r]
    return Latency(
        row.backend.name,
        row.device,
        batch,
        len(timing.times),
        len(timing.rounds),
        p50,
        p90,
        p99,
        min(medians),
        max(medians),
        batch * 1e3 / p50,
    )


def against_eager(rows: list[Latency]) -> None:
    """Each row's ratio to eager on its device and batch, marked within noise when the two
    spreads across rounds overlap."""
    eager = {(r.device, r.batch): r for r in rows if r.backend == "eager"}
    for row in rows:
        reference = eager.get((row.device, row.batch))
        if reference is None:
            continue
        row.speedup_vs_eager = reference.p50_ms / row.p50_ms
        overlap = row.low_ms <= reference.high_ms and reference.low_ms <= row.high_ms
        row.within_noise = row is not reference and overlap


def synthetic_batch(
    source: Source, batch: int, generator: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A batch to time (raw, normalised): timing needs the shape, not real data."""
    shape = source.input_shape
    if len(shape) == 3:
        raw = generator.integers(0, 256, (batch, *shape), dtype=np.uint8)
        return raw, source.preprocessing.normalise(raw)
    normalised = generator.standard_normal((batch, *shape)).astype(np.float32)
    return normalised, normalised


def measure_latency(
    rows: list[Row],
    batch_sizes: tuple[int, ...],
    fixed: int | None,
    source: Source,
    request: BenchRequest,
    progress: Progress | None = None,
) -> tuple[list[Latency], list[Skipped]]:
    """p50/p90/p99 per backend and batch size, backends interleaved round by round; the wall
    time of it all is bounded by ``max_time``, shared evenly by the batch sizes."""
    latency, skipped = [], []
    generator = np.random.default_rng(0)
    deadline = time.perf_counter() + request.max_time
    for position, batch in enumerate(batch_sizes):
        raw, normalised = synthetic_batch(source, batch, generator)
        calls: dict[str, tuple[Row, Callable[[], Any]]] = {}
        for row in rows:
            if row.opened is None or not row.timed:
                continue
            if fixed and row.backend.runs is not None and fixed != batch:
                skipped.append(
                    Skipped(
                        row.backend.name,
                        row.device,
                        f"batch {batch}: the file takes batch {fixed} only",
                    )
                )
                continue
            data = raw if row.backend.takes_raw(row.facts) else normalised
            calls[row.label] = (row, row.opened.timed(data))
        budget = max(0.0, (deadline - time.perf_counter()) / (len(batch_sizes) - position))
        timings = interleaved(
            {label: call for label, (_, call) in calls.items()},
            iterations=request.iterations,
            min_seconds=request.min_time,
            budget=budget,
            progress=(lambda label, done, b=batch: progress(f"batch {b}: {label}", done))
            if progress
            else None,
        )
        latency += [latency_row(row, batch, timings[label]) for label, (row, _) in calls.items()]
    against_eager(latency)
    return latency, skipped


def environment(
    threads: int, devices: tuple[str, ...], rows: list[Row], settings: dict[str, str]
) -> BenchEnvironment:
    """The machine, the runtimes' versions and the precision settings the figures depend on."""
    import onnxruntime

    versions = {"python": platform.python_version(), "torch": torch.__version__}
    versions["onnxruntime"] = onnxruntime.__version__
    if openvino_missing() is None:
        import openvino

        versions["openvino"] = openvino.__version__
    ran_at = dict(settings)
    for row in rows:
        found = row.opened.settings() if row.opened is not None else {}
        if found:
            ran_at[row.label] = ", ".join(f"{k} {v}" for k, v in found.items())
    cuda = [d for d in devices if d.startswith("cuda")]
    gpu = None
    if cuda:
        index = torch.device(cuda[0]).index or 0
        major, minor = torch.cuda.get_device_capability(index)
        gpu = CudaDevice(torch.cuda.get_device_name(index), f"{major}.{minor}")
    return BenchEnvironment(this_machine(), versions, threads, ran_at, gpu)


def bench(
    source: Source,
    files: BenchFiles,
    samples: Samples,
    request: BenchRequest,
    names: tuple[str, ...],
    explicit: bool = False,
    progress: Progress | None = None,
) -> BenchResult:
    """Parity, accuracy, then latency of every requested backend on every requested device."""
    start = time.perf_counter()
    devices = devices_for(request.device)
    threads = request.threads or torch.get_num_threads()
    samples = samples.fit(files.fixed_batch)
    result = BenchResult(source.name, source.origin, threads, samples.origin, len(samples))
    result.per_class = samples.per_class(tuple(source.card.classes))
    with runtimes.float32_torch(threads) as settings, torch.inference_mode():
        rows = open_rows(source, files, names, explicit, devices, threads)
        result.skipped = [
            Skipped(r.backend.name, r.device, r.skipped) for r in rows if r.skipped and r.timed
        ]
        result.parity, backends = measure_parity(
            rows, samples, source.card.output_kind, files.fixed_batch, progress
        )
        timed = {(r.backend.name, r.device) for r in rows if r.timed}
        result.backends = [b for b in backends if (b.backend, b.device) in timed]
        sizes = request.batch_sizes or ((files.fixed_batch,) if files.fixed_batch else (1, 32))
        result.latency, skipped = measure_latency(
            rows, sizes, files.fixed_batch, source, request, progress
        )
        result.skipped += skipped
        result.environment = environment(threads, devices, rows, settings)
    result.export_seconds = files.export_seconds
    result.wall_seconds = time.perf_counter() - start
    return result
