"""Accuracy, parity and latency of every available backend, side by side, in one process.

Backends: PyTorch eager, TorchScript, ExportedProgram, ONNX Runtime (float32, int8 and float16
files) and OpenVINO (the float32 ONNX file, when ``openvino`` is installed) on the CPU; eager,
TorchScript and ONNX Runtime's CUDA provider on a GPU. Parity is measured against eager on the same
device (ONNX Runtime with basic graph optimisation), top-1 accuracy on the same real test samples
when there are some. Latency: ONNX Runtime's full optimisation, every runtime on the same thread
count, backends interleaved slice by slice so that machine noise hits them alike, and a short
pause before each slice so that the previous backend's spin-waiting worker threads go idle
instead of taking cores from the next one. ``max_seconds`` bounds the wall time of all the timing.
On CUDA, a timed call takes a host batch and returns a host result (transfers included).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import platform
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import ZooError
from zoo.export import facts, runtimes
from zoo.export.metadata import ExportInfo
from zoo.export.pipeline import fit_batch
from zoo.export.predict import softmax
from zoo.export.source import Samples, Source
from zoo.export.verify import FP16, FP32, Tolerance, compare, top1_accuracy
from zoo.files import sha256_file

# backend -> the file it runs: (format, precision)
FILES = {
    "torchscript": ("torchscript", "fp32"),
    "exported-program": ("exported-program", "fp32"),
    "onnxruntime": ("onnx", "fp32"),
    "onnxruntime-int8": ("onnx", "int8"),
    "onnxruntime-fp16": ("onnx", "fp16"),
    "openvino": ("onnx", "fp32"),
}
BACKENDS = ("eager", *FILES)
DEFAULT_BACKENDS = ("eager", "torchscript", "exported-program", "onnxruntime", "openvino")
DEVICES = ("cpu", "cuda")
CUDA_BACKENDS = ("eager", "torchscript", "onnxruntime", "onnxruntime-fp16")
TOLERANCES = {"onnxruntime-fp16": FP16}
PARITY_CHUNK = 8  # small, so a slow model overshoots the parity budget by little
PARITY_SHARE = 0.5  # parity stops taking more samples after this share of max_seconds
WARMUP_CALLS, WARMUP_SECONDS = 3, 0.05  # up to 3 calls or 50 ms, at least one call
SLICE_SECONDS = 0.1  # each backend runs this long per round
MIN_TIMINGS = 1  # timed calls every backend gets, even past the wall-time budget
# the pause before each slice: the previous backend's spinning worker threads (ONNX Runtime's and
# OpenMP's spin-wait after a call) go idle instead of taking cores from the next one
SETTLE_SECONDS = 0.02
CallMaker = Callable[[np.ndarray], Callable[[], Any]]
Progress = Callable[[str, float], None]  # (what is being timed, fraction done)


@dataclass
class Backend:
    """One way to run the model: how to check its outputs, and how to time it."""

    name: str
    device: str
    file: Path | None = None
    skipped: str | None = None  # why it cannot run here
    parity_runner: runtimes.Runner | None = None
    make_call: CallMaker | None = None  # a batch -> the call that is timed
    fixed_batch: int | None = None
    file_facts: facts.FileFacts = field(default_factory=facts.FileFacts)
    timed: bool = True  # eager is opened for the parity reference even when not timed

    @property
    def label(self) -> str:
        return f"{self.name} ({self.device})"

    @property
    def takes_raw(self) -> bool:
        return self.name != "eager" and self.file_facts.input != facts.NORMALISED


@dataclass
class Latency:
    """Timings of one backend at one batch size."""

    backend: str
    device: str
    batch: int
    iterations: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    samples_per_s: float
    speedup_vs_eager: float | None = None


@dataclass
class Summary:
    """One backend's file, size and top-1 accuracy on the real test samples."""

    backend: str
    device: str
    file: str
    bytes: int | None
    top1: float | None  # None without labelled real samples
    samples: int


@dataclass
class BenchResult:
    """Everything one `zoo bench` run measured."""

    model: str
    source: str
    threads: int
    inputs: str
    parity: list[dict[str, Any]] = field(default_factory=list)
    latency: list[Latency] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    export_seconds: dict[str, float] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    summary: list[Summary] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(row["passed"] for row in self.parity)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["tolerance"] = {"atol": FP32.atol, "rtol": FP32.rtol, "rule": FP32.describe()}
        return data


