"""Open exported files (and the eager model) as callables on numpy batches, on CPU or CUDA."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

Runner = Callable[[np.ndarray], np.ndarray]
ORT_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
JIT_DEPRECATION = r"`torch\.jit\.\w+` is deprecated"


@contextlib.contextmanager
def quiet_jit_deprecation() -> Iterator[None]:
    """Silence only PyTorch's "torch.jit.* is deprecated" FutureWarning (zoo notes it once)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=JIT_DEPRECATION, category=FutureWarning)
        yield


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


def load_module(
    fmt: str, path: Path, device: str = "cpu"
) -> Callable[[torch.Tensor], torch.Tensor]:
    """A TorchScript or ExportedProgram file as a callable module on ``device``."""
    if fmt == "torchscript":
        with quiet_jit_deprecation():
            return torch.jit.load(str(path), map_location=device).eval()
    module = torch.export.load(str(path)).module()
    return module.to(device) if device != "cpu" else module


def torch_runner(module: Callable[[torch.Tensor], torch.Tensor], device: str = "cpu") -> Runner:
    """numpy in, numpy out, through a torch module on ``device`` (inference mode)."""

    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(batch).to(device)).cpu().numpy()

    return run


def run_in_chunks(runner: Runner, inputs: np.ndarray, chunk: int) -> np.ndarray:
    """Outputs for ``inputs`` computed ``chunk`` at a time (exactly ``chunk`` for a fixed batch)."""
    return np.concatenate(
        [runner(inputs[start : start + chunk]) for start in range(0, len(inputs), chunk)]
    )


# OpenVINO's CPU plugin computes in bfloat16 by default where the CPU has native bf16
# (AVX512_BF16, AMX): a float32 row must ask for float32, or its parity fails on those CPUs
OPENVINO_PRECISIONS = {"fp32": "f32", "bf16": "bf16"}


def openvino_compile(path: Path, shape: tuple[int, ...], threads: int, precision: str) -> Any:
    """The ONNX file compiled by OpenVINO for the CPU at one input shape (static shapes run
    fastest), at ``precision`` (fp32 or bf16) whatever the CPU's default, for latency."""
    import openvino as ov

    core = ov.Core()
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
) -> tuple[Runner, Callable[[np.ndarray], Any]]:
    """OpenVINO on the CPU running an ONNX file: a numpy runner for parity, and a maker of timed
    calls. Each input shape gets the model compiled once (:func:`openvino_compile`)."""
    compiled: dict[tuple[int, ...], Any] = {}

    def request(shape: tuple[int, ...]) -> Any:
        if shape not in compiled:
            model = openvino_compile(path, shape, threads, precision)
            compiled[shape] = model.create_infer_request()
        return compiled[shape]

    def run(batch: np.ndarray) -> np.ndarray:
        infer = request(batch.shape)
        infer.infer({0: batch})
        return np.array(infer.get_output_tensor(0).data)

    def make(batch: np.ndarray) -> Callable[[], Any]:
        infer = request(batch.shape)
        feed = {0: batch}
        return lambda: infer.infer(feed)

    return run, make
