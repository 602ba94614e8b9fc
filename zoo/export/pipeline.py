"""Export a resolved model to several formats, verify each file, then move them into place together.

Files are written under temporary names in the output directory; only when every requested format
has been written and verified are they renamed (``os.replace``) to their final names and the
manifest written. Any failure removes the temporary files, leaving the directory as it was.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.export import formats, runtimes
from zoo.export.failures import ExportError
from zoo.export.metadata import ExportInfo
from zoo.export.source import MANIFEST, Samples, Source
from zoo.export.verify import ATOL, RTOL, Parity, compare
from zoo.files import MODE, sha256_file, write_json

MANIFEST_VERSION = 2


@dataclass
class ExportedFile:
    """One verified file."""

    format: str
    path: Path
    seconds: float
    parity: Parity
    notes: list[str] = field(default_factory=list)


class VerificationError(ExportError):
    """An exported file does not answer like the eager model."""


def export(
    source: Source,
    out_dir: Path,
    samples: Samples,
    *,
    formats_wanted: tuple[str, ...] = formats.FORMATS,
    opset: int | None = None,
    batch: int | None = None,
) -> dict[str, Any]:
    """Write, verify and commit every format in ``formats_wanted`` (and a copy of the weights,
    so that the directory is self-contained); returns the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = fit_batch(samples.inputs, batch)
    example = inputs[: batch or 2]
    weights_file = f"{file_stem(source)}.safetensors" if source.weights is not None else ""
    info = ExportInfo(batch=str(batch) if batch else "dynamic", weights_file=weights_file)
    temps: list[Path] = []
    written: list[tuple[Path, ExportedFile]] = []
    try:
        for fmt in formats_wanted:
            temps.append(temporary_path(out_dir, formats.SUFFIXES[fmt]))
            exported = export_one(source, fmt, temps[-1], example, inputs, info, opset, batch)
            written.append((temps[-1], exported))
        if weights_file:
            temps.append(temporary_path(out_dir, ".safetensors"))
            shutil.copyfile(source.weights, temps[-1])
        manifest = build_manifest(source, info, written, samples)
        for temp, exported in written:
            commit(temp, exported.path)
        if weights_file:
            commit(temps[-1], out_dir / weights_file)
        write_json(out_dir / MANIFEST, manifest)
        return manifest
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def file_stem(source: Source) -> str:
    """Exported files are named after the model (a qualified name's ':' replaced)."""
    return source.name.replace(":", "-")


def commit(temporary: Path, path: Path) -> None:
    """Give a verified temporary file ordinary permissions and its final name."""
    os.chmod(temporary, MODE)
    os.replace(temporary, path)


def export_one(
    source: Source,
    fmt: str,
    temp: Path,
    example: torch.Tensor,
    inputs: torch.Tensor,
    info: ExportInfo,
    opset: int | None,
    batch: int | None,
) -> ExportedFile:
    """Write one format to ``temp`` and verify it against the eager model."""
    start = time.perf_counter()
    notes = formats.write(
        fmt,
        source.model,
        example,
        temp,
        source.card,
        info,
        opset=opset,
        dynamic_batch=batch is None,
    )
    seconds = time.perf_counter() - start
    parity = verify_file(source, fmt, temp, inputs, batch)
    if not parity.passed:
        raise VerificationError(
            f"the {formats.TITLES[fmt]} export of '{source.name}' does not match the eager model: "
            f"{parity.summary()} "
            f"(worst |a-b| is {parity.tolerance_used:.3g}× the tolerance {ATOL:g} + {RTOL:g}·|b|)"
        )
    final = temp.parent / f"{file_stem(source)}{formats.SUFFIXES[fmt]}"
    return ExportedFile(fmt, final, seconds, parity, notes)


def verify_file(
    source: Source, fmt: str, path: Path, inputs: torch.Tensor, batch: int | None
) -> Parity:
    """Run the file and the eager model on ``inputs`` (and, for a dynamic batch, on one alone)."""
    batch_np = inputs.numpy()
    eager = runtimes.torch_runner(source.model)
    runner = (
        runtimes.onnx_runner(runtimes.onnx_session(path, optimisation="basic"))
        if fmt == "onnx"
        else runtimes.torch_runner(runtimes.load_module(fmt, path))
    )
    chunk = batch or len(batch_np)
    reference = runtimes.run_in_chunks(eager, batch_np, chunk)
    candidate = runtimes.run_in_chunks(runner, batch_np, chunk)
    if batch is None:  # the batch dimension must really be dynamic
        reference = np.concatenate([reference, eager(batch_np[:1])])
        candidate = np.concatenate([candidate, runner(batch_np[:1])])
    classification = not source.card.regression
    return compare(fmt, reference, candidate, classification)


def fit_batch(inputs: torch.Tensor, batch: int | None) -> torch.Tensor:
    """For a fixed batch size, a whole number of batches (repeating inputs if there are too few)."""
    if batch is None:
        return inputs if len(inputs) >= 2 else inputs.repeat(2, *[1] * (inputs.dim() - 1))
    repeats = -(-batch // len(inputs))
    inputs = inputs.repeat(repeats, *[1] * (inputs.dim() - 1)) if repeats > 1 else inputs
    return inputs[: len(inputs) // batch * batch]


def temporary_path(out_dir: Path, suffix: str) -> Path:
    handle, name = tempfile.mkstemp(dir=out_dir, prefix=".zoo-export-", suffix=suffix)
    os.close(handle)
    return Path(name)


def build_manifest(
    source: Source,
    info: ExportInfo,
    written: list[tuple[Path, ExportedFile]],
    samples: Samples,
) -> dict[str, Any]:
    """Files, hashes, the card, the export's facts and the verification numbers."""
    files, notes = [], []
    for temp, exported in written:
        files.append(
            {
                "format": exported.format,
                "path": exported.path.name,
                "sha256": sha256_file(temp),
                "bytes": temp.stat().st_size,
                "export_seconds": round(exported.seconds, 3),
                "verification": exported.parity.as_dict(),
            }
        )
        notes += [n for n in exported.notes if n not in notes]
    onnx_file = next((t for t, e in written if e.format == "onnx"), None)
    if onnx_file is not None:
        info = replace(info, opset=formats.read_metadata("onnx", onnx_file)[1].opset)
    return {
        "zoo_export": MANIFEST_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "card": source.card.to_json(),
        "export": info.to_json(),
        "verification": {"inputs": samples.origin, "atol": ATOL, "rtol": RTOL},
        "files": files,
        "notes": notes,
    }