def environment(threads: int) -> dict[str, str]:
    import onnxruntime

    versions = {"onnxruntime": onnxruntime.__version__}
    if openvino_missing() is None:
        import openvino

        versions["openvino"] = openvino.__version__
    return {
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        **versions,
        "threads": str(threads),
    }


def openvino_missing() -> str | None:
    """Why OpenVINO cannot run here, or None."""
    if importlib.util.find_spec("openvino") is None:
        return "openvino is not installed (pip install 'torch-zoo[openvino]')"
    return None


def prepare(
    source: Source,
    files: dict[tuple[str, str], tuple[Path, facts.FileFacts]],
    names: tuple[str, ...],
    devices: tuple[str, ...],
    threads: int,
    fixed_batch: int | None,
    extra_onnx: dict[str, Path],
) -> list[Backend]:
    """Open every requested backend on every requested device, or say why it is skipped; eager
    is opened on each device for the parity reference whether or not it is timed."""
    import onnxruntime as ort

    backends = []
    for device in devices:
        for name in ("eager", *[n for n in names if n != "eager"]):
            if device == "cuda" and name not in CUDA_BACKENDS:
                continue
            path, file_facts = files.get(FILES.get(name, ("", "")), (None, facts.FileFacts()))
            backend = Backend(
                name,
                device,
                path,
                fixed_batch=None if name == "eager" else fixed_batch,
                file_facts=file_facts,
                timed=name in names,
            )
            if device == "cuda" and not torch.cuda.is_available():
                backend.skipped = "no CUDA device (torch.cuda.is_available() is False)"
            elif name != "eager" and backend.file is None:
                fmt, precision = FILES[name]
                kind = fmt if precision == "fp32" else f"{precision} {fmt}"
                backend.skipped = f"no {kind} file to run"
            elif name.startswith("onnxruntime") and (
                runtimes.ORT_PROVIDERS[device] not in ort.get_available_providers()
            ):
                provider = runtimes.ORT_PROVIDERS[device]
                backend.skipped = (
                    f"onnxruntime {ort.__version__} has no {provider} (install onnxruntime-gpu)"
                )
            elif name == "openvino" and openvino_missing():
                backend.skipped = openvino_missing()
            else:
                open_backend(backend, source, threads)
            backends.append(backend)
        if device == "cpu":
            for label, path in extra_onnx.items():
                backend = Backend(label, "cpu", path, fixed_batch=fixed_batch)
                open_backend(backend, source, threads)
                backends.append(backend)
    return backends


def open_backend(backend: Backend, source: Source, threads: int) -> None:
    """Load the backend's file (or move the eager model) onto its device."""
    device = backend.device
    if backend.name == "eager":
        module = source.model if device == "cpu" else copy.deepcopy(source.model).to(device)
    elif backend.name in ("torchscript", "exported-program"):
        module = runtimes.load_module(FILES[backend.name][0], backend.file, device)
    elif backend.name == "openvino":
        backend.parity_runner, backend.make_call = runtimes.openvino_runner(backend.file, threads)
        return
    else:
        basic, full = (
            runtimes.onnx_session(backend.file, optimisation=level, threads=threads, device=device)
            for level in ("basic", "all")
        )
        backend.parity_runner, backend.make_call = runtimes.onnx_runner(basic), onnx_call(full)
        return
    backend.parity_runner, backend.make_call = (
        runtimes.torch_runner(module, device),
        torch_call(module, device),
    )


def expected_outputs(outputs: np.ndarray, backend: Backend, model_output: str) -> np.ndarray:
    """Eager's outputs as the backend's file returns them (probabilities if it ends in a softmax)."""
    if backend.file_facts.output != facts.PROBABILITIES:
        return outputs
    return np.exp(outputs) if model_output == "log_probs" else softmax(outputs)


