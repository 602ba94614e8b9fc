"""Parity and latency of every available backend, side by side, in one process.

Backends: PyTorch eager, TorchScript, ExportedProgram and ONNX Runtime on the CPU; eager,
TorchScript and ONNX Runtime's CUDA provider on a GPU. Parity is measured against eager on the
same device (ONNX Runtime with basic graph optimisation); latency with ONNX Runtime's full
optimisation, torch and ONNX Runtime on the same thread count, backends interleaved round by round
so that machine noise hits them alike. On CUDA, a timed call takes a host batch and returns a host
result (transfers included, synchronised).
"""

from __future__ import annotations

import contextlib
import copy
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.export import runtimes
from zoo.export.source import Samples, Source
from zoo.export.verify import ATOL, RTOL, compare

BACKENDS = ("eager", "torchscript", "exported-program", "onnxruntime")
DEVICES = ("cpu", "cuda")
CUDA_BACKENDS = ("eager", "torchscript", "onnxruntime")
FILE_FORMAT = {
    "torchscript": "torchscript",
    "exported-program": "exported-program",
    "onnxruntime": "onnx",
}
PARITY_CHUNK = 256
WARMUP_CALLS, WARMUP_SECONDS = 5, 0.1
ROUND_SECONDS = 0.05
# a pause before each round: the previous backend's spinning worker threads (ONNX Runtime's and
# OpenMP's spin-wait after a call) go idle instead of taking cores from the next one
SETTLE_SECONDS = 0.02
CallMaker = Callable[[np.ndarray], Callable[[], Any]]


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

    @property
    def label(self) -> str:
        return f"{self.name} ({self.device})"


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

    @property
    def passed(self) -> bool:
        return all(row["passed"] for row in self.parity)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["passed"] = self.passed
        data["tolerance"] = {"atol": ATOL, "rtol": RTOL}
        return data


def environment(threads: int) -> dict[str, str]:
    import onnxruntime

    return {
        "machine": f"{platform.machine()}, {platform.processor() or platform.system()}",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "threads": str(threads),
    }


def prepare(
    source: Source,
    files: dict[str, Path],
    names: tuple[str, ...],
    devices: tuple[str, ...],
    threads: int,
    fixed_batch: int | None,
    extra_onnx: dict[str, Path],
) -> list[Backend]:
    """Open every requested backend on every requested device, or say why it is skipped."""
    import onnxruntime as ort

    backends = []
    for device in devices:
        for name in names:
            if device == "cuda" and name not in CUDA_BACKENDS:
                continue
            backend = Backend(
                name,
                device,
                files.get(FILE_FORMAT.get(name, "")),
                fixed_batch=None if name == "eager" else fixed_batch,
            )
            if device == "cuda" and not torch.cuda.is_available():
                backend.skipped = "no CUDA device (torch.cuda.is_available() is False)"
            elif name != "eager" and backend.file is None:
                backend.skipped = f"no {FILE_FORMAT[name]} file to run"
            elif (
                name == "onnxruntime"
                and runtimes.ORT_PROVIDERS[device] not in ort.get_available_providers()
            ):
                provider = runtimes.ORT_PROVIDERS[device]
                backend.skipped = (
                    f"onnxruntime {ort.__version__} has no {provider} (install onnxruntime-gpu)"
                )
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
        module = runtimes.load_module(FILE_FORMAT[backend.name], backend.file, device)
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


