"""Export a resolved model to several formats and precisions, verify each file, certify it, and
put the whole set in place at once.

Everything is written into a private staging directory beside the output directory. The float32
files are checked against the eager model (``parity.FP32``); a float16 ONNX file with the float16
tolerance; int8 and float16 files by their top-1 accuracy on labelled test samples against the
float32 ONNX file's. The inputs and eager's outputs go into ``verification.npz``, every file's
verification into a certificate (inside each ONNX file, and in the manifest), with a copy of the
weights so that the directory is self-contained (``zoo verify`` and ``zoo bench`` rebuild nothing
from a machine path). Only when every file has passed is the staging directory renamed to the
output directory, replacing an earlier export whole (with ``--force``): an interrupted or failed
export leaves the output directory as it was.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

import zoo
from zoo.artifacts.card import CardFacts, ModelCard
from zoo.artifacts.manifest import (
    PROBABILITIES,
    Accuracy,
    Certificate,
    Companion,
    Decision,
    ExportInfo,
    FileFacts,
    Manifest,
    ManifestFile,
    Parity,
    is_export_dir,
    to_props,
)
from zoo.errors import ArgumentError, ZooError
from zoo.export import embed, runtimes
from zoo.export.checks import CHECKS_FILE, Checks, check_file, prepare_checks, save_checks
from zoo.export.failures import ExportError, VerificationError, explain
from zoo.export.formats import FORMATS, Format, WriteJob
from zoo.export.formats.onnx import check_opset
from zoo.export.options import ExportRequest
from zoo.export.parity import FP32, top1_accuracy
from zoo.export.precisions import PRECISIONS, Derivation, Precision
from zoo.export.samples import Samples, calibration_samples, evaluation_samples
from zoo.files import MODE, check_folder, hold, lock_beside, sha256_file, write_json
from zoo.machine import this_machine
from zoo.sources import EXPORTS, Source, SourceRequest, TTAChoice, chosen_tta
from zoo.tta import with_tta

ACCURACY_CHUNK = 256
RENAME_EXCHANGE = 2  # renameat2's flag: swap two paths atomically (Linux)
AT_FDCWD = -100


@dataclass
class Exported:
    """One written and verified file in the staging directory."""

    format: Format
    precision: Precision
    path: Path
    seconds: float
    parity: Parity
    facts: FileFacts
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Exporting(CardFacts):
    """What the files are made from and checked against: the source's card and weights file,
    and its eager model averaged over the request's test-time augmentation views (the graph
    averages them; so does eager's check)."""

    card: ModelCard
    model: torch.nn.Module
    weights_file: Path | None

    @classmethod
    def of(cls, source: Source, tta: str) -> Exporting:
        return cls(source.card, with_tta(source.model(), tta), source.weights_file)


@dataclass(frozen=True)
class ExportJob:
    """An export decided before any work: what it is made from (and the data it is checked on),
    the request with the test-time augmentation it uses, and its output folder."""

    source: Source
    data: SourceRequest
    request: ExportRequest  # its ``tta`` and ``out`` are the ones used
    tta: TTAChoice  # what the weights record, and whether --tta overrides it

    @property
    def out(self) -> Path:
        assert self.request.out is not None
        return self.request.out


def plan(data: SourceRequest, request: ExportRequest, command: str = "zoo export") -> ExportJob:
    """What ``zoo export`` will do, checked before any work: the source resolved, the TTA
    (--tta, else what the weights' card records), the output folder (--out, else
    exports/MODEL), options that cannot apply to this model refused."""
    source = data.resolve(accept=EXPORTS, command=command)
    tta = chosen_tta(source, request.tta)
    out = request.out or Path("exports") / file_stem(source)
    request = dataclasses.replace(request, tta=tta.mode, out=out)
    check_request(source, request)
    return ExportJob(source, data, request, tta)


