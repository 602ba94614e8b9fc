"""Export a resolved model to several formats and precisions, verify each file, then move them
into place together.

Files are written under temporary names in the output directory. The float32 files are checked
against the eager model (every element within 1e-5 of the input's output scale + 1e-5 of its
own value, identical top-1: ``verify.FP32``); a float16 ONNX file with the
float16 tolerance; an int8 ONNX file by its top-1 accuracy on labelled test samples against the
float32 ONNX file's. Each file's measured accuracy and precision facts go into its metadata and
the manifest. A copy of the weights goes in too, so that the directory is self-contained (bench
and a later check rebuild the eager model from it, by name and sha256, not from a path of the
machine that made the export). Only when every file has passed are they given ordinary
permissions (0644), renamed (``os.replace``) to their final names and the manifest written. Any
failure removes the temporary files, leaving the directory as it was.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import ArgumentError, first_line
from zoo.export import embed, facts, formats, quantise, runtimes
from zoo.export.failures import ExportError
from zoo.export.metadata import ExportInfo, to_props
from zoo.export.predict import softmax
from zoo.export.source import MANIFEST, Samples, Source
from zoo.export.verify import FP16, FP32, Parity, Tolerance, compare, top1_accuracy
from zoo.files import MODE, sha256_file, write_json

MANIFEST_VERSION = 2
ACCURACY_CHUNK = 256
CALIBRATION_SAMPLES = 300  # training-split inputs static int8 quantisation calibrates on
PRECISION_SUFFIXES = {"int8": ".int8.onnx", "fp16": ".fp16.onnx"}


@dataclass(frozen=True)
class Options:
    """What to write beyond the plain float32 files, and the int8 accuracy gate."""

    int8: bool = False
    fp16: bool = False
    embed_preprocessing: bool = False
    softmax: bool = False
    max_accuracy_drop: float = 1.0  # top-1 points the int8 file may lose against the fp32 file


@dataclass
class ExportedFile:
    """One written and verified file, still under its temporary name."""

    format: str
    path: Path  # its final name
    temp: Path
    seconds: float
    parity: Parity
    facts: facts.FileFacts
    notes: list[str] = field(default_factory=list)


class VerificationError(ExportError):
    """An exported file does not answer like the eager model (or loses too much accuracy)."""


@dataclass
class Checks:
    """What every file is verified on: inputs in the form the files take, eager's outputs."""

    feed: np.ndarray  # normalised inputs, or raw ones for files with embedded preprocessing
    reference: np.ndarray  # eager outputs (a softmax applied if the files end in one)
    single: np.ndarray  # eager's output for feed[:1] alone (dynamic batch check)
    classification: bool


def export(
    source: Source,
    out_dir: Path,
    samples: Samples,
    *,
    formats_wanted: tuple[str, ...] = formats.FORMATS,
    opset: int | None = None,
    batch: int | None = None,
    options: Options = Options(),
    test: Samples | None = None,
    calibration: Samples | None = None,
) -> dict[str, Any]:
    """Write, verify and commit every format in ``formats_wanted`` (and the int8 and float16 ONNX
    files ``options`` asks for); ``test`` measures accuracy, ``calibration`` calibrates int8."""
    formats.check_opset(opset)
    check_options(source, options)
    if (options.int8 or options.fp16) and "onnx" not in formats_wanted:
        formats_wanted = ("onnx", *formats_wanted)  # the int8 and float16 files derive from it
    out_dir.mkdir(parents=True, exist_ok=True)
    kind = embed.input_kind(source.input_shape, options.embed_preprocessing)
    output = facts.PROBABILITIES if options.softmax else source.card.output_kind
    # the model's own card; each file's facts say what that file takes and returns
    weights_file = f"{file_stem(source)}.safetensors" if source.weights is not None else ""
    info = ExportInfo(batch=str(batch) if batch else "dynamic", weights_file=weights_file)
    module = embed.wrap(
        source.model, source.card, embed=options.embed_preprocessing, softmax=options.softmax
    )
    checks = prepare_checks(source, fit_batch(samples, batch), options, batch)
    example = torch.from_numpy(checks.feed[: batch or 2])
    base = facts.FileFacts(input=kind, output=output)
    temps: list[Path] = []
    written: list[ExportedFile] = []
    notes: list[str] = []
    try:
        for fmt in formats_wanted:
            temps.append(temporary_path(out_dir, formats.SUFFIXES[fmt]))
            written.append(
                write_verified(
                    source, module, fmt, temps[-1], example, checks, info, base, opset, batch
                )
            )
        fp32_onnx = next((f for f in written if f.format == "onnx"), None)
        if options.int8:
            temps.append(temporary_path(out_dir, PRECISION_SUFFIXES["int8"]))
            written.append(
                write_int8(source, fp32_onnx, temps[-1], checks, base, calibration, options, batch)
            )
        if options.fp16:
            temps.append(temporary_path(out_dir, PRECISION_SUFFIXES["fp16"]))
            written.append(write_fp16(source, fp32_onnx, temps[-1], checks, base, batch))
        written = measure_accuracy(written, test, batch, base, options, notes)
        info = dataclasses.replace(info, opset=written_opset(written))
        for exported in written:
            if exported.format == "onnx":
                formats.stamp_onnx(exported.temp, to_props(source.card, info, exported.facts))
        if weights_file:
            temps.append(temporary_path(out_dir, ".safetensors"))
            shutil.copyfile(source.weights, temps[-1])
            commit(temps[-1], out_dir / weights_file)
        manifest = build_manifest(source, info, written, samples, notes)
        for exported in written:
            commit(exported.temp, exported.path)
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


