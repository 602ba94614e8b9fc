"""The candidates: every file zoo can make of the model (float32 ONNX, OpenVINO IR and
ExportedProgram; int8 ONNX files in ONNX Runtime's flavours; an int8 IR from NNCF; float16 ONNX on
CUDA), each verified as an export verifies it, then each file × runtime × precision × thread
count that can run here, opened; what cannot be made or run is kept with the reason."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zoo.artifacts.manifest import ExportInfo, FileFacts
from zoo.errors import ZooError, first_line
from zoo.export import embed, quantise
from zoo.export.backends import BACKENDS, Backend, Opened, Opening
from zoo.export.checks import Checks
from zoo.export.formats import FORMATS
from zoo.export.options import ExportRequest
from zoo.export.pipeline import Exported, Exporting, derive_file, file_stem, write_format
from zoo.export.precisions import PRECISIONS, Derivation
from zoo.export.samples import Samples

FLOAT32_FORMATS = ("onnx", "openvino", "exported-program")  # TorchScript: its deprecated twin
TORCH_FORMATS = ("exported-program",)  # torch's threads are global: timed at one thread count
CHUNK = 64  # inputs per call when measuring accuracy
NNCF_VALIDATION = 500  # selection inputs NNCF's accuracy control validates on (it runs each one)


@dataclass(frozen=True)
class Built:
    """A verified file made for the candidates, and how it was made (``tag``, for its name)."""

    exported: Exported
    tag: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.exported.format.name, self.exported.precision.name


@dataclass
class Candidate:
    """One way to serve the model: a file, the backend that runs it, its threads; opened, or
    skipped with the reason."""

    name: str
    backend: Backend
    built: Built
    threads: int
    device: str
    opened: Opened | None = None
    skipped: str | None = None

    @property
    def runtime(self) -> str:
        name = self.backend.name
        return next((r for r in ("onnxruntime", "openvino") if name.startswith(r)), "torch")

    @property
    def outputs_key(self) -> tuple[str, str]:
        """Candidates that differ only in threads compute the same outputs: measured once."""
        return self.backend.name, str(self.built.exported.path)


def thread_counts(objective: str, cores: int) -> tuple[int, ...]:
    """Latency: one thread (no pool to wake) and every core; throughput: every core."""
    return (cores,) if objective == "throughput" or cores == 1 else (1, cores)


def float32_files(
    source: Exporting, scratch: Path, checks: Checks, tta: str, skipped: list[str]
) -> list[Built]:
    """Each float32 format written and verified against eager; one that cannot be is skipped
    with the reason (the ONNX file, the baseline, must be)."""
    request = ExportRequest()
    module = embed.wrap(source.model, source.card, embed=False, softmax=False)
    base = FileFacts(output=source.card.output_kind, tta=tta or "none")
    example = torch.from_numpy(checks.feed[:2])
    built = []
    for name in FLOAT32_FORMATS:
        fmt = FORMATS[name]
        reason = fmt.missing()
        if reason is None:
            try:
                path = scratch / fmt.file_name(file_stem(source))
                exported = write_format(
                    source, module, fmt, path, example, checks, ExportInfo(), base, request
                )
                built.append(Built(exported))
                continue
            except ZooError as exc:
                if name == "onnx":
                    raise
                reason = f"cannot be exported: {first_line(exc)}"
        skipped.append(f"{fmt.title} files: {reason}")
    return built


def int8_variants(model: torch.nn.Module) -> list[tuple[str, str, bool]]:
    """ONNX Runtime's int8 flavours worth trying: (tag, method, weights per channel)."""
    variants = [("static per-channel", quantise.STATIC, True)]
    variants.append(("static per-tensor", quantise.STATIC, False))
    if quantise.method_for(model) == quantise.DYNAMIC:
        variants.append(("dynamic", quantise.DYNAMIC, True))
    return variants