def measure_parity(
    backends: list[Backend],
    samples: Samples,
    model_output: str,
    budget: float,
    progress: Progress | None = None,
) -> tuple[list[dict[str, Any]], list[Summary], int]:
    """Each backend against eager on the same device, on as many samples as fit in ``budget``
    seconds (whole chunks, of the files' batch size if it is fixed, at least one); top-1
    accuracy too when the samples are real and labelled."""
    opened = live(backends)
    fixed = next((b.fixed_batch for b in opened if b.fixed_batch), None)
    chunk = fixed or PARITY_CHUNK
    inputs = samples.inputs.numpy()
    raw = samples.raw
    outputs: dict[str, list[np.ndarray]] = {b.label: [] for b in opened}
    start, done = time.perf_counter(), 0
    while done < len(inputs) and not (fixed and len(inputs) - done < fixed):
        stop = min(done + chunk, len(inputs))
        for backend in opened:
            feed = raw if backend.takes_raw else inputs
            outputs[backend.label].append(backend.parity_runner(feed[done:stop]))
        done = stop
        if progress:
            progress("parity and accuracy", done / len(inputs))
        if time.perf_counter() - start > budget:
            break
    classification = model_output != "regression"
    labelled = classification and samples.real and samples.labels is not None
    rows, summaries = [], []
    for backend in opened:
        got = np.concatenate(outputs[backend.label]) if done else np.zeros((0, 1))
        top1 = top1_accuracy(got, samples.labels[:done]) if labelled and done else None
        size = backend.file.stat().st_size if backend.file else None
        summaries.append(
            Summary(
                backend.name,
                backend.device,
                backend.file.name if backend.file else "",
                size,
                top1,
                done,
            )
        )
        if backend.name == "eager":
            continue
        reference = np.concatenate(outputs[f"eager ({backend.device})"])
        rows.append(parity_row(backend, reference, got, model_output))
    return rows, summaries, done


def parity_row(
    backend: Backend, reference: np.ndarray, got: np.ndarray, model_output: str
) -> dict[str, Any]:
    """The parity of one backend. An int8 file has no elementwise bound: its accuracy gate was
    applied at export, on more samples than bench takes; here its outputs need only be finite,
    and its top-1 stands beside eager's (``--min-accuracy`` sets a floor)."""
    tolerance: Tolerance = TOLERANCES.get(backend.name, FP32)
    expected = expected_outputs(reference, backend, model_output)
    parity = compare(backend.name, expected, got, model_output != "regression", tolerance)
    row = {**asdict(parity), "device": backend.device}
    if backend.file_facts.precision == "int8":
        accuracy = backend.file_facts.accuracy
        gate = backend.file_facts.max_accuracy_drop
        checked = accuracy is not None and accuracy.top1 is not None and gate is not None
        row["tolerance_used"] = None
        row["tolerance"] = (
            f"int8: top-1 at most {gate:g} below float32 (in points) on {accuracy.samples} "
            "samples at export"
            if checked
            else "int8: accuracy not checked at export"
        )
        row["passed"] = bool(np.isfinite(got).all())
    return row


def measure_latency(
    backends: list[Backend],
    batch_sizes: tuple[int, ...],
    shape: tuple[int, ...],
    source: Source,
    *,
    iterations: int,
    min_seconds: float,
    max_seconds: float,
    progress: Progress | None = None,
) -> tuple[list[Latency], list[dict[str, str]]]:
    """p50/p90/p99 per backend and batch size, backends interleaved slice by slice; the wall time
    of it all is bounded by ``max_seconds``, shared evenly by the batch sizes."""
    rows, skipped = [], []
    generator = np.random.default_rng(0)
    deadline = time.perf_counter() + max_seconds
    for position, batch in enumerate(batch_sizes):
        pixels = len(shape) == 3
        raw = (
            generator.integers(0, 256, (batch, *shape), dtype=np.uint8)
            if pixels
            else generator.standard_normal((batch, *shape)).astype(np.float32)
        )
        normalised = source.card.preprocessing.normalise(raw) if pixels else raw
        runners = {}
        for backend in backends:
            if backend.skipped or not backend.timed:
                continue
            if backend.fixed_batch and backend.fixed_batch != batch:
                skipped.append(
                    {
                        "backend": backend.label,
                        "reason": f"batch {batch}: the file takes batch {backend.fixed_batch} only",
                    }
                )
                continue
            data = raw if backend.takes_raw and pixels else normalised
            runners[backend.label] = (backend, backend.make_call(data))
        now = time.perf_counter()
        budget = max(0.0, (deadline - now) / (len(batch_sizes) - position))
        times = interleaved(
            {label: call for label, (_, call) in runners.items()},
            iterations=iterations,
            min_seconds=min_seconds,
            budget=budget,
            progress=(lambda label, done, b=batch: progress(f"batch {b}: {label}", done))
            if progress
            else None,
        )
        eager_p50 = {}
        for label, (backend, _) in runners.items():
            ms = np.asarray(times[label]) * 1e3
            p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
            row = Latency(
                backend.name, backend.device, batch, len(ms), p50, p90, p99, batch * 1e3 / p50
            )
            if backend.name == "eager":
                eager_p50[backend.device] = p50
            rows.append(row)
        for row in rows:
            if row.batch == batch and row.device in eager_p50:
                row.speedup_vs_eager = eager_p50[row.device] / row.p50_ms
    return rows, skipped


