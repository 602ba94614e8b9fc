"""Opening exported files (and the eager model) as callables on numpy batches, on CPU or CUDA, at
the precision asked for: one helper per runtime, shared by verification and bench."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.deployed import openvino_core

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


# torch's switches for float32 shortcuts (torch >= 2.9), parents before their operations: each is
# set, since on some versions setting a parent (torch.backends.cudnn.fp32_precision, "all" of
# CUDA) leaves its operations as they were, and cuDNN convolutions and RNNs default to "tf32"
FP32_SWITCHES = {
    "all backends": (),
    "CUDA, all operations": ("cudnn",),
    "oneDNN, all operations": ("mkldnn",),
    "CUDA matmul": ("cuda", "matmul"),
    "cuDNN convolutions": ("cudnn", "conv"),
    "cuDNN RNNs": ("cudnn", "rnn"),
    "oneDNN matmul": ("mkldnn", "matmul"),
    "oneDNN convolutions": ("mkldnn", "conv"),
    "oneDNN RNNs": ("mkldnn", "rnn"),
}
# the switches of older torch (and the ones other code may still read): TF32 on or off
LEGACY_TF32 = {"CUDA matmul allow_tf32": ("cuda", "matmul"), "cuDNN allow_tf32": ("cudnn",)}


def _switch(path: tuple[str, ...]) -> Any:
    """The object under ``torch.backends`` at ``path``, None where this torch has none."""
    node: Any = torch.backends
    for name in path:
        node = getattr(node, name, None)
        if node is None:
            return None
    return node


def _fp32_switches() -> dict[str, Any]:
    """The per-operation float32 switches this torch has."""
    found = {label: _switch(path) for label, path in FP32_SWITCHES.items()}
    return {label: node for label, node in found.items() if hasattr(node, "fp32_precision")}


def float32_settings() -> dict[str, str]:
    """The float32 settings in force, read back from torch: what a float32 figure depends on."""
    settings = {"torch float32 matmul precision": torch.get_float32_matmul_precision()}
    for label, node in _fp32_switches().items():
        settings[label] = node.fp32_precision
    for label, path in LEGACY_TF32.items():
        try:
            settings[label] = str(_switch(path).allow_tf32)
        except RuntimeError:  # torch refuses to answer for a mix of old and new switches
            settings[label] = "unreadable: old and new TF32 switches disagree"
    return settings


@contextlib.contextmanager
def float32_torch(threads: int | None = None) -> Iterator[dict[str, str]]:
    """PyTorch in true float32 for the duration, on ``threads`` intra-op threads: no TF32 on
    CUDA (cuDNN convolutions use it by default), no bf16 or TF32 inside oneDNN on the CPU, the
    highest matmul precision. Yields the settings as read back, for the record.

    TF32 is switched off through the old switches first (``allow_tf32``, which reset the new
    ones) and then every operation's new switch is set to ``ieee``: both agree, so code reading
    either (``torch.backends.cudnn.flags()`` reads the old one) gets an answer."""
    backends = torch.backends
    switches = _fp32_switches()
    saved_threads, saved_matmul = torch.get_num_threads(), torch.get_float32_matmul_precision()
    saved_legacy = (_legacy_tf32(("cuda", "matmul")), _legacy_tf32(("cudnn",)))
    saved = {label: node.fp32_precision for label, node in switches.items()}
    if threads:
        torch.set_num_threads(threads)
    torch.set_float32_matmul_precision("highest")
    backends.cuda.matmul.allow_tf32 = False
    backends.cudnn.allow_tf32 = False
    for node in switches.values():
        node.fp32_precision = "ieee"
    try:
        yield float32_settings()
    finally:
        torch.set_num_threads(saved_threads)  # then each switch in the order it was set
        torch.set_float32_matmul_precision(saved_matmul)
        backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32 = saved_legacy
        for label, node in switches.items():
            node.fp32_precision = saved[label]


def _legacy_tf32(path: tuple[str, ...]) -> bool:
    """An old TF32 switch (CUDA matmul, cuDNN); where torch refuses to read it (old and new
    switches were mixed), what the new switch of its main operation says."""
    try:
        return bool(_switch(path).allow_tf32)
    except RuntimeError:
        new = _switch((*path, "conv") if path == ("cudnn",) else path)
        return getattr(new, "fp32_precision", "none") == "tf32"


def ort_providers(device: str) -> list[Any]:
    """ONNX Runtime's provider for ``device`` (cpu, cuda, cuda:N), with its options: the CUDA
    provider on GPU N, its TF32 switch off (ONNX Runtime turns TF32 on by default on GPUs that
    have it, which a float32 row must not use)."""
    kind, _, index = device.partition(":")
    if kind == "cuda":
        return [(ORT_PROVIDERS["cuda"], {"device_id": int(index or 0), "use_tf32": 0})]
    return [ORT_PROVIDERS[kind]]


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
    return ort.InferenceSession(str(path), options, providers=ort_providers(device))


def session_settings(session: Any) -> dict[str, str]:
    """The providers a session runs on and, for the CUDA provider, its device and TF32 switch as
    the session reports them."""
    settings = {"providers": ", ".join(session.get_providers())}
    cuda = session.get_provider_options().get(ORT_PROVIDERS["cuda"])
    if cuda is not None:
        settings["CUDA device_id"] = str(cuda.get("device_id"))
        settings["CUDA use_tf32"] = str(cuda.get("use_tf32", "unknown"))
    return settings


def onnx_runner(session: Any) -> Runner:
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})[0]


def load_torchscript(path: Path, device: str = "cpu") -> Callable[[torch.Tensor], torch.Tensor]:
    with quiet_jit_deprecation():
        return torch.jit.load(str(path), map_location=device).eval()


def load_exported_program(
    path: Path, device: str = "cpu"
) -> Callable[[torch.Tensor], torch.Tensor]:
    """An ExportedProgram file as a module on ``device``. Moved by torch's own pass: the module's
    ``.to(device)`` would leave lifted constants (a TTA graph's view weights) on the CPU."""
    program = torch.export.load(str(path))
    if device != "cpu":
        from torch.export.passes import move_to_device_pass

        program = move_to_device_pass(program, device)
    return program.module()


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


def openvino_compile(path: Path, shape: tuple[int, ...], threads: int, precision: str) -> Any:
    """The ONNX file or IR compiled by OpenVINO for the CPU at one input shape (static shapes
    run fastest), at ``precision`` (fp32 or bf16) whatever the CPU's default, for latency, on
    ``threads`` (0: OpenVINO's choice)."""
    core = openvino_core()
    model = core.read_model(str(path))
    model.reshape({0: list(shape)})
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": OPENVINO_PRECISIONS[precision],
    }
    return core.compile_model(model, "CPU", config)


def openvino_runner(
    path: Path, threads: int, precision: str = "fp32"
) -> tuple[Runner, Callable[[np.ndarray], Any], Callable[[], str]]:
    """OpenVINO on the CPU running an ONNX file or an IR: a numpy runner for parity, a maker of timed
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


def torch_predictor(path: Path, threads: int) -> Runner:
    """A PyTorch file ``zoo optimize`` chose, for ``zoo predict``, at the chosen threads."""
    module = load_exported_program(path)
    torch.set_num_threads(threads)
    return torch_runner(module)
