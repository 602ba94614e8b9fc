"""``zoo export``: parse and print; the work is in :mod:`zoo.export.pipeline`. Its format and
precision switches come from the formats' and precisions' registries."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from zoo.cli.params import Json, opt, parameters, with_options
from zoo.cli.sources import SOURCE_OPTIONS, SourceArg, source_request
from zoo.export.formats import FORMATS
from zoo.export.options import ExportRequest
from zoo.export.precisions import DERIVED
from zoo.flags import Flag, build


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
def export(source: SourceArg = None, *, as_json: Json = False, **values: Any) -> None:
    """Export to ONNX, TorchScript and ExportedProgram, verified and certified.

    All three formats unless flags pick some; int8 and float16 ONNX files on request.

    --int8 quantises with ONNX Runtime: statically for models with convolutions (QDQ, int8
    weights per channel, uint8 activations calibrated on --calibration-samples inputs of the
    training split, uniform random images when the data is not here, said in the manifest),
    dynamically for models made only of Linear layers (ranges computed at run time); with
    --openvino, MODEL.int8.xml too, quantised by NNCF on the same calibration inputs (with
    accuracy control on them where they are labelled). --fp16 converts with onnxconverter-common
    (float32 input and output), verified within 1 % of each input's largest output + 1 % of
    the value. Both are checked on real test samples and fail, writing nothing,
    if their top-1 is more than --max-accuracy-drop points below the float32 file's.
    --openvino writes an OpenVINO IR (.xml graph and .bin float32 weights, openvino.save_model),
    verified with OpenVINO's CPU plugin in float32 (the openvino extra; not written unless
    named). --embed-preprocessing makes the files take raw input: uint8 pixels N×C×H×W (0..255, of the
    model's height and width) for image models, unnormalised float32 rows N×F for table ones.

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
    from zoo.cli.output import console, interruptible, print_json
    from zoo.export import pipeline

    formats = tuple(f.name for f in FORMATS.values() if values.pop(f.name.replace("-", "_")))
    precisions = tuple(p.name for p in DERIVED if values.pop(p.name))
    wanted = build(ExportRequest, values, formats=formats, precisions=precisions)
    job = pipeline.plan(source_request(source, values), wanted)
    out = job.out
    kept = f"{out} is as it was" if out.exists() else f"nothing was written to {out}"
    with (
        interruptible(f"the export of {job.source.name} stopped", kept),
        console.status("loading samples", spinner="dots") as status,
    ):
        manifest = pipeline.run(job, status.update)
    if as_json:
        print_json(manifest.to_json())
        return
    print_manifest(manifest, job.source.origin, out, job.tta.note())


def print_manifest(manifest: Any, origin: str, out_dir: Path, tta_note: str = "") -> None:
    """One line per verified file: precision, size, parity and top-1 accuracy; the notes (a
    ``--tta`` other than the weights' card records among them)."""
    from rich.markup import escape

    from zoo.cli.output import console, say

    first = manifest.files[0]
    say(
        console,
        f"[bold]{manifest.card.model}[/bold] ({escape(origin)}), verified on "
        f"{escape(manifest.inputs)}; files take {first.facts.input} input",
    )
    for entry in manifest.files:
        title = FORMATS[entry.format].title
        if entry.precision != "fp32":
            title += f" {entry.precision}"
        agreement = entry.verification.top1_agreement
        agree = "" if agreement is None else f", agrees {agreement:.0%}"
        say(
            console,
            f"  [green]ok[/green] {title:<15} {escape(str(out_dir / entry.path))}  "
            f"{entry.bytes / 1e6:.2f} MB, {entry.export_seconds:.1f} s, "
            f"max |a−b| {entry.verification.max_abs:.1e}{agree}{accuracy_text(entry.facts.accuracy)}",
            indent=5,
        )
    for note in [*manifest.notes, *filter(None, [tta_note])]:
        style = "yellow" if "not checked" in note else "dim"
        say(console, f"  [{style}]note: {escape(note)}[/{style}]", indent=4)
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