def run(job: ExportJob, progress: Callable[[str], None] | None = None) -> Manifest:
    """The export ``job`` plans: its output folder checked and held before any work (a second
    export into it is refused while this one runs), then its samples (test samples, the first
    of which the files are checked on; training inputs int8 calibrates on), then every file
    written, verified, certified and put in place whole. ``progress`` hears each stage."""
    say = progress or (lambda stage: None)
    request = job.request
    with exporting(job.out, request.force):
        say("loading samples")
        count = max(request.accuracy_samples, request.check_samples)
        test = evaluation_samples(job.source, job.data, count)
        calibration = None
        if "int8" in request.precisions:
            calibration = calibration_samples(job.source, job.data, request.calibration_samples)
        say("exporting and verifying")
        checks = test.take(request.check_samples)
        return export(job.source, job.out, request, checks, test, calibration)


def export(
    source: Source,
    out_dir: Path,
    request: ExportRequest,
    checks: Samples,
    test: Samples | None = None,
    calibration: Samples | None = None,
) -> Manifest:
    """Write, verify, certify and commit every file ``request`` asks for; ``checks`` verifies
    parity, ``test`` measures accuracy, ``calibration`` calibrates int8."""
    check_request(source, request)
    check_out_dir(out_dir, request.force)
    made = Exporting.of(source, request.tta or "none")
    staging = staging_dir(out_dir)
    try:
        manifest = write_all(made, staging, request, checks, test, calibration)
        commit_dir(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def write_all(
    source: Exporting,
    staging: Path,
    request: ExportRequest,
    checks: Samples,
    test: Samples | None,
    calibration: Samples | None,
) -> Manifest:
    """Every file into ``staging``, verified, measured, certified; the manifest written last."""
    info = export_info(source, request)
    verifying = prepare_checks(
        source.model, source.card.output_kind, checks.fit(request.batch), request
    )
    base, written = write_files(source, staging, request, verifying, info, calibration)
    notes: list[str] = []
    written = measure_accuracy(written, test, request, base, notes)
    return finish(source, staging, written, verifying, info, notes)


def export_info(source: Exporting, request: ExportRequest) -> ExportInfo:
    weights_file = f"{file_stem(source)}.safetensors" if source.weights_file is not None else ""
    return ExportInfo(batch=str(request.batch or "dynamic"), weights_file=weights_file)


def finish(
    source: Exporting,
    staging: Path,
    written: list[Exported],
    verifying: Checks,
    info: ExportInfo,
    notes: list[str],
    decision: Decision | None = None,
) -> Manifest:
    """The verified files certified (inside each file that carries metadata, and in the
    manifest), the verification inputs and the weights copy saved, the manifest written last."""
    checks = verifying.samples
    save_checks(staging / CHECKS_FILE, verifying)
    onnx = next(
        (f for f in written if f.format.name == "onnx" and f.precision.name == "fp32"), None
    )
    info = dataclasses.replace(info, opset=written_opset(onnx))
    certificates = {f.path: certify(source, f, verifying, staging / CHECKS_FILE) for f in written}
    for exported in written:
        if exported.format.stamp is not None:
            props = to_props(source.card, info, exported.facts, certificates[exported.path])
            exported.format.stamp(exported.path, props)
    if info.weights_file:
        shutil.copyfile(source.weights_file, staging / info.weights_file)
        os.chmod(staging / info.weights_file, MODE)
    manifest = Manifest(
        card=source.card,
        export=info,
        inputs=checks.origin,
        files=tuple(manifest_file(f, certificates[f.path]) for f in written),
        notes=tuple(dict.fromkeys([*notes, *(n for f in written for n in f.notes)])),
        dataset=checks.dataset,
        rules=rules(checks),
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        decision=decision,
    )
    write_json(staging / "manifest.json", manifest.to_json())
    return manifest


def write_files(
    source: Exporting,
    staging: Path,
    request: ExportRequest,
    verifying: Checks,
    info: ExportInfo,
    calibration: Samples | None,
) -> tuple[FileFacts, list[Exported]]:
    """Each format's float32 file, then each derived precision's: written and verified."""
    stem = file_stem(source)
    module = embed.wrap(
        source.model, source.card, embed=request.embed_preprocessing, softmax=request.softmax
    )
    kind = embed.input_kind(source.input_shape, request.embed_preprocessing)
    output = PROBABILITIES if request.softmax else source.card.output_kind
    base = FileFacts(input=kind, output=output, tta=request.tta or "none")
    example = torch.from_numpy(verifying.feed[: request.batch or 2])
    written = []
    for fmt in request.wanted:
        path = staging / fmt.file_name(stem)
        written.append(
            write_format(source, module, fmt, path, example, verifying, info, base, request)
        )
    originals = list(written)  # the float32 files: each derived precision comes from one of these
    for name in request.precisions:
        precision = PRECISIONS[name]
        for fp32 in [f for f in originals if f.format.name in precision.derive]:
            written.append(
                derive(source, fp32, precision, staging, verifying, base, calibration, request)
            )
    return base, written


def rules(checks: Samples) -> dict[str, object]:
    """The manifest's record of how files were judged and on what."""
    return {
        "atol": FP32.atol,
        "rtol": FP32.rtol,
        **{p.name: p.rule for p in PRECISIONS.values()},
        "sampling": checks.sampling,
        "seed": checks.seed,
        "count": len(checks),
    }


def file_stem(source: Exporting | Source) -> str:
    """Exported files are named after the model (a qualified name's ':' replaced)."""
    return source.name.replace(":", "-")


def check_request(source: Exporting | Source, request: ExportRequest) -> None:
    """Options that cannot apply to this model: one clear line before any work."""
    check_opset(request.opset)
    for fmt in request.wanted:
        reason = fmt.missing()
        if reason:
            raise ArgumentError(f"--{fmt.name}: {reason}")
    regression = source.card.regression
    if "int8" in request.precisions and regression:
        raise ArgumentError(
            f"--int8 needs a classifier (its accuracy gate compares top-1); '{source.name}' is "
            "a regression model"
        )
    if request.softmax and regression:
        raise ArgumentError(f"--softmax needs a classifier; '{source.name}' is a regression model")
    if not 0 <= request.max_accuracy_drop <= 100:
        raise ArgumentError(
            f"--max-accuracy-drop is in top-1 points, 0 to 100, not {request.max_accuracy_drop:g}"
        )


@contextlib.contextmanager
def exporting(out_dir: Path, force: bool) -> Iterator[None]:
    """The output directory checked (:func:`check_out_dir`) and held by this process for the
    block: a second export into it (``--force`` or not) is refused while this one runs."""
    check_out_dir(out_dir, force)
    with hold(lock_beside(out_dir), str(out_dir), "exported into"):
        check_out_dir(out_dir, force)  # again: another export may have finished meanwhile
        yield


def check_out_dir(out_dir: Path, force: bool) -> None:
    """Refuse, before any work, an output that is a file, or a directory holding something
    (an earlier export, other files) unless ``force`` says to replace it whole."""
    if out_dir.is_file() or (out_dir.exists() and not out_dir.is_dir()):
        raise ArgumentError(f"--out '{out_dir}' is a file: name a directory for the export")
    check_folder(out_dir, "--out")
    if not out_dir.is_dir() or force or not any(out_dir.iterdir()):
        return
    if is_export_dir(out_dir):
        raise ZooError(
            f"{out_dir} holds an earlier export: pass --force to replace it whole, or --out DIR"
        )
    raise ZooError(f"{out_dir} holds files that are not a zoo export: choose another --out DIR")


def staging_dir(out_dir: Path) -> Path:
    """A private directory beside ``out_dir`` (the same file system: renaming it is atomic),
    with the permissions an ordinary directory gets."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.zoo-export-"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    return staging


def commit_dir(staging: Path, out_dir: Path) -> None:
    """Put the staging directory in place: renamed, or swapped with an existing directory in
    one step (Linux's renameat2), which then holds the old files and is removed with them."""
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    if exchange(staging, out_dir):
        return
    old = staging.with_name(staging.name + ".old")
    os.replace(out_dir, old)  # without renameat2: a crash here leaves the old export in ``old``
    os.replace(staging, out_dir)
    os.replace(old, staging)


def exchange(first: Path, second: Path) -> bool:
    """Swap two directories atomically; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    done = renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE)
    return done == 0


def written_opset(onnx: Exported | None) -> int | None:
    """The opset of the float32 ONNX file, as the exporter wrote it."""
    if onnx is None:
        return None
    return int(FORMATS["onnx"].read_props(onnx.path).get("opset") or 0) or None


def write_format(
    source: Exporting,
    module: torch.nn.Module,
    fmt: Format,
    path: Path,
    example: torch.Tensor,
    checks: Checks,
    info: ExportInfo,
    base: FileFacts,
    request: ExportRequest,
) -> Exported:
    """Write one float32 format and verify it against the eager model."""
    start = time.perf_counter()
    job = WriteJob(
        module,
        example,
        path,
        to_props(source.card, info, base),
        request.opset,
        request.batch is None,
    )
    try:
        with torch.no_grad():
            notes = fmt.write(job)
    except ExportError:
        raise
    except Exception as exc:
        raise explain(exc, source.name, fmt.title) from exc
    seconds = time.perf_counter() - start
    fp32 = PRECISIONS["fp32"]
    parity = check_file(fmt.runner(path), checks, request.batch, fmt.name, fp32)
    if not parity.passed:
        raise VerificationError(
            f"the {fmt.title} export of '{source.name}' does not match the eager model: "
            f"{parity.text()} (worst |a-b| is {parity.tolerance_used:.3g}× the tolerance "
            f"{fp32.rule})"
        )
    return Exported(fmt, fp32, path, seconds, parity, base, notes)


def derive(
    source: Exporting,
    fp32: Exported,
    precision: Precision,
    staging: Path,
    checks: Checks,
    base: FileFacts,
    calibration: Samples | None,
    request: ExportRequest,
) -> Exported:
    """A file of ``precision`` derived from a float32 file, verified by its rule; its accuracy
    gate is applied later (:func:`measure_accuracy`)."""
    path = staging / fp32.format.file_name(file_stem(source), precision.name)
    return derive_file(
        source, fp32, precision, path, checks, base, derivation(source, calibration, request)
    )


def derivation(
    source: Exporting, calibration: Samples | None, request: ExportRequest
) -> Derivation:
    """What deriving needs from an export request: the calibration inputs in the form the files
    take (labelled ones also steer NNCF's accuracy control within the request's drop)."""
    inputs = validation = None
    if calibration is not None:
        inputs = calibration.raw if request.embed_preprocessing else calibration.inputs
        if calibration.labelled and not source.card.regression:
            assert calibration.labels is not None
            validation = (inputs, calibration.labels)
    return Derivation(
        source.model,
        inputs,
        calibration.origin if calibration else "",
        bool(calibration and calibration.real),
        request.batch,
        validation=validation,
        max_drop=request.max_accuracy_drop,
    )


def derive_file(
    source: Exporting,
    fp32: Exported,
    precision: Precision,
    path: Path,
    checks: Checks,
    base: FileFacts,
    job: Derivation,
) -> Exported:
    """``path`` derived from ``fp32`` as ``job`` says, checked against eager by the precision's
    rule (for int8: finite outputs)."""
    start = time.perf_counter()
    derived = precision.derive[fp32.format.name](fp32.path, path, job)
    seconds = time.perf_counter() - start + fp32.seconds
    name = f"{fp32.format.name} {precision.name}"
    parity = check_file(fp32.format.runner(path), checks, job.fixed_batch, name, precision)
    if not parity.passed:
        raise VerificationError(
            f"the {precision.title} {fp32.format.title} export of '{source.name}' strays from "
            f"the eager model: {parity.text()} (worst |a-b| is {parity.tolerance_used:.3g}× the "
            f"tolerance {precision.rule})"
        )
    facts = dataclasses.replace(
        base,
        precision=precision.name,
        quantisation=derived.quantisation,
        calibration=derived.calibration,
        max_accuracy_drop=job.max_drop if precision.gated else None,
    )
    return Exported(fp32.format, precision, path, seconds, parity, facts)


def measure_accuracy(
    written: list[Exported],
    test: Samples | None,
    request: ExportRequest,
    base: FileFacts,
    notes: list[str],
) -> list[Exported]:
    """Each file's top-1 on the labelled test samples, beside its float32 counterpart's; a
    derived file that loses more than ``request.max_accuracy_drop`` points fails the export."""
    reason = unlabelled_reason(test, base)
    if reason:
        if any(PRECISIONS[name].gated for name in request.precisions):
            notes.append(f"int8/fp16 accuracy not checked: {reason}")
        accuracy = Accuracy(None, None, 0, f"not checked: {reason}")
        return [
            dataclasses.replace(f, facts=dataclasses.replace(f.facts, accuracy=accuracy))
            for f in written
        ]
    assert test is not None and test.labels is not None
    test = test.fit(request.batch)
    feed = test.raw if request.embed_preprocessing else test.inputs
    top1 = {}
    for exported in written:
        outputs = runtimes.run_in_chunks(
            exported.format.runner(exported.path), feed, request.batch or ACCURACY_CHUNK
        )
        top1[exported.path] = top1_accuracy(outputs, test.labels)
    fp32 = {f.format.name: top1[f.path] for f in written if f.precision.name == "fp32"}
    result = []
    for exported in written:
        accuracy = Accuracy(top1[exported.path], fp32[exported.format.name], len(test), test.origin)
        drop = accuracy.drop_points
        if exported.precision.gated and drop is not None and drop > request.max_accuracy_drop:
            raise VerificationError(
                f"the {exported.precision.title} {exported.format.title} file loses {drop:.2f} points of top-1 "
                f"({accuracy.top1:.2%} against the float32 file's "
                f"{accuracy.reference_top1:.2%} on {test.origin}), more than "
                f"--max-accuracy-drop {request.max_accuracy_drop:g}: nothing was written"
            )
        result.append(
            dataclasses.replace(
                exported, facts=dataclasses.replace(exported.facts, accuracy=accuracy)
            )
        )
    return result


def unlabelled_reason(test: Samples | None, base: FileFacts) -> str | None:
    """Why accuracy cannot be measured on ``test``, or None when it can."""
    if base.output == "regression":
        return "a regression model has no top-1"
    if test is None:
        return "no test samples"
    if not test.labelled:
        return f"no labelled test data ({test.origin})"
    return None


def versions() -> dict[str, str]:
    import onnx
    import onnxruntime

    found = {
        "zoo": zoo.__version__,
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
    }
    if FORMATS["openvino"].missing() is None:
        import openvino

        found["openvino"] = openvino.__version__
    return found


def certify(
    source: Exporting, exported: Exported, checks: Checks, checks_file: Path
) -> Certificate:
    """What this file's verification proved, to carry inside it."""
    samples = checks.samples
    assert samples is not None  # checks prepared here, at export
    weights = source.card.weights_sha256 or f"none: fresh weights, seed {source.card.seed}"
    return Certificate(
        weights_sha256=weights,
        inputs=samples.origin,
        dataset=samples.dataset,
        sampling=samples.sampling,
        seed=samples.seed,
        count=len(samples),
        checks_sha256=sha256_file(checks_file),
        parity=exported.parity,
        runtime=exported.format.runtime(),
        versions=versions(),
        machine=this_machine().to_json(),
    )


def manifest_file(exported: Exported, certificate: Certificate) -> ManifestFile:
    companions = []
    for path in [exported.path, *exported.format.companions(exported.path)]:
        os.chmod(path, MODE)
        if path != exported.path:
            companions.append(Companion(path.name, sha256_file(path), path.stat().st_size))
    return ManifestFile(
        format=exported.format.name,
        path=exported.path.name,
        sha256=sha256_file(exported.path),
        bytes=exported.path.stat().st_size,
        export_seconds=round(exported.seconds, 3),
        verification=exported.parity,
        facts=exported.facts,
        certificate=certificate,
        companions=tuple(companions),
    )


@contextlib.contextmanager
def scratch_export(
    source: Source,
    request: ExportRequest,
    checks: Samples,
    test: Samples | None,
    calibration: Samples | None,
):  # type: ignore[no-untyped-def]
    """An export into a temporary directory that lasts as long as the ``with`` block (bench's
    files for a run, a checkpoint or a model)."""
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as scratch:
        out = Path(scratch) / "export"
        yield out, export(source, out, request, checks, test, calibration)
