"""A Triton (or OpenVINO Model Server) model repository from checked exports: for each model
``NAME/config.pbtxt``, ``NAME/labels.txt`` and ``NAME/1/model.onnx`` (an OpenVINO IR that
``zoo optimize`` chose: ``NAME/1/model.xml`` and ``model.bin``), the layout both servers read
(OVMS takes the version folder's model and ignores the rest).

``config.pbtxt`` is Triton's ``ModelConfig`` in protobuf's text format: the ONNX Runtime platform
(or the OpenVINO backend), the input and output names, datatypes and dimensions read from the file itself, the
largest batch and dynamic batching; a fixed-batch file has no batch dimension to share and is
described with its full shape. The same description answers ``zoo serve``'s
``GET /v2/models/NAME/config`` as JSON.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.deployed import Runtime, Tensor, open_runtime
from zoo.errors import ZooError
from zoo.files import check_folder, sha256_file, write_text
from zoo.serve.sources import Served

VERSION_DIR = "1"
MODEL_FILES = {"onnx": ("model.onnx",), "openvino": ("model.xml", "model.bin")}  # and companions
RUNS_WITH = {"onnx": "onnxruntime", "openvino": "openvino"}
LABELS = "labels.txt"
CONFIG = "config.pbtxt"


@dataclass(frozen=True)
class ModelConfig:
    """The fields of Triton's ``ModelConfig`` that zoo writes."""

    name: str
    platform: str  # onnxruntime_onnx; "" for a backend
    max_batch_size: int  # 0: the dimensions include the batch
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    label_filename: str = ""  # on the first output
    max_queue_delay_us: int | None = None  # dynamic batching; None: off
    backend: str = ""  # openvino; "" for a platform

    def dims(self, tensor: Tensor) -> list[int]:
        return list(tensor.shape[1:] if self.max_batch_size else tensor.shape)

    def tensors(self, kind: str) -> list[dict[str, Any]]:
        listed = []
        for index, t in enumerate(self.inputs if kind == "input" else self.outputs):
            entry: dict[str, Any] = {
                "name": t.name,
                "data_type": "TYPE_STRING" if t.datatype == "BYTES" else f"TYPE_{t.datatype}",
                "dims": self.dims(t),
            }
            if kind == "output" and index == 0 and self.label_filename:
                entry["label_filename"] = self.label_filename
            listed.append(entry)
        return listed

    def to_json(self) -> dict[str, Any]:
        """Triton's JSON form of the configuration (``GET /v2/models/NAME/config``)."""
        engine = {"backend": self.backend} if self.backend else {"platform": self.platform}
        data: dict[str, Any] = {
            "name": self.name,
            **engine,
            "max_batch_size": self.max_batch_size,
            "input": self.tensors("input"),
            "output": self.tensors("output"),
        }
        if self.max_queue_delay_us is not None:
            data["dynamic_batching"] = {"max_queue_delay_microseconds": self.max_queue_delay_us}
        return data

    def pbtxt(self, comment: str = "") -> str:
        """The configuration in protobuf's text format, as Triton reads ``config.pbtxt``."""
        lines = [f"# {line}" for line in comment.splitlines()]
        lines += [
            f"name: {quoted(self.name)}",
            f"backend: {quoted(self.backend)}"
            if self.backend
            else f"platform: {quoted(self.platform)}",
            f"max_batch_size: {self.max_batch_size}",
        ]
        for kind in ("input", "output"):
            lines.append(f"{kind} [")
            blocks = []
            for entry in self.tensors(kind):
                body = [
                    f"    name: {quoted(entry['name'])}",
                    f"    data_type: {entry['data_type']}",
                    f"    dims: [ {', '.join(str(d) for d in entry['dims'])} ]",
                ]
                if "label_filename" in entry:
                    body.append(f"    label_filename: {quoted(entry['label_filename'])}")
                blocks.append("  {\n" + "\n".join(body) + "\n  }")
            lines += [",\n".join(blocks), "]"]
        if self.max_queue_delay_us is not None:
            lines.append(
                f"dynamic_batching {{\n  max_queue_delay_microseconds: {self.max_queue_delay_us}\n}}"
            )
        return "\n".join(lines) + "\n"