def torch_call(module: Callable[[torch.Tensor], torch.Tensor], device: str) -> CallMaker:
    """Timed calls of a torch module: a ready tensor on the CPU; host in, host out on CUDA."""

    def make(data: np.ndarray) -> Callable[[], Any]:
        tensor = torch.from_numpy(data)
        if device == "cpu":
            return lambda: module(tensor)

        def host_to_host() -> Any:
            result = module(tensor.to(device)).cpu()
            torch.cuda.synchronize()
            return result

        return host_to_host

    return make


def onnx_call(session: Any) -> CallMaker:
    """Timed calls of an ONNX Runtime session (numpy in and out, whatever the provider)."""
    name = session.get_inputs()[0].name

    def make(data: np.ndarray) -> Callable[[], Any]:
        feed = {name: data}
        return lambda: session.run(None, feed)

    return make


def interleaved(
    calls: dict[str, Callable[[], Any]],
    *,
    iterations: int,
    min_seconds: float,
    budget: float,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, list[float]]:
    """Time every call in rounds: each backend in turn, after a settle pause, calls for a
    ``SLICE_SECONDS`` slice. Stops once every backend has ``iterations`` timings summing to
    ``min_seconds``, or when ``budget`` seconds of wall time are spent; past the budget only a
    backend with fewer than ``MIN_TIMINGS`` timings is still called (a slow one's overrun)."""
    start = time.perf_counter()
    deadline = start + budget
    for call in calls.values():  # warm-up: lazy initialisation, caches, thread pools
        warm_end = min(time.perf_counter() + WARMUP_SECONDS, deadline)
        for _ in range(WARMUP_CALLS):
            call()
            if time.perf_counter() > warm_end:
                break
    times: dict[str, list[float]] = {label: [] for label in calls}
    sums = dict.fromkeys(calls, 0.0)
    while True:
        for label, call in calls.items():
            record = times[label]
            if time.perf_counter() >= deadline and len(record) >= MIN_TIMINGS:
                continue
            time.sleep(SETTLE_SECONDS)
            slice_end = min(time.perf_counter() + SLICE_SECONDS, deadline)
            while True:
                begin = time.perf_counter()
                call()
                end = time.perf_counter()
                record.append(end - begin)
                sums[label] += end - begin
                if end >= slice_end and (end < deadline or len(record) >= MIN_TIMINGS):
                    break
            if progress:
                wanted = min(
                    min(len(t) / iterations, sums[k] / min_seconds if min_seconds else 1.0)
                    for k, t in times.items()
                )
                elapsed = (end - start) / budget if budget else 1.0
                progress(label, min(1.0, max(wanted, elapsed)))
        enough = all(len(times[k]) >= iterations and sums[k] >= min_seconds for k in calls)
        late = time.perf_counter() >= deadline
        if enough or (late and all(len(t) >= MIN_TIMINGS for t in times.values())):
            return times


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch on ``threads`` intra-op threads for the duration, TF32 off for fp32 parity on GPUs."""
    saved = (
        torch.get_num_threads(),
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    torch.set_num_threads(threads)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[1], saved[2]


def bench(
    source: Source,
    files: dict[tuple[str, str], tuple[Path, facts.FileFacts]],
    samples: Samples,
    *,
    backends: tuple[str, ...] = DEFAULT_BACKENDS,
    devices: tuple[str, ...] = ("cpu",),
    batch_sizes: tuple[int, ...] = (1, 32),
    threads: int | None = None,
    iterations: int = 20,
    min_seconds: float = 0.4,
    max_seconds: float = 6.0,
    fixed_batch: int | None = None,
    extra_onnx: dict[str, Path] | None = None,
    origin: str = "",
    progress: Progress | None = None,
) -> BenchResult:
    """Parity, accuracy, then latency of every requested backend on every requested device."""
    start = time.perf_counter()
    threads = threads or torch.get_num_threads()
    result = BenchResult(
        source.name, origin, threads, samples.origin, environment=environment(threads)
    )
    with torch_threads(threads), torch.inference_mode():
        opened = prepare(source, files, backends, devices, threads, fixed_batch, extra_onnx or {})
        result.skipped = [
            {"backend": b.label, "reason": b.skipped} for b in opened if b.skipped and b.timed
        ]
        samples = fit_batch(samples, fixed_batch)
        budget = PARITY_SHARE * max_seconds
        result.parity, result.summary, used = measure_parity(
            opened, samples, source.card.output_kind, budget, progress
        )
        if used < len(samples):
            result.inputs = f"{used} of {samples.origin} (all that fit in {budget:g} s)"
        result.summary = [s for s, b in zip(result.summary, live(opened), strict=True) if b.timed]
        result.latency, skipped = measure_latency(
            opened,
            batch_sizes,
            source.input_shape,
            source,
            iterations=iterations,
            min_seconds=min_seconds,
            max_seconds=max_seconds,
            progress=progress,
        )
        result.skipped += skipped
    result.wall_seconds = time.perf_counter() - start
    return result


def live(backends: list[Backend]) -> list[Backend]:
    return [b for b in backends if not b.skipped]


def float32_files(paths: dict[str, Path]) -> dict[tuple[str, str], tuple[Path, facts.FileFacts]]:
    """Plain float32 files taking normalised input, keyed as :func:`bench` takes them."""
    return {(fmt, "fp32"): (path, facts.FileFacts()) for fmt, path in paths.items()}


@dataclass(frozen=True)
class CalibrationData:
    """Where an int8 file's calibration inputs come from (the model's dataset when None)."""

    dataset: str | None = None
    dataset_args: dict[str, str] = field(default_factory=dict)
    data_dir: str | None = None


@dataclass
class BenchFiles:
    """The files a bench runs: by (format, precision), with the backends to run on them."""

    files: dict[tuple[str, str], tuple[Path, facts.FileFacts]]
    backends: tuple[str, ...]
    fixed_batch: int | None
    origin: str
    export_seconds: dict[str, float]


@contextlib.contextmanager
def files_to_bench(
    source: Source,
    samples: Samples,
    backends: tuple[str, ...] | None,
    opset: int | None,
    batch: int | None,
    calibration: CalibrationData,
) -> Iterator[BenchFiles]:
    """An export directory's own files (hashes checked), else a fresh export into a temporary
    directory that lasts as long as the ``with`` block; and the backends to run (by default
    eager and every file an export directory holds, or :data:`DEFAULT_BACKENDS`)."""
    from zoo.export import formats, pipeline
    from zoo.export.source import load_samples

    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as scratch:
        if source.export_dir is not None:
            manifest, directory = source.manifest, source.export_dir
            held = {(e["format"], facts.from_manifest(e).precision) for e in manifest["files"]}
            backends = backends or ("eager", *[b for b, key in FILES.items() if key in held])
        else:
            backends = backends or DEFAULT_BACKENDS
            wanted = {FILES[b] for b in backends if b in FILES}
            if not wanted:
                yield BenchFiles({}, backends, None, origin_of(source), {})
                return
            int8 = ("onnx", "int8") in wanted
            calibrated = None
            if int8:
                calibrated = load_samples(
                    source,
                    pipeline.CALIBRATION_SAMPLES,
                    dataset=calibration.dataset,
                    dataset_args=calibration.dataset_args,
                    data_dir=calibration.data_dir,
                    train=True,
                )
            directory = Path(scratch)
            manifest = pipeline.export(
                source,
                directory,
                samples.spread(16),
                formats_wanted=tuple(f for f in formats.FORMATS if f in {f for f, _ in wanted}),
                opset=opset,
                batch=batch,
                options=pipeline.Options(int8=int8, fp16=("onnx", "fp16") in wanted),
                test=samples if int8 else None,  # bench measures every backend's top-1 itself
                calibration=calibrated,
            )
        yield collect_files(manifest, directory, backends, source)


def collect_files(
    manifest: dict[str, Any], directory: Path, backends: tuple[str, ...], source: Source
) -> BenchFiles:
    """The manifest's files that ``backends`` run, each checked against its sha256."""
    wanted = {FILES[b] for b in backends if b in FILES}
    files = {}
    for entry in manifest["files"]:
        file_facts = facts.from_manifest(entry)
        key = (entry["format"], file_facts.precision)
        path = directory / entry["path"]
        if key in wanted:
            if not path.is_file() or sha256_file(path) != entry["sha256"]:
                raise ZooError(
                    f"{path} is missing or differs from its manifest (sha256): export again"
                )
            files[key] = (path, file_facts)
    seconds = {
        f"{entry['format']} {facts.from_manifest(entry).precision}": entry["export_seconds"]
        for entry in manifest["files"]
    }
    fixed = ExportInfo.from_json(manifest["export"]).fixed_batch
    return BenchFiles(files, backends, fixed, origin_of(source), seconds)


def origin_of(source: Source) -> str:
    """Where the weights come from, for the report."""
    weights = "fresh weights" if source.weights is None else f"weights {source.weights}"
    return weights if source.export_dir is None else f"export {source.export_dir}, {weights}"
