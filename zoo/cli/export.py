"""``zoo export``: parse and print; the work is in :mod:`zoo.export.pipeline`. Its format and
precision switches come from the formats' and precisions' registries."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

from zoo.cli.params import Json, opt, parameters, with_options
from zoo.cli.sources import SOURCE_OPTIONS, SourceArg, source_request
from zoo.export.formats import FORMATS
from zoo.export.options import CALIBRATION_SAMPLES, ExportRequest
from zoo.export.precisions import DERIVED
from zoo.flags import Flag, build, flag

OUT = flag("--out", help="Output directory (default: exports/MODEL).", kind=Path | None)
SAMPLES = flag(
    "--samples",
    help="Inputs the files are verified on, stratified by class (real samples where available; "
    "stored in the export for zoo verify) (default: 16).",
    kind=int,
    min=1,
)
CALIBRATION = flag(
    "--calibration",
    help="Training-split inputs static int8 quantisation calibrates on (uniform random images "
    "when the data is not here, said in the manifest) (default: 300).",
    kind=int,
    min=1,
)
ACCURACY_SAMPLES = flag(
    "--accuracy-samples",
    help="Labelled test samples, stratified by class, each file's top-1 is measured on "
    "(default: 1000).",
    kind=int,
    min=1,
)


def switch(name: str, help: str) -> inspect.Parameter:
    declaration = Flag((f"--{name}",), help, bool)
    return inspect.Parameter(
        name.replace("-", "_"),
        inspect.Parameter.KEYWORD_ONLY,
        default=False,
        annotation=opt(declaration),
    )


FORMAT_SWITCHES = [switch(f.name, f.help) for f in FORMATS.values()]
PRECISION_SWITCHES = [switch(p.name, p.help) for p in DERIVED]


@with_options([*FORMAT_SWITCHES, *PRECISION_SWITCHES, *parameters(ExportRequest), *SOURCE_OPTIONS])
def export(
    source: SourceArg = None,
    *,
    out: opt(OUT) = None,
    samples: opt(SAMPLES) = 16,
    calibration: opt(CALIBRATION) = CALIBRATION_SAMPLES,
    accuracy_samples: opt(ACCURACY_SAMPLES) = 1000,
    as_json: Json = False,
    **values: Any,
) -> None:
    """Export to ONNX, TorchScript and ExportedProgram (all three unless flags pick some), verified
    and certified; int8 and float16 ONNX files on request.

    Every file carries the model card (model, classes, input shape, normalisation, the weights'
    sha256, how they were trained, the zoo and torch versions), its precision, its top-1 on real
    test samples, and (ONNX) its parity certificate: the inputs it was verified on, max |a−b|
    against eager, top-1 agreement, the rule, the runtime and the CPU. manifest.json lists the
    files and their hashes; verification.npz keeps the inputs and eager's outputs (for `zoo
    verify`), and the directory holds a copy of the weights. Checks run on samples stratified by
    class of the model's dataset (in --data-dir or the run's own data directory). The set
    appears whole or not at all: an earlier export in --out is replaced only with --force, and a
    failed or interrupted export leaves the directory as it was. The graph takes normalised input
    (`zoo predict` normalises as the card says) unless --embed-preprocessing puts it in the graph.

    Examples:

    - `zoo export runs/cifar10-cnn-cifar10-20250101-120000 --onnx --int8 --opset 18`
    - `zoo export cifar10-cnn --weights default --onnx`
    - `zoo export --onnx` (the newest run in runs/)
    """
    from zoo.cli.output import console, print_json
    from zoo.export import pipeline
    from zoo.export.samples import load_samples
    from zoo.sources import EXPORTS, chosen_tta

    formats = tuple(f.name for f in FORMATS.values() if values.pop(f.name.replace("-", "_")))
    precisions = tuple(p.name for p in DERIVED if values.pop(p.name))
    wanted = build(ExportRequest, values, formats=formats, precisions=precisions)
    request = source_request(source, values)
    resolved = request.resolve(accept=EXPORTS, command="zoo export")
    tta = chosen_tta(resolved, wanted.tta)
    wanted = dataclasses.replace(wanted, tta=tta.mode)
    dataset = request.dataset_for(resolved)
    data_dir = request.data_dir or resolved.data_dir
    preprocessing = resolved.preprocessing
    test = load_samples(
        preprocessing, dataset, data_dir, max(accuracy_samples, samples), request.seed
    )
    calibrated = None
    if "int8" in precisions:
        train = dataclasses.replace(dataset, split="train") if dataset else None
        calibrated = load_samples(preprocessing, train, data_dir, calibration, request.seed)
    out_dir = out or Path("exports") / pipeline.file_stem(resolved)
    with console.status("exporting and verifying", spinner="dots"):
        manifest = pipeline.export(resolved, out_dir, wanted, test.take(samples), test, calibrated)
    if as_json:
        print_json(manifest.to_json())
        return
    print_manifest(manifest, resolved.origin, out_dir, tta.note())


def print_manifest(manifest: Any, origin: str, out_dir: Path, tta_note: str = "") -> None:
    """One line per verified file: precision, size, parity and top-1 accuracy; the notes (a
    ``--tta`` other than the weights' card records among them)."""
    from zoo.cli.output import console

    first = manifest.files[0]
    console.print(
        f"[bold]{manifest.card.model}[/bold] ({origin}), verified on {manifest.inputs}; "
        f"files take {first.facts.input} input",
        highlight=False,
        soft_wrap=True,
    )
    for entry in manifest.files:
        title = FORMATS[entry.format].title
        if entry.precision != "fp32":
            title += f" {entry.precision}"
        agreement = entry.verification.top1_agreement
        agree = "" if agreement is None else f", agrees {agreement:.0%}"
        console.print(
            f"  [green]ok[/green] {title:<15} {out_dir / entry.path}  "
            f"{entry.bytes / 1e6:.2f} MB, {entry.export_seconds:.1f} s, "
            f"max |a−b| {entry.verification.max_abs:.1e}{agree}{accuracy_text(entry.facts.accuracy)}",
            highlight=False,
            soft_wrap=True,
        )
    for note in [*manifest.notes, *filter(None, [tta_note])]:
        style = "yellow" if "not checked" in note else "dim"
        console.print(f"  [{style}]note: {note}[/{style}]", highlight=False, soft_wrap=True)
    console.print(f"  manifest: {out_dir / 'manifest.json'}", highlight=False, soft_wrap=True)


def accuracy_text(accuracy: Any) -> str:
    """``, top-1 98.06 % (95 % CI 96.5–98.9, n=360) (-0.28 points)``."""
    from zoo.export.parity import Top1

    if accuracy is None or accuracy.top1 is None:
        return ""
    text = f", top-1 {Top1.of(accuracy.top1, accuracy.samples).text()}"
    if accuracy.drop_points:
        text += f" ({-accuracy.drop_points:+.2f} points)"
    return text