def quoted(text: str) -> str:
    """A string in protobuf's text format."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def labels_of(served: Served, runtime: Runtime) -> tuple[str, ...]:
    """The class names, when the first output is one score per class."""
    card = served.manifest.card
    width = runtime.outputs[0].shape[-1] if runtime.outputs[0].shape else 0
    return card.classes if not card.regression and len(card.classes) == width else ()


def model_config(
    served: Served, runtime: Runtime, max_batch: int, max_delay_ms: float
) -> ModelConfig:
    """How Triton should run ``served``: batched up to ``max_batch`` rows, unless the file was
    exported for a fixed batch (then its full shape, and no dynamic batching)."""
    fixed = runtime.fixed_batch
    inputs, outputs = runtime.inputs, runtime.outputs
    if fixed is not None:
        inputs = tuple(Tensor(t.name, t.datatype, (fixed, *t.shape[1:])) for t in inputs)
        outputs = tuple(Tensor(t.name, t.datatype, (fixed, *t.shape[1:])) for t in outputs)
    batched = fixed is None and max_batch > 1
    openvino = runtime.platform == "openvino"  # Triton's OpenVINO backend
    return ModelConfig(
        name=served.name,
        platform="" if openvino else runtime.platform,
        backend="openvino" if openvino else "",
        max_batch_size=0 if fixed is not None else max_batch,
        inputs=inputs,
        outputs=outputs,
        label_filename=LABELS if labels_of(served, runtime) else "",
        max_queue_delay_us=round(max_delay_ms * 1000) if batched else None,
    )


def write_model(
    served: Served, out: Path, max_batch: int, max_delay_ms: float, force: bool
) -> Path:
    """``out/NAME``, written beside and renamed into place whole; an existing one is kept
    unless ``force``. The copied files are checked against the manifest again."""
    target = out / served.name
    if target.exists() and not force:
        raise ZooError(f"{target} already exists: pass --force to replace it")
    runtime = open_runtime(served.path, RUNS_WITH[served.entry.format], 1)
    config = model_config(served, runtime, max_batch, max_delay_ms)
    scratch = out / f".{served.name}.{os.getpid()}.tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        (scratch / VERSION_DIR).mkdir(parents=True)
        entry = served.entry
        sources = [(entry.path, entry.sha256), *((c.path, c.sha256) for c in entry.companions)]
        for (name, digest), copied in zip(sources, MODEL_FILES[entry.format], strict=True):
            shutil.copyfile(served.directory / name, scratch / VERSION_DIR / copied)
            if sha256_file(scratch / VERSION_DIR / copied) != digest:
                raise ZooError(f"the copy of {served.directory / name} differs from its manifest")
        comment = (
            f"written by zoo model-repo from {served.source}: {VERSION_DIR}/"
            f"{MODEL_FILES[entry.format][0]} is {entry.path}\nsha256 {entry.sha256} (checked "
            "against its manifest)"
        )
        write_text(scratch / CONFIG, config.pbtxt(comment))
        labels = labels_of(served, runtime)
        if labels:
            write_text(scratch / LABELS, "".join(f"{label}\n" for label in labels))
        replace(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def replace(new: Path, target: Path) -> None:
    """``new`` where ``target`` is, whole (an older one is removed after the rename)."""
    old = target.with_name(f".{target.name}.{os.getpid()}.old")
    if target.exists():
        os.replace(target, old)
    try:
        os.replace(new, target)
    except OSError:
        if old.exists():
            os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_repository(
    served: list[Served], out: Path, max_batch: int, max_delay_ms: float, force: bool
) -> list[Path]:
    """Every served file as a model of the repository at ``out`` (checked writable first)."""
    check_folder(out, "--out")
    taken = [s for s in served if (out / s.name).exists()]
    if taken and not force:
        raise ZooError(f"{out / taken[0].name} already exists: pass --force to replace it")
    out.mkdir(parents=True, exist_ok=True)
    return [write_model(s, out, max_batch, max_delay_ms, force) for s in served]
