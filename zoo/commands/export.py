"""``zoo export``, ``zoo predict`` and ``zoo bench``: light imports here, the work in zoo.export."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from zoo.errors import ArgumentError, ZooError

console = Console()

SourceArg = Annotated[
    str,
    typer.Argument(
        metavar="RUN_DIR|CHECKPOINT|MODEL",
        help="A run directory, a .safetensors checkpoint, or a model name (fresh weights).",
    ),
]
DatasetOpt = Annotated[
    str | None,
    typer.Option(
        help="Dataset for shapes, classes and normalisation (fresh models) and for real samples."
    ),
]
DatasetArgOpt = Annotated[
    list[str] | None,
    typer.Option("--dataset-arg", help="Dataset argument name=value (repeatable)."),
]
DataDirOpt = Annotated[
    str | None,
    typer.Option(help="Where datasets live (default: $ZOO_DATA_DIR or ~/.cache/zoo/data)."),
]
InputShapeOpt = Annotated[
    str | None, typer.Option(help="C,H,W (or F for tables) of a fresh model's input.")
]
NumClassesOpt = Annotated[int | None, typer.Option(help="Output count of a fresh model.")]
ModelArgOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model-arg", "-m", help="Hyper-parameter of a fresh model, name=value (repeatable)."
    ),
]
SeedOpt = Annotated[
    int,
    typer.Option(help="Seed of a fresh model's weights (recorded, so the export can be rebuilt)."),
]
OpsetOpt = Annotated[
    int | None,
    typer.Option(
        help="ONNX opset version (default: the exporter's); an opset it cannot write is an error."
    ),
]


def resolve_source(
    spec: str,
    dataset: str | None,
    dataset_arg: list[str] | None,
    data_dir: str | None,
    input_shape: str | None,
    num_classes: int | None,
    model_arg: list[str] | None,
    seed: int,
    samples: int,
) -> tuple[Any, Any]:
    """The model to export or bench, and test samples to check it on (real ones where possible:
    the named dataset, else the model's, found in --data-dir or the run's own data directory)."""
    from zoo.describe import parse_shape
    from zoo.export import source
    from zoo.factory import parse_assignments

    dataset_args = parse_assignments(dataset_arg or [], "--dataset-arg")
    resolved = source.resolve(
        spec,
        dataset=dataset,
        dataset_args=dataset_args,
        data_dir=data_dir,
        input_shape=parse_shape(input_shape) if input_shape else None,
        num_classes=num_classes,
        model_args=parse_assignments(model_arg or [], "--model-arg"),
        seed=seed,
    )
    inputs = source.load_samples(
        resolved, samples, dataset=dataset, dataset_args=dataset_args, data_dir=data_dir
    )
    return resolved, inputs


def calibration_samples(
    resolved: Any,
    count: int,
    dataset: str | None,
    dataset_arg: list[str] | None,
    data_dir: str | None,
) -> Any:
    """Calibration inputs for int8: the training split, else uniform random images."""
    from zoo.export import source
    from zoo.factory import parse_assignments

    return source.load_samples(
        resolved,
        count,
        dataset=dataset,
        dataset_args=parse_assignments(dataset_arg or [], "--dataset-arg"),
        data_dir=data_dir,
        train=True,
    )


def parse_batch(text: str) -> int | None:
    if text == "dynamic":
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ArgumentError(f"--batch must be 'dynamic' or a positive integer, not '{text}'")


def export(
    source: SourceArg,
    onnx: Annotated[
        bool,
        typer.Option(
            "--onnx", help="ONNX (torch.onnx.export with dynamo=True, checked by onnx.checker)."
        ),
    ] = False,
    torchscript: Annotated[
        bool,
        typer.Option(
            "--torchscript",
            help="TorchScript (torch.jit.trace). Deprecated by PyTorch: for older runtimes; "
            "prefer --exported-program.",
        ),
    ] = False,
    exported_program: Annotated[
        bool,
        typer.Option(
            "--exported-program",
            help="torch.export ExportedProgram (.pt2), TorchScript's successor.",
        ),
    ] = False,
    opset: OpsetOpt = None,
    batch: Annotated[
        str, typer.Option(help="'dynamic' batch dimension, or a fixed batch size N.")
    ] = "dynamic",
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default: exports/MODEL).")
    ] = None,
    samples: Annotated[
        int,
        typer.Option(min=1, help="Inputs the verification runs (real samples where available)."),
    ] = 16,
    int8: Annotated[
        bool,
        typer.Option(
            "--int8",
            help="Also write MODEL.int8.onnx, quantised with ONNX Runtime: static quantisation "
            "(QDQ, int8 weights per channel, uint8 activations calibrated on --calibration images "
            "of the training split) for models with convolutions; dynamic quantisation (ranges "
            "computed at run time, no calibration) for models made only of Linear layers. "
            "Checked on real test samples: fails, writing nothing, if its top-1 is more than "
            "--max-accuracy-drop points below the float32 file's.",
        ),
    ] = False,
    calibration: Annotated[
        int,
        typer.Option(
            min=1,
            help="Training-split inputs static int8 quantisation calibrates on (uniform random "
            "images when the data is not here, said in the manifest).",
        ),
    ] = 300,  # pipeline.CALIBRATION_SAMPLES
    max_accuracy_drop: Annotated[
        float,
        typer.Option(
            min=0, max=100, help="Top-1 points the int8 file may lose against the float32 file."
        ),
    ] = 1.0,
    fp16: Annotated[
        bool,
        typer.Option(
            "--fp16",
            help="Also write MODEL.fp16.onnx for GPUs: float16 weights and activations "
            "(onnxconverter-common), float32 input and output, verified within 1 % of each "
            "input's largest output + 1 % of the value.",
        ),
    ] = False,
    accuracy_samples: Annotated[
        int,
        typer.Option(min=1, help="Labelled test samples each file's top-1 is measured on."),
    ] = 1000,
    embed_preprocessing: Annotated[
        bool,
        typer.Option(
            "--embed-preprocessing",
            help="The files take raw input and normalise it themselves: uint8 pixels N×C×H×W "
            "(0..255) for image models, unnormalised float32 feature rows N×F for table models.",
        ),
    ] = False,
    softmax: Annotated[
        bool,
        typer.Option(
            "--softmax", help="The files end in a softmax: they return class probabilities."
        ),
    ] = False,
    dataset: DatasetOpt = None,
    dataset_arg: DatasetArgOpt = None,
    data_dir: DataDirOpt = None,
    input_shape: InputShapeOpt = None,
    num_classes: NumClassesOpt = None,
    model_arg: ModelArgOpt = None,
    seed: SeedOpt = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Export to ONNX, TorchScript and ExportedProgram (all three unless flags pick some), verified;
    int8 and float16 ONNX files on request.

    Every file carries the model name, classes, input shape, normalisation, the checkpoint's sha256,
    the zoo and torch versions, its precision and its top-1 on real test samples; manifest.json
    lists the files, their hashes and the numbers of the verification (the file and the eager
    model on the same batch, |a−b| ≤ 1e-5 + 1e-5·|b|, identical top-1). Nothing is left behind
    when an export or its verification fails. The graph takes normalised input (`zoo predict`
    normalises with the stored mean and std) unless --embed-preprocessing puts it in the graph.
    Real samples come from the model's dataset, in --data-dir or the run's own data directory.

    Example: `zoo export runs/cifar10-cnn-cifar10-20250101-120000 --onnx --int8 --opset 18`
    """
    from zoo.export import formats, pipeline

    wanted = tuple(
        f
        for f, on in zip(formats.FORMATS, (onnx, torchscript, exported_program), strict=True)
        if on
    )
    fixed = parse_batch(batch)
    formats.check_opset(opset)
    resolved, test = resolve_source(
        source,
        dataset,
        dataset_arg,
        data_dir,
        input_shape,
        num_classes,
        model_arg,
        seed,
        max(accuracy_samples, samples),
    )
    calibrated = (
        calibration_samples(resolved, calibration, dataset, dataset_arg, data_dir) if int8 else None
    )
    out_dir = out or Path("exports") / resolved.name.replace(":", "-")
    with console.status("exporting and verifying", spinner="dots"):
        manifest = pipeline.export(
            resolved,
            out_dir,
            test.spread(samples),
            formats_wanted=wanted or formats.FORMATS,
            opset=opset,
            batch=fixed,
            options=pipeline.Options(
                int8=int8,
                fp16=fp16,
                embed_preprocessing=embed_preprocessing,
                softmax=softmax,
                max_accuracy_drop=max_accuracy_drop,
            ),
            test=test,
            calibration=calibrated,
        )
    if as_json:
        sys.stdout.write(json.dumps(manifest, indent=2) + "\n")
        return
    print_manifest(manifest, resolved, out_dir)