def derived_files(
    source: Exporting,
    scratch: Path,
    float32: list[Built],
    checks: Checks,
    calibration: Samples,
    selection: Samples,
    max_drop: float,
    cuda: bool,
    skipped: list[str],
) -> list[Built]:
    """int8 files (ONNX Runtime's flavours, NNCF's with accuracy control on the selection
    sample where it is labelled), float16 for CUDA; each checked against eager."""
    files = {b.key: b.exported for b in float32}
    stem = file_stem(source)
    base = Derivation(source.model, calibration.inputs, calibration.origin, calibration.real, None)
    jobs: list[tuple[str, str, str, Derivation]] = []
    for tag, method, per_channel in int8_variants(source.model):
        job = dataclasses.replace(base, method=method, per_channel=per_channel)
        jobs.append(("onnx", "int8", tag, job))
    if ("openvino", "fp32") in files:
        control = selection.labelled and not source.card.regression
        assert selection.labels is not None or not control
        validation = (
            (selection.inputs[:NNCF_VALIDATION], selection.labels[:NNCF_VALIDATION])  # type: ignore[index]
            if control
            else None
        )
        job = dataclasses.replace(base, validation=validation, max_drop=max_drop)  # type: ignore[arg-type]
        jobs.append(("openvino", "int8", "NNCF", job))
    if cuda:
        jobs.append(("onnx", "fp16", "", base))
    built = []
    for fmt, precision, tag, job in jobs:
        original = files[(fmt, "fp32")]
        suffix = "-".join([precision, *tag.lower().split()])
        path = scratch / original.format.file_name(stem, suffix)
        try:
            exported = derive_file(
                source, original, PRECISIONS[precision], path, checks, original.facts, job
            )
        except ZooError as exc:
            skipped.append(f"{original.format.title} {precision} {tag}: {first_line(exc)}")
            continue
        built.append(Built(exported, tag))
    return built


def backends_for(built: Built, device: str) -> list[Backend]:
    """The backends that run this file on this device (OpenVINO runs the IR, not the ONNX
    file, when there is an IR: the same runtime on the same graph)."""
    kind = device.split(":")[0]
    return [
        b
        for b in BACKENDS.values()
        if b.runs == built.key
        and kind in b.devices
        and not (b.name.startswith("openvino") and built.key[0] == "onnx")
    ]


def candidates(
    files: list[Built], device: str, threads: tuple[int, ...], cores: int
) -> list[Candidate]:
    """Every file × backend × thread count, named for people."""
    found = []
    for built in files:
        for backend in backends_for(built, device):
            counts = (cores,) if built.key[0] in TORCH_FORMATS else threads
            for count in counts:
                tag = f" ({built.tag})" if built.tag else ""
                name = f"{backend.name}{tag}, {count} thread{'s' if count > 1 else ''}"
                candidate = Candidate(name, backend, built, count, device)
                candidate.skipped = backend.missing(device)
                found.append(candidate)
    return found


def open_candidate(candidate: Candidate, model: torch.nn.Module) -> None:
    """Open it on its threads; a runtime that refuses it makes it skipped, with the reason."""
    exported = candidate.built.exported
    opening = Opening(model, exported.path, exported.facts, candidate.device, candidate.threads)
    try:
        candidate.opened = candidate.backend.open(opening)
    except Exception as exc:  # each runtime raises its own exception types
        candidate.skipped = f"{candidate.backend.name} cannot open it: {first_line(exc)}"


def run_outputs(candidate: Candidate, inputs: np.ndarray, chunk: int = 0) -> np.ndarray:
    """The candidate's outputs at its timed settings, ``chunk`` inputs at a time."""
    assert candidate.opened is not None
    return chunked(candidate.opened.outputs, inputs, chunk or CHUNK)


def chunked(
    runner: Callable[[np.ndarray], np.ndarray], inputs: np.ndarray, chunk: int
) -> np.ndarray:
    parts = [runner(inputs[start : start + chunk]) for start in range(0, len(inputs), chunk)]
    return np.concatenate([np.asarray(p, np.float32) for p in parts])


def decided_outputs(
    backend: str, path: Path, facts: FileFacts, threads: int, inputs: np.ndarray
) -> np.ndarray:
    """A decision's file on ``inputs``, opened and run as its accuracy was measured (the same
    backend, threads and chunks): ``zoo verify`` measures it again this way."""
    opened = BACKENDS[backend].open(Opening(None, path, facts, "cpu", threads))
    return chunked(opened.outputs, inputs, CHUNK)