def written_opset(written: list[ExportedFile]) -> int | None:
    """The opset of the float32 ONNX file, as the exporter wrote it."""
    onnx_file = next((f for f in written if f.format == "onnx"), None)
    return None if onnx_file is None else formats.read_metadata("onnx", onnx_file.temp).info.opset


def check_options(source: Source, options: Options) -> None:
    """Options that cannot apply to this model: one clear line before any work."""
    regression = source.card.regression
    if options.int8 and regression:
        raise ArgumentError(
            f"--int8 needs a classifier (its accuracy gate compares top-1); '{source.name}' is "
            "a regression model"
        )
    if options.softmax and regression:
        raise ArgumentError(f"--softmax needs a classifier; '{source.name}' is a regression model")
    if not 0 <= options.max_accuracy_drop <= 100:
        raise ArgumentError(
            f"--max-accuracy-drop is in top-1 points, 0 to 100, not {options.max_accuracy_drop:g}"
        )


def prepare_checks(source: Source, samples: Samples, options: Options, batch: int | None) -> Checks:
    """The inputs the files are fed and eager's outputs on the same inputs, normalised."""
    if options.embed_preprocessing and samples.raw is None:
        raise ExportError("embedding preprocessing needs the samples before normalisation")
    feed = samples.raw if options.embed_preprocessing else samples.inputs.numpy()
    eager = runtimes.torch_runner(source.model)
    normalised = samples.inputs.numpy()
    reference = runtimes.run_in_chunks(eager, normalised, batch or len(normalised))
    single = eager(normalised[:1])
    if options.softmax:
        kind = source.card.output_kind
        reference, single = (
            np.exp(x) if kind == "log_probs" else softmax(x) for x in (reference, single)
        )
    return Checks(feed, reference, single, not source.card.regression)


def file_runner(fmt: str, path: Path) -> runtimes.Runner:
    """An exported file as a numpy callable: ONNX Runtime (basic optimisation) or torch."""
    if fmt != "onnx":
        return runtimes.torch_runner(runtimes.load_module(fmt, path))
    try:
        return runtimes.onnx_runner(runtimes.onnx_session(path, optimisation="basic"))
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise VerificationError(
            f"ONNX Runtime cannot load the exported file: {first_line(exc)}"
        ) from exc


def run_checks(
    runner: runtimes.Runner,
    checks: Checks,
    batch: int | None,
    name: str,
    tolerance: Tolerance,
) -> Parity:
    """The file on the check inputs (and, for a dynamic batch, on one alone) against eager."""
    candidate = runtimes.run_in_chunks(runner, checks.feed, batch or len(checks.feed))
    reference = checks.reference
    if batch is None:  # the batch dimension must really be dynamic
        candidate = np.concatenate([candidate, runner(checks.feed[:1])])
        reference = np.concatenate([reference, checks.single])
    return compare(name, reference, candidate, checks.classification, tolerance)