def measure_parity(
    backends: list[Backend], samples: Samples, classification: bool
) -> list[dict[str, Any]]:
    """Each backend against eager on the same device, over all samples."""
    inputs = samples.inputs.numpy()
    rows, references = [], {}
    for backend in backends:
        if backend.skipped:
            continue
        chunk = backend.fixed_batch or PARITY_CHUNK
        usable = inputs[: len(inputs) // chunk * chunk] if backend.fixed_batch else inputs
        if backend.name == "eager":
            references[backend.device] = runtimes.run_in_chunks(
                backend.parity_runner, inputs, PARITY_CHUNK
            )
            continue
        outputs = runtimes.run_in_chunks(backend.parity_runner, usable, chunk)
        parity = compare(
            backend.name, references[backend.device][: len(usable)], outputs, classification
        )
        rows.append({**asdict(parity), "device": backend.device})
    return rows


def measure_latency(
    backends: list[Backend],
    batch_sizes: tuple[int, ...],
    shape: tuple[int, ...],
    *,
    iterations: int,
    min_seconds: float,
    max_seconds: float,
) -> tuple[list[Latency], list[dict[str, str]]]:
    """p50/p90/p99 per backend and batch size, backends interleaved round by round."""
    rows, skipped = [], []
    generator = np.random.default_rng(0)
    for batch in batch_sizes:
        data = generator.standard_normal((batch, *shape)).astype(np.float32)
        runners = {}
        for backend in backends:
            if backend.skipped:
                continue
            if backend.fixed_batch and backend.fixed_batch != batch:
                skipped.append(
                    {
                        "backend": backend.label,
                        "reason": f"batch {batch}: the file takes batch {backend.fixed_batch} only",
                    }
                )
                continue
            runners[backend.label] = (backend, backend.make_call(data))
        times = interleaved(
            {label: call for label, (_, call) in runners.items()},
            iterations,
            min_seconds,
            max_seconds,
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
    calls: dict[str, Callable[[], Any]], iterations: int, min_seconds: float, max_seconds: float
) -> dict[str, list[float]]:
    """Time every call: warm up, then rounds of ~50 ms per backend until each has ``iterations``
    timings and ``min_seconds`` of them (or ``max_seconds``, with at least 5)."""
    rounds = {}
    for label, call in calls.items():
        start, count = time.perf_counter(), 0
        while count < WARMUP_CALLS or time.perf_counter() - start < WARMUP_SECONDS:
            call()
            count += 1
        per_call = (time.perf_counter() - start) / count
        rounds[label] = max(1, min(iterations, int(ROUND_SECONDS / max(per_call, 1e-9))))
    times: dict[str, list[float]] = {label: [] for label in calls}
    while True:
        for label, call in calls.items():
            record = times[label]
            time.sleep(SETTLE_SECONDS)
            for _ in range(rounds[label]):
                start = time.perf_counter()
                call()
                record.append(time.perf_counter() - start)
        enough = all(len(t) >= iterations and sum(t) >= min_seconds for t in times.values())
        capped = all(sum(t) >= max_seconds and len(t) >= 5 for t in times.values())
        if enough or capped:
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
    files: dict[str, Path],
    samples: Samples,
    *,
    backends: tuple[str, ...] = BACKENDS,
    devices: tuple[str, ...] = ("cpu",),
    batch_sizes: tuple[int, ...] = (1, 32),
    threads: int | None = None,
    iterations: int = 50,
    min_seconds: float = 1.0,
    max_seconds: float = 10.0,
    fixed_batch: int | None = None,
    extra_onnx: dict[str, Path] | None = None,
    origin: str = "",
) -> BenchResult:
    """Parity then latency of every requested backend on every requested device."""
    threads = threads or torch.get_num_threads()
    result = BenchResult(
        source.name, origin, threads, samples.origin, environment=environment(threads)
    )
    with torch_threads(threads), torch.inference_mode():
        opened = prepare(source, files, backends, devices, threads, fixed_batch, extra_onnx or {})
        result.skipped = [{"backend": b.label, "reason": b.skipped} for b in opened if b.skipped]
        result.parity = measure_parity(opened, samples, not source.card.regression)
        result.latency, skipped = measure_latency(
            opened,
            batch_sizes,
            source.input_shape,
            iterations=iterations,
            min_seconds=min_seconds,
            max_seconds=max_seconds,
        )
        result.skipped += skipped
    return result
