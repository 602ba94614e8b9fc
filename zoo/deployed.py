"""An exported file as a deployment runs it, torch-free: :func:`chosen`, the file of an export
directory that runs (the one ``zoo optimize`` chose, with its runtime, threads and settings, else
the float32 ONNX file), checked against the manifest; :func:`open_runtime`, a file opened with
ONNX Runtime or OpenVINO as one :class:`Runtime` (its tensors as the Open Inference Protocol
names them, its metadata, one run of a batch, a fixed batch padded up and cut back). ``zoo
predict`` and ``zoo serve`` run files through here; verification and bench open files on the torch
side (:mod:`zoo.export.runtimes`, :mod:`zoo.export.backends`), with settings chosen for parity and
for timing rather than for deployment.

One run at a time per runtime (the server calls :meth:`Runtime.run` from one thread): the
runtime's own thread pool does the parallel work.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.artifacts.decision import RunWith
from zoo.artifacts.manifest import IR_PROPS_KEY, Manifest, ManifestFile
from zoo.errors import ZooError, first_line

# the protocol's datatypes (Triton's names without TYPE_) and numpy's
NUMPY_TYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}
ONNX_TYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
}
OPENVINO_TYPES = {
    "boolean": "BOOL",
    "u8": "UINT8",
    "u16": "UINT16",
    "u32": "UINT32",
    "u64": "UINT64",
    "i8": "INT8",
    "i16": "INT16",
    "i32": "INT32",
    "i64": "INT64",
    "f16": "FP16",
    "f32": "FP32",
    "f64": "FP64",
}
PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "openvino": "openvino"}
TITLES = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}


@dataclass(frozen=True)
class Chosen:
    """The file of an export directory that runs: its manifest entry, its checked path, and how
    ``zoo optimize`` said to run it (None: no decision, or another file was named)."""

    entry: ManifestFile
    path: Path
    run: RunWith | None


def chosen(directory: Path, manifest: Manifest, file: str | None = None, named: str = "") -> Chosen:
    """``file`` of the export (a name its manifest lists), else the file ``zoo optimize`` chose,
    else the float32 ONNX file; refused when it is not listed, missing or changed (sha256, its
    companions too). ``named``: what the user named, for that line (default: the directory;
    serve names an ``hf://`` release, not the folder it was downloaded to)."""
    decision = manifest.decision if file is None else None
    wanted = file or (decision.run.file if decision is not None else None)
    if wanted is None:
        entry = manifest.file("onnx")
    else:
        entry = next((e for e in manifest.files if e.path == wanted), None)
    if entry is None:
        missing = f"does not list {wanted}" if wanted else "holds no float32 ONNX file"
        raise ZooError(f"'{named or directory}' {missing}: export it again (with --onnx)")
    run = decision.run if decision is not None else None
    return Chosen(entry, manifest.checked_path(directory, entry), run)


@dataclass(frozen=True)
class Tensor:
    """One input or output as the protocol describes it: the batch dimension (and any other the
    file leaves open) is -1."""

    name: str
    datatype: str  # FP32, UINT8, ...
    shape: tuple[int, ...]

    @property
    def dtype(self) -> Any:
        return np.dtype(NUMPY_TYPES[self.datatype])

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


def tensor(name: str, datatype: str | None, dims: Sequence[Any]) -> Tensor:
    """A tensor from a runtime's description (named or unknown dimensions become -1)."""
    if datatype is None:
        raise ZooError(f"tensor '{name}' has a datatype zoo serve cannot send")
    shape = tuple(d if isinstance(d, int) and d > 0 else -1 for d in dims)
    return Tensor(name, datatype, (-1, *shape[1:]) if shape else shape)


@dataclass
class Runtime:
    """An opened file: its tensors, the batch it was exported with (None: any), how it runs."""

    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    fixed_batch: int | None
    description: str  # "onnxruntime 1.22.0, 2 threads"
    platform: str  # Triton's name for it: onnxruntime_onnx, openvino
    call: Callable[[dict[str, np.ndarray]], list[np.ndarray]]
    props: dict[str, str]  # the metadata zoo wrote into the file (its card, its facts)

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Outputs for a batch, padded to the file's fixed batch size when it has one."""
        rows = len(next(iter(feeds.values())))
        size = self.fixed_batch
        if size is None or rows == size:
            return self.call(feeds)
        outputs: list[list[np.ndarray]] = [[] for _ in self.outputs]
        for start in range(0, rows, size):
            chunk = {
                name: padded(array[start : start + size], size) for name, array in feeds.items()
            }
            for kept, result in zip(outputs, self.call(chunk), strict=True):
                kept.append(result[: min(size, rows - start)])
        return [np.concatenate(parts) for parts in outputs]

    def warm_up(self, max_batch: int) -> None:
        """Run zeros at batch 1 and at the largest batch, so that the first requests do not pay
        for the runtime's first allocations."""
        for rows in sorted({1, max_batch}):
            self.run({t.name: np.zeros((rows, *t.shape[1:]), t.dtype) for t in self.inputs})


def padded(chunk: np.ndarray, size: int) -> np.ndarray:
    missing = size - len(chunk)
    if missing == 0:
        return chunk
    return np.concatenate([chunk, np.zeros((missing, *chunk.shape[1:]), chunk.dtype)])


def threads_text(threads: int | None) -> str:
    if not threads:
        return "a thread per core"
    return f"{threads} thread" + ("" if threads == 1 else "s")


def open_runtime(
    path: Path,
    runtime: str,
    threads: int | None,
    settings: Mapping[str, str] | None = None,
    spin: bool = False,
) -> Runtime:
    """``path`` opened with ``runtime`` (onnxruntime or openvino) on ``threads`` threads, with
    the runtime ``settings`` ``zoo optimize`` recorded, if any. ``spin``: whether ONNX Runtime's
    idle threads spin between runs (its default): ``zoo predict`` keeps it, the process doing
    nothing else while its batch runs; ``zoo serve`` does not, the event loop answering the
    requests needing the same cores between runs (and the machine may be shared)."""
    if not path.is_file():
        raise ZooError(f"no {'ONNX' if path.suffix == '.onnx' else runtime} file '{path}'")
    try:
        return OPENERS[runtime](path, threads, dict(settings or {}), spin)
    except ImportError as exc:
        raise ZooError(f"{runtime} is not installed ({first_line(exc)})") from None
    except ZooError:
        raise
    except Exception as exc:  # each runtime raises its own types for files it cannot load
        raise ZooError(f"{TITLES[runtime]} cannot load '{path}': {first_line(exc)}") from None


ORT_LEVELS = {
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def open_onnxruntime(
    path: Path, threads: int | None, settings: dict[str, str], spin: bool
) -> Runtime:
    """ONNX Runtime on the CPU: all graph optimisations, sequential (as ``zoo optimize``
    measures it), or a decision's settings."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    level = ORT_LEVELS.get(settings.get("graph optimisation", "all"), "ORT_ENABLE_ALL")
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    if settings.get("execution mode") == "parallel":
        options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    inputs = tuple(tensor(i.name, ONNX_TYPES.get(i.type), i.shape) for i in session.get_inputs())
    outputs = tuple(tensor(o.name, ONNX_TYPES.get(o.type), o.shape) for o in session.get_outputs())
    batch = session.get_inputs()[0].shape[0]
    names = [o.name for o in outputs]
    count = threads_text(threads)
    return Runtime(
        inputs,
        outputs,
        batch if isinstance(batch, int) and batch > 0 else None,
        f"onnxruntime {ort.__version__}, {count}",
        PLATFORMS["onnxruntime"],
        lambda feeds: session.run(names, feeds),
        dict(session.get_modelmeta().custom_metadata_map),
    )


@functools.cache
def openvino_core() -> Any:
    """One OpenVINO Core per process: each holds its plugins and their thread pools, which a
    Core per compiled model would multiply until the process runs out of threads."""
    import openvino as ov

    return ov.Core()


def openvino_props(model: Any) -> dict[str, str]:
    """zoo's metadata in a model OpenVINO read: an IR's (JSON in its runtime info), or an ONNX
    file's metadata (OpenVINO's reader puts it under "framework")."""
    if model.has_rt_info(list(IR_PROPS_KEY)):
        return json.loads(model.get_rt_info(list(IR_PROPS_KEY)).astype(str))
    if model.has_rt_info(["framework"]):
        return {k: v.astype(str) for k, v in model.get_rt_info()["framework"].items()}
    return {}


def open_openvino(path: Path, threads: int | None, settings: dict[str, str], _: bool) -> Runtime:
    """OpenVINO on the CPU reading an ONNX file or an OpenVINO IR: in float32 whatever the CPU's
    default (bfloat16 on CPUs with native bf16), for latency, unless a decision said otherwise."""
    import openvino as ov

    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
    config.update(settings)
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    model = openvino_core().read_model(str(path))
    compiled = openvino_core().compile_model(model, "CPU", config)
    request = compiled.create_infer_request()

    def described(port: Any, index: int, kind: str) -> Tensor:
        dims = [d.get_length() if d.is_static else -1 for d in port.get_partial_shape()]
        names = sorted(port.get_names())  # an IR converted from PyTorch may leave outputs unnamed
        name = names[0] if names else (kind if index == 0 else f"{kind}_{index}")
        return tensor(name, OPENVINO_TYPES.get(port.get_element_type().get_type_name()), dims)

    inputs = tuple(described(port, i, "input") for i, port in enumerate(compiled.inputs))

    def call(feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        request.infer({index: feeds[t.name] for index, t in enumerate(inputs)})
        return [np.array(request.get_output_tensor(i).data) for i in range(len(compiled.outputs))]

    first = compiled.inputs[0].get_partial_shape()[0]
    count = threads_text(threads)
    precision = config["INFERENCE_PRECISION_HINT"]
    return Runtime(
        inputs,
        tuple(described(port, i, "output") for i, port in enumerate(compiled.outputs)),
        first.get_length() if first.is_static else None,
        f"openvino {ov.__version__.split('-')[0]}, {precision}, {count}",
        PLATFORMS["openvino"],
        call,
        openvino_props(model),
    )


OPENERS: dict[str, Callable[[Path, int | None, dict[str, str], bool], Runtime]] = {
    "onnxruntime": open_onnxruntime,
    "openvino": open_openvino,
}