def print_manifest(manifest: dict[str, Any], resolved: Any, out_dir: Path) -> None:
    """One line per verified file: precision, size, parity and top-1 accuracy."""
    from zoo.export import formats

    weights = "fresh weights" if resolved.weights is None else f"checkpoint {resolved.weights}"
    console.print(
        f"[bold]{resolved.name}[/bold] ({weights}), "
        f"verified on {manifest['verification']['inputs']}; "
        f"files take {manifest['files'][0]['facts']['input']} input"
    )
    for entry in manifest["files"]:
        check, facts = entry["verification"], entry["facts"]
        title = formats.TITLES[entry["format"]]
        if facts["precision"] != "fp32":
            title += f" {facts['precision']}"
        agree = "" if check["top1_agreement"] is None else f", agrees {check['top1_agreement']:.0%}"
        console.print(
            f"  [green]ok[/green] {title:<15} {out_dir / entry['path']}  "
            f"{entry['bytes'] / 1e6:.2f} MB, {entry['export_seconds']:.1f} s, "
            f"max |a−b| {check['max_abs']:.1e}{agree}{accuracy_text(facts['accuracy'])}"
        )
    for note in manifest["notes"]:
        style = "yellow" if "not checked" in note else "dim"
        console.print(f"  [{style}]note: {note}[/{style}]")
    console.print(f"  manifest: {out_dir / 'manifest.json'}")


