"""Export a resolved model to several formats, verify each file, then move them into place together.

Files are written under temporary names in the output directory; only when every requested format
has been written and verified are they renamed (``os.replace``) to their final names and the
manifest written. Any failure removes the temporary files, leaving the directory as it was.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.export import formats, runtimes
from zoo.export.failures import ExportError
from zoo.export.source import MANIFEST, Samples, Source, sha256_file
from zoo.export.verify import ATOL, RTOL, Parity, compare

MANIFEST_VERSION = 1


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
    """Write, verify and commit every format in ``formats_wanted``; returns the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = fit_batch(samples.inputs, batch)
    example = inputs[: batch or 2]
    meta = {**source.meta, "batch": str(batch) if batch else "dynamic"}
    temps: list[Path] = []
    written: list[tuple[Path, ExportedFile]] = []
    try:
        for fmt in formats_wanted:
            temps.append(temporary_path(out_dir, fmt))
            written.append(
                (temps[-1], export_one(source, fmt, temps[-1], example, inputs, meta, opset, batch))
            )
        manifest = build_manifest(meta, written, samples)
        for temp, exported in written:
            os.replace(temp, exported.path)
        write_json_atomically(out_dir / MANIFEST, manifest)
        return manifest
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()


def export_one(
    source: Source,
    fmt: str,
    temp: Path,
    example: torch.Tensor,
    inputs: torch.Tensor,
    meta: dict[str, Any],
    opset: int | None,
    batch: int | None,
) -> ExportedFile:
    """Write one format to ``temp`` and verify it against the eager model."""
    start = time.perf_counter()
    notes = formats.write(
        fmt, source.model, example, temp, meta, opset=opset, dynamic_batch=batch is None
    )
    seconds = time.perf_counter() - start
    parity = verify_file(source, fmt, temp, inputs, batch)
    if not parity.passed:
        raise VerificationError(
            f"the {formats.TITLES[fmt]} export of '{source.name}' does not match the eager model: "
            f"{parity.summary()} "
            f"(worst |a-b| is {parity.tolerance_used:.3g}× the tolerance {ATOL:g} + {RTOL:g}·|b|)"
        )
    final = temp.parent / f"{source.name}{formats.SUFFIXES[fmt]}"
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
    classification = source.meta.get("task") != "regression"
    return compare(fmt, reference, candidate, classification)


def fit_batch(inputs: torch.Tensor, batch: int | None) -> torch.Tensor:
    """For a fixed batch size, a whole number of batches (repeating inputs if there are too few)."""
    if batch is None:
        return inputs if len(inputs) >= 2 else inputs.repeat(2, *[1] * (inputs.dim() - 1))
    repeats = -(-batch // len(inputs))
    inputs = inputs.repeat(repeats, *[1] * (inputs.dim() - 1)) if repeats > 1 else inputs
    return inputs[: len(inputs) // batch * batch]


def temporary_path(out_dir: Path, fmt: str) -> Path:
    handle, name = tempfile.mkstemp(
        dir=out_dir, prefix=".zoo-export-", suffix=formats.SUFFIXES[fmt]
    )
    os.close(handle)
    return Path(name)


def build_manifest(
    meta: dict[str, Any], written: list[tuple[Path, ExportedFile]], samples: Samples
) -> dict[str, Any]:
    """Files, hashes, metadata and verification numbers."""
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
    if any(f["format"] == "onnx" for f in files):
        meta = {
            **meta,
            "opset": formats.read_metadata(
                "onnx", next(t for t, e in written if e.format == "onnx")
            )["opset"],
        }
    return {
        "zoo_export": MANIFEST_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "metadata": meta,
        "verification": {"inputs": samples.origin, "atol": ATOL, "rtol": RTOL},
        "files": files,
        "notes": notes,
    }


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=".zoo-export-", suffix=".json")
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
        os.replace(name, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