def write_verified(
    source: Source,
    module: torch.nn.Module,
    fmt: str,
    temp: Path,
    example: torch.Tensor,
    checks: Checks,
    info: ExportInfo,
    file_facts: facts.FileFacts,
    opset: int | None,
    batch: int | None,
) -> ExportedFile:
    """Write one float32 format to ``temp`` and verify it against the eager model."""
    start = time.perf_counter()
    props = to_props(source.card, info, file_facts)
    notes = formats.write(
        fmt, module, example, temp, props, opset=opset, dynamic_batch=batch is None
    )
    seconds = time.perf_counter() - start
    parity = run_checks(file_runner(fmt, temp), checks, batch, fmt, FP32)
    if not parity.passed:
        raise VerificationError(
            f"the {formats.TITLES[fmt]} export of '{source.name}' does not match the eager model: "
            f"{parity.summary()} "
            f"(worst |a-b| is {parity.tolerance_used:.3g}× the tolerance {FP32.describe()})"
        )
    final = temp.parent / f"{file_stem(source)}{formats.SUFFIXES[fmt]}"
    return ExportedFile(fmt, final, temp, seconds, parity, file_facts, notes)


def write_int8(
    source: Source,
    fp32: ExportedFile,
    temp: Path,
    checks: Checks,
    base: facts.FileFacts,
    calibration: Samples | None,
    options: Options,
    batch: int | None,
) -> ExportedFile:
    """Quantise the float32 ONNX file; top-1 agreement with eager is recorded, accuracy gates it
    later (:func:`measure_accuracy`)."""
    start = time.perf_counter()
    method = quantise.method_for(source.model)
    calibrated = None
    inputs = None
    if method == quantise.STATIC:
        if calibration is None:
            raise ExportError("static int8 quantisation needs calibration samples")
        inputs = calibration.raw if options.embed_preprocessing else calibration.inputs.numpy()
        calibrated = facts.Calibration(calibration.origin, len(calibration), calibration.real)
    quantise.int8(fp32.temp, temp, method, inputs, input_name=formats.INPUT_NAME, fixed_batch=batch)
    seconds = time.perf_counter() - start + fp32.seconds
    parity = run_checks(file_runner("onnx", temp), checks, batch, "onnx int8", FP32)
    parity = dataclasses.replace(
        parity,
        tolerance="none elementwise: top-1 at most "
        f"{options.max_accuracy_drop:g} below the float32 file's (in points)",
        tolerance_used=None,
        passed=bool(np.isfinite(parity.max_abs)),
    )
    file_facts = dataclasses.replace(
        base,
        precision="int8",
        quantisation=facts.STATIC if method == quantise.STATIC else facts.DYNAMIC,
        calibration=calibrated,
        max_accuracy_drop=options.max_accuracy_drop,
    )
    final = temp.parent / f"{file_stem(source)}{PRECISION_SUFFIXES['int8']}"
    return ExportedFile("onnx", final, temp, seconds, parity, file_facts)


def write_fp16(
    source: Source,
    fp32: ExportedFile,
    temp: Path,
    checks: Checks,
    base: facts.FileFacts,
    batch: int | None,
) -> ExportedFile:
    """Convert the float32 ONNX file to float16 and verify it against eager (fp16 tolerance)."""
    start = time.perf_counter()
    quantise.float16(fp32.temp, temp)
    seconds = time.perf_counter() - start + fp32.seconds
    parity = run_checks(file_runner("onnx", temp), checks, batch, "onnx fp16", FP16)
    if not parity.passed:
        raise VerificationError(
            f"the float16 ONNX export of '{source.name}' strays from the eager model: "
            f"{parity.summary()} (worst |a-b| is {parity.tolerance_used:.3g}× the tolerance "
            f"{FP16.describe()})"
        )
    file_facts = dataclasses.replace(base, precision="fp16", quantisation=facts.FLOAT16)
    final = temp.parent / f"{file_stem(source)}{PRECISION_SUFFIXES['fp16']}"
    return ExportedFile("onnx", final, temp, seconds, parity, file_facts)