def accuracy_text(accuracy: dict[str, Any] | None) -> str:
    if not accuracy or accuracy["top1"] is None:
        return ""
    text = f", top-1 {accuracy['top1']:.2%}"
    if accuracy["drop_points"]:
        text += f" ({-accuracy['drop_points']:+.2f} points)"
    return text


def predict(
    model_file: Annotated[
        Path,
        typer.Argument(
            metavar="MODEL.onnx|EXPORT_DIR",
            help="An ONNX file written by 'zoo export', or its directory (its float32 file).",
        ),
    ],
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="IMAGE...", help="Image files (or comma-separated features for table models)."
        ),
    ],
    top_k: Annotated[int, typer.Option(min=1, help="How many classes to show per input.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Predict with ONNX Runtime alone (no PyTorch), normalising inputs as the file's metadata says.

    Prints the top classes with probabilities (softmax of logits, exp of log-probabilities, or the
    file's own with --softmax), or the raw outputs of a regression model. Files exported with
    --embed-preprocessing get the raw pixels (uint8 N×C×H×W) or feature rows and normalise them
    themselves.

    Example: `zoo predict exports/cifar10-cnn/cifar10-cnn.onnx cat.jpg ship.png --top-k 3`
    """
    from zoo.export.predict import Predictor

    predictor = Predictor(model_file)
    predictions = predictor.predict(list(inputs), top_k=top_k)
    if as_json:
        rows = [
            {"input": p.input, "outputs": [{"label": k, "value": v} for k, v in p.labels]}
            for p in predictions
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    regression = predictor.meta.get("task") == "regression"
    for prediction in predictions:
        console.print(f"[bold]{prediction.input}[/bold]")
        for label, value in prediction.labels:
            console.print(
                f"  {label:<24} {value:.4f}" if regression else f"  {label:<24} {value:7.2%}"
            )


def parse_list(text: str, what: str, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [item for item in items if choices and item not in choices]
    if not items or unknown:
        raise ArgumentError(
            f"{what} takes a comma-separated list of "
            f"{', '.join(choices or ('values',))}, not '{text}'"
        )
    return items


def parse_sizes(text: str) -> tuple[int, ...]:
    """Batch sizes: positive integers, comma-separated."""
    try:
        sizes = tuple(int(size) for size in parse_list(text, "--batch-sizes"))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise ArgumentError(f"--batch-sizes takes comma-separated positive integers, not '{text}'")
    return sizes


def bench(
    source: Annotated[
        str,
        typer.Argument(
            metavar="RUN_DIR|EXPORT_DIR|MODEL",
            help="A run directory, .safetensors checkpoint, 'zoo export' directory or model name.",
        ),
    ],
    backends: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: eager, torchscript, exported-program, onnxruntime, "
            "onnxruntime-int8, onnxruntime-fp16, openvino (default: eager, the three formats "
            "and openvino; for an export directory, eager and every file it holds)."
        ),
    ] = None,
    batch_sizes: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated batch sizes to time (default: 1,32; a fixed-batch export's own)."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, or cpu,cuda.")] = "cpu",
    samples: Annotated[
        int,
        typer.Option(
            min=1,
            help="Test samples for parity and top-1 (real where available; fewer if they take "
            "longer than half of --max-time).",
        ),
    ] = 256,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="Threads for every runtime alike (default: torch's)."),
    ] = None,
    iterations: Annotated[
        int,
        typer.Option(min=1, help="Timed calls per backend and batch size before it may stop."),
    ] = 20,
    min_time: Annotated[
        float,
        typer.Option(
            min=0, help="Seconds of timed calls per backend and batch size before it may stop."
        ),
    ] = 0.4,
    max_time: Annotated[
        float,
        typer.Option(
            min=0,
            help="Wall-clock seconds all the timing may take, shared by the batch sizes "
            "(each backend is timed at least once); parity takes no new samples after half "
            "of it.",
        ),
    ] = 6.0,
    min_accuracy: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=100,
            help="Exit 1 if any backend's top-1 on the real test samples is below this "
            "percentage (needs labelled data).",
        ),
    ] = None,
    json_file: Annotated[
        Path | None, typer.Option("--json", help="Write the full result as JSON.")
    ] = None,
    markdown_file: Annotated[
        Path | None, typer.Option("--markdown", help="Write markdown tables to paste.")
    ] = None,
    opset: OpsetOpt = None,
    batch: Annotated[
        str, typer.Option(help="Export with a 'dynamic' or fixed batch (not for EXPORT_DIR).")
    ] = "dynamic",
    dataset: DatasetOpt = None,
    dataset_arg: DatasetArgOpt = None,
    data_dir: DataDirOpt = None,
    input_shape: InputShapeOpt = None,
    num_classes: NumClassesOpt = None,
    model_arg: ModelArgOpt = None,
    seed: SeedOpt = 0,
) -> None:
    """Compare eager, TorchScript, ExportedProgram, ONNX Runtime (float32, int8, float16) and
    OpenVINO: top-1 accuracy, file size, parity and latency.

    Parity is against eager on the same inputs; top-1 is on real test samples when the data is
    here (the run's own data directory, --dataset or --data-dir); latency is p50/p90/p99 and
    samples/s, backends interleaved in one process, every runtime on the same threads, the whole
    timing bounded by --max-time. Exits 1 if any parity check fails or a top-1 is below
    --min-accuracy, so it can gate CI.

    A run, checkpoint or model is exported to a temporary directory first (with int8 and float16
    files if their backends are asked for); an export directory's files are used as they are (they
    are loaded with torch.jit.load and torch.export.load, which may run code: bench only exports
    you trust). On CUDA, eager, TorchScript and ONNX Runtime's CUDA provider are timed host to
    host, synchronised; what cannot run is skipped with the reason.

    Example: `zoo bench exports/cifar10-cnn --batch-sizes 1,32 --min-accuracy 70 --json bench.json`
    """
    from zoo.export import bench as bench_module
    from zoo.export import formats, report

    chosen = parse_list(backends, "--backends", bench_module.BACKENDS) if backends else None
    devices = parse_list(device, "--device", bench_module.DEVICES)
    sizes = parse_sizes(batch_sizes) if batch_sizes is not None else None
    fixed_export = parse_batch(batch)
    formats.check_opset(opset)
    resolved, inputs = resolve_source(
        source, dataset, dataset_arg, data_dir, input_shape, num_classes, model_arg, seed, samples
    )
    if min_accuracy is not None and not (inputs.real and inputs.labels is not None):
        raise ArgumentError(
            f"--min-accuracy needs labelled test data, and there is none here ({inputs.origin})"
        )
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as scratch:
        files, fixed, origin, seconds, chosen = exported_files(
            resolved,
            Path(scratch),
            inputs,
            chosen,
            opset,
            fixed_export,
            (dataset, dataset_arg, data_dir),
        )
        with bench_progress() as progress:
            result = bench_module.bench(
                resolved,
                files,
                inputs,
                backends=chosen,
                devices=devices,
                batch_sizes=sizes or ((fixed,) if fixed else (1, 32)),
                threads=threads,
                iterations=iterations,
                min_seconds=min_time,
                max_seconds=max_time,
                fixed_batch=fixed,
                origin=origin,
                progress=progress,
            )
    result.export_seconds = seconds
    report.render(result, console)
    if json_file:
        report.save_json(result, json_file)
    if markdown_file:
        markdown_file.write_text(report.markdown(result))
    below = [
        f"{s.backend} ({s.device}) {s.top1:.2%}"
        for s in result.summary
        if min_accuracy is not None and s.top1 is not None and 100 * s.top1 < min_accuracy
    ]
    if below:
        console.print(
            f"[red]top-1 below --min-accuracy {min_accuracy:g} %: {', '.join(below)}[/red]"
        )
    if not result.passed or below:
        raise typer.Exit(1)


@contextlib.contextmanager
def bench_progress() -> Iterator[Any]:
    """A transient Rich progress bar on stderr: the stage (parity, or the batch size and the
    backend being timed) and how far that stage got."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description:<44}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task("opening backends", total=1.0)

        def report(what: str, done: float) -> None:
            bar.update(task, description=what, completed=done)

        yield report


def exported_files(
    resolved: Any,
    scratch: Path,
    inputs: Any,
    backends: tuple[str, ...] | None,
    opset: int | None,
    batch: int | None,
    data: tuple[str | None, list[str] | None, str | None],
) -> tuple[dict[tuple[str, str], Any], int | None, str, dict[str, float], tuple[str, ...]]:
    """The files to bench (an export directory's own, hashes checked, else a fresh export), the
    fixed batch they take, where they come from, their export times and the backends to run."""
    from zoo.export import bench as bench_module
    from zoo.export import facts, formats, pipeline
    from zoo.export.source import sha256_file

    if resolved.export_dir is not None:
        manifest, directory = resolved.manifest, resolved.export_dir
        held = {(e["format"], facts.from_manifest(e).precision) for e in manifest["files"]}
        if backends is None:
            backends = (
                "eager",
                *[b for b, key in bench_module.FILES.items() if key in held],
            )
    else:
        backends = backends or bench_module.DEFAULT_BACKENDS
        wanted = {bench_module.FILES[b] for b in backends if b in bench_module.FILES}
        if not wanted:
            return {}, None, origin_of(resolved), {}, backends
        int8 = ("onnx", "int8") in wanted
        manifest, directory = (
            pipeline.export(
                resolved,
                scratch,
                inputs.spread(16),
                formats_wanted=tuple(f for f in formats.FORMATS if f in {f for f, _ in wanted}),
                opset=opset,
                batch=batch,
                options=pipeline.Options(int8=int8, fp16=("onnx", "fp16") in wanted),
                test=inputs if int8 else None,  # bench measures every backend's top-1 itself
                calibration=calibration_samples(resolved, pipeline.CALIBRATION_SAMPLES, *data)
                if int8
                else None,
            ),
            scratch,
        )
    wanted = {bench_module.FILES[b] for b in backends if b in bench_module.FILES}
    files = {}
    for entry in manifest["files"]:
        file_facts = facts.from_manifest(entry)
        key = (entry["format"], file_facts.precision)
        path = directory / entry["path"]
        if key in wanted:
            if not path.is_file() or sha256_file(path) != entry["sha256"]:
                raise ZooError(
                    f"{path} is missing or differs from its manifest (sha256): export again"
                )
            files[key] = (path, file_facts)
    fixed = (
        None if manifest["metadata"]["batch"] == "dynamic" else int(manifest["metadata"]["batch"])
    )
    seconds = {
        f"{entry['format']} {facts.from_manifest(entry).precision}": entry["export_seconds"]
        for entry in manifest["files"]
    }
    return files, fixed, origin_of(resolved), seconds, backends


def origin_of(resolved: Any) -> str:
    """Where the weights come from, for the report."""
    weights = "fresh weights" if resolved.weights is None else f"checkpoint {resolved.weights}"
    return weights if resolved.export_dir is None else f"export {resolved.export_dir}, {weights}"
