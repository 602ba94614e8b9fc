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