def measure_accuracy(
    written: list[ExportedFile],
    test: Samples | None,
    batch: int | None,
    base: facts.FileFacts,
    options: Options,
    notes: list[str],
) -> list[ExportedFile]:
    """Each file's top-1 on the labelled test samples, beside its float32 counterpart's; an int8
    file that loses more than ``options.max_accuracy_drop`` points fails the export."""
    reason = unlabelled_reason(test, base)
    if reason:
        if options.int8:
            notes.append(f"int8 accuracy not checked: {reason}")
        accuracy = facts.Accuracy(None, None, 0, f"not checked: {reason}")
        return [dataclasses.replace(f, facts=replace_accuracy(f.facts, accuracy)) for f in written]
    assert test is not None and test.labels is not None
    test = fit_batch(test, batch)
    feed = test.raw if options.embed_preprocessing else test.inputs.numpy()
    top1 = {}
    for exported in written:
        runner = file_runner(exported.format, exported.temp)
        outputs = runtimes.run_in_chunks(runner, feed, batch or ACCURACY_CHUNK)
        top1[exported.temp] = top1_accuracy(outputs, test.labels)
    fp32 = {f.format: top1[f.temp] for f in written if f.facts.precision == "fp32"}
    result = []
    for exported in written:
        accuracy = facts.Accuracy(
            top1[exported.temp], fp32[exported.format], len(test), test.origin
        )
        result.append(
            dataclasses.replace(exported, facts=replace_accuracy(exported.facts, accuracy))
        )
        drop = accuracy.drop_points
        if (
            exported.facts.precision == "int8"
            and drop is not None
            and drop > options.max_accuracy_drop
        ):
            raise VerificationError(
                f"the int8 ONNX file loses {drop:.2f} points of top-1 "
                f"({accuracy.top1:.2%} against the float32 file's "
                f"{accuracy.reference_top1:.2%} on {test.origin}), more than "
                f"--max-accuracy-drop {options.max_accuracy_drop:g}: nothing was written"
            )
    return result


def unlabelled_reason(test: Samples | None, base: facts.FileFacts) -> str | None:
    """Why accuracy cannot be measured on ``test``, or None when it can."""
    if base.output == "regression":
        return "a regression model has no top-1"
    if test is None:
        return "no test samples"
    if not test.real or test.labels is None:
        return f"no labelled test data ({test.origin})"
    return None


def replace_accuracy(file_facts: facts.FileFacts, accuracy: facts.Accuracy) -> facts.FileFacts:
    return dataclasses.replace(file_facts, accuracy=accuracy)


def fit_batch(samples: Samples, batch: int | None) -> Samples:
    """For a fixed batch size, a whole number of batches (repeating samples if there are too
    few); for a dynamic one, at least two samples."""
    count = len(samples)
    wanted = max(count, 2) if batch is None else max(batch, count // batch * batch)
    if wanted == count:
        return samples
    index = np.resize(np.arange(count), wanted)
    return Samples(
        samples.inputs[torch.from_numpy(index)],
        samples.origin,
        samples.real,
        None if samples.raw is None else samples.raw[index],
        None if samples.labels is None else samples.labels[index],
    )


def temporary_path(out_dir: Path, suffix: str) -> Path:
    handle, name = tempfile.mkstemp(dir=out_dir, prefix=".zoo-export-", suffix=suffix)
    os.close(handle)
    return Path(name)


def build_manifest(
    source: Source,
    info: ExportInfo,
    written: list[ExportedFile],
    samples: Samples,
    notes: list[str],
) -> dict[str, Any]:
    """Files, hashes, the card, the export's facts, verification numbers and each file's
    precision facts."""
    files = []
    for exported in written:
        files.append(
            {
                "format": exported.format,
                "path": exported.path.name,
                "sha256": sha256_file(exported.temp),
                "bytes": exported.temp.stat().st_size,
                "export_seconds": round(exported.seconds, 3),
                "verification": exported.parity.as_dict(),
                "facts": facts.to_manifest(exported.facts),
            }
        )
        notes += [n for n in exported.notes if n not in notes]
    return {
        "zoo_export": MANIFEST_VERSION,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "card": source.card.to_json(),
        "export": info.to_json(),
        "verification": {
            "inputs": samples.origin,
            "atol": FP32.atol,
            "rtol": FP32.rtol,
            "fp32": FP32.describe(),
            "fp16": FP16.describe(),
        },
        "files": files,
        "notes": notes,
    }
