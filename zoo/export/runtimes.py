"""Opening exported files (and the eager model) as callables on numpy batches, on CPU or CUDA, at
the precision asked for: one helper per runtime, shared by verification and bench."""

from __future__ import annotations

import contextlib
import functools
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

Runner = Callable[[np.ndarray], np.ndarray]
ORT_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
JIT_DEPRECATION = r"`torch\.jit\.\w+` is deprecated"
# OpenVINO's CPU plugin computes in bfloat16 by default where the CPU has native bf16
# (AVX512_BF16, AMX): a float32 row must ask for float32, or its parity fails on those CPUs
OPENVINO_PRECISIONS = {"fp32": "f32", "bf16": "bf16"}


@contextlib.contextmanager
def quiet_jit_deprecation() -> Iterator[None]:
    """Silence only PyTorch's "torch.jit.* is deprecated" FutureWarning (zoo notes it once)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=JIT_DEPRECATION, category=FutureWarning)
        yield


@contextlib.contextmanager
def float32_torch(threads: int | None = None) -> Iterator[dict[str, str]]:
    """PyTorch in true float32 for the duration, on ``threads`` intra-op threads: no TF32 on
    CUDA (cuDNN convolutions use it by default), no bf16 or TF32 inside oneDNN on the CPU, the
    highest matmul precision. Yields the settings, for the record."""
    backends = torch.backends
    saved = (
        torch.get_num_threads(),
        torch.get_float32_matmul_precision(),
        backends.mkldnn.fp32_precision,
        backends.cuda.matmul.fp32_precision,
        backends.cudnn.fp32_precision,
    )
    if threads:
        torch.set_num_threads(threads)
    torch.set_float32_matmul_precision("highest")
    backends.mkldnn.fp32_precision = "ieee"
    backends.cuda.matmul.fp32_precision = "ieee"
    backends.cudnn.fp32_precision = "ieee"
    try:
        yield {
            "torch float32 matmul precision": torch.get_float32_matmul_precision(),
            "oneDNN float32 precision": backends.mkldnn.fp32_precision,
            "CUDA matmul and cuDNN float32 precision": backends.cudnn.fp32_precision,
        }
    finally:
        torch.set_num_threads(saved[0])
        torch.set_float32_matmul_precision(saved[1])
        backends.mkldnn.fp32_precision = saved[2]
        backends.cuda.matmul.fp32_precision = saved[3]
        backends.cudnn.fp32_precision = saved[4]


def onnx_session(
    path: Path, *, optimisation: str = "all", threads: int | None = None, device: str = "cpu"
) -> Any:
    """An ONNX Runtime session: ``basic`` graph optimisation for parity, ``all`` for latency."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimisation]
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=[ORT_PROVIDERS[device]])


def onnx_runner(session: Any) -> Runner:
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def load_torchscript(path: Path, device: str = "cpu") -> Callable[[torch.Tensor], torch.Tensor]:
    with quiet_jit_deprecation():
        return torch.jit.load(str(path), map_location=device).eval()


def load_exported_program(
    path: Path, device: str = "cpu"
) -> Callable[[torch.Tensor], torch.Tensor]:
    module = torch.export.load(str(path)).module()
    return module.to(device) if device != "cpu" else module


def torch_runner(
    module: Callable[[torch.Tensor], torch.Tensor],
    device: str = "cpu",
    autocast: torch.dtype | None = None,
) -> Runner:
    """numpy in, numpy out (float32), through a torch module on ``device`` (inference mode),
    under autocast to ``autocast`` when given."""

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), autocast_to(device, autocast):
            return module(torch.from_numpy(batch).to(device)).float().cpu().numpy()

    return run


def autocast_to(device: str, dtype: torch.dtype | None) -> contextlib.AbstractContextManager[Any]:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=dtype)


def run_in_chunks(runner: Runner, inputs: np.ndarray, chunk: int) -> np.ndarray:
    """Outputs for ``inputs`` computed ``chunk`` at a time (exactly ``chunk`` for a fixed batch)."""
    return np.concatenate(
        [runner(inputs[start : start + chunk]) for start in range(0, len(inputs), chunk)]
    )


@functools.cache
def openvino_core() -> Any:
    """One OpenVINO Core per process: each holds its plugins and their thread pools, which a
    Core per compiled model would multiply until the process runs out of threads."""
    import openvino as ov

    return ov.Core()


def openvino_compile(path: Path, shape: tuple[int, ...], threads: int, precision: str) -> Any:
    """The ONNX file compiled by OpenVINO for the CPU at one input shape (static shapes run
    fastest), at ``precision`` (fp32 or bf16) whatever the CPU's default, for latency."""
    core = openvino_core()
    model = core.read_model(str(path))
    model.reshape({model.inputs[0].get_any_name(): list(shape)})
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[precision],
    }
    return core.compile_model(model, "CPU", config)


def openvino_runner(
    path: Path, threads: int, precision: str = "fp32"
) -> tuple[Runner, Callable[[np.ndarray], Any], Callable[[], str]]:
    """OpenVINO on the CPU running an ONNX file: a numpy runner for parity, a maker of timed
    calls, and what precision its compiled models really run at. Each input shape gets the model
    compiled once (:func:`openvino_compile`)."""
    compiled: dict[tuple[int, ...], Any] = {}
    requests: dict[tuple[int, ...], Any] = {}

    def request(shape: tuple[int, ...]) -> Any:
        if shape not in requests:
            compiled[shape] = openvino_compile(path, shape, threads, precision)
            requests[shape] = compiled[shape].create_infer_request()
        return requests[shape]

    def run(batch: np.ndarray) -> np.ndarray:
        infer = request(batch.shape)
        infer.infer({0: batch})
        return np.array(infer.get_output_tensor(0).data)

    def make(batch: np.ndarray) -> Callable[[], Any]:
        infer = request(batch.shape)
        feed = {0: batch}
        return lambda: infer.infer(feed)

    def effective() -> str:
        hints = {
            model.get_property("INFERENCE_PRECISION_HINT").to_string()
            for model in compiled.values()
        }
        return ", ".join(sorted(hints)) or "not compiled"

    return run, make, effective
