"""``zoo export``, ``zoo predict`` and ``zoo bench``: parse and print; the work is in zoo.export."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from zoo import options
from zoo.console import console, print_json
from zoo.errors import ArgumentError

SourceArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[RUN_DIR|CHECKPOINT|MODEL]",
        help="A run directory, a .safetensors checkpoint, or a model name (fresh weights, or "
        "--weights) (default: the newest run in --runs).",
        show_default=False,
    ),
]
Seed = options.flag(
    "--seed",
    help="Seed of a fresh model's weights (recorded, so the export can be rebuilt).",
    kind=int,
)
Opset = options.flag(
    "--opset",
    help="ONNX opset version (default: the exporter's); an opset it cannot write is an error.",
    kind=int | None,
)
Batch = options.flag(
    "--batch", help="'dynamic' batch dimension, or a fixed batch size N.", kind=str
)


def resolve_source(
    spec: str | None,
    *,
    dataset: str | None,
    dataset_arg: list[str] | None,
    data_dir: str | None,
    input_shape: str | None,
    num_classes: int | None,
    model_arg: list[str] | None,
    seed: int,
    samples: int,
    weights: str | None,
    runs: str | None,
) -> tuple[Any, Any]:
    """The model to export or bench (the newest run in ``runs`` when ``spec`` is None), and test
    samples to check it on (real ones where possible: the named dataset, else the model's, found
    in --data-dir or the run's own data directory)."""
    from zoo.export import source
    from zoo.train.runs import newest_run

    if spec is None and weights is None:
        spec = str(newest_run(Path(runs or "runs")))
    dataset_args = options.parse_assignments(dataset_arg, "--dataset-arg")
    resolved = source.resolve(
        spec,
        weights=weights,
        dataset=dataset,
        dataset_args=dataset_args,
        data_dir=data_dir,
        input_shape=options.parse_shape(input_shape) if input_shape else None,
        num_classes=num_classes,
        model_args=options.parse_assignments(model_arg, "--model-arg"),
        seed=seed,
    )
    inputs = source.load_samples(
        resolved, samples, dataset=dataset, dataset_args=dataset_args, data_dir=data_dir
    )
    return resolved, inputs


def parse_batch(text: str) -> int | None:
    if text == "dynamic":
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ArgumentError(f"--batch must be 'dynamic' or a positive integer, not '{text}'")


def export(
    source: SourceArg = None,
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
    opset: Opset = None,
    batch: Batch = "dynamic",
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
    ] = 300,
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
            "(0..255, already of the model's height and width) for image models, unnormalised "
            "float32 feature rows N×F for table models.",
        ),
    ] = False,
    softmax: Annotated[
        bool,
        typer.Option(
            "--softmax", help="The files end in a softmax: they return class probabilities."
        ),
    ] = False,
    weights: options.Weights = None,
    runs: options.Runs = None,
    dataset: options.Dataset = None,
    dataset_arg: options.DatasetArg = None,
    data_dir: options.DataDir = None,
    input_shape: options.InputShape = None,
    num_classes: options.NumClasses = None,
    model_arg: options.ModelArg = None,
    seed: Seed = 0,
    as_json: options.Json = False,
) -> None:
    """Export to ONNX, TorchScript and ExportedProgram (all three unless flags pick some), verified;
    int8 and float16 ONNX files on request.

    Every file carries the model card (model, classes, input shape, normalisation, the weights'
    sha256, how they were trained, the zoo and torch versions), its precision and its top-1 on real
    test samples; manifest.json lists the files, their hashes and the numbers of the verification
    (the file and the eager model on the same batch, |a−b| ≤ 1e-5·max(1, max|b|) + 1e-5·|b|,
    identical top-1),
    and the directory holds a copy of the weights. Nothing is left behind when an export or its
    verification fails. The graph takes normalised input (`zoo predict` normalises as the card
    says) unless --embed-preprocessing puts it in the graph. Real samples come from the model's
    dataset, in --data-dir or the run's own data directory.

    Examples:

    - `zoo export runs/cifar10-cnn-cifar10-20250101-120000 --onnx --int8 --opset 18`
    - `zoo export cifar10-cnn --weights default --onnx`
    - `zoo export --onnx` (the newest run in runs/)
    """
    from zoo.export import formats, pipeline
    from zoo.export.source import load_samples

    wanted = tuple(
        f
        for f, on in zip(formats.FORMATS, (onnx, torchscript, exported_program), strict=True)
        if on
    )
    fixed = parse_batch(batch)
    formats.check_opset(opset)
    resolved, test = resolve_source(
        source,
        dataset=dataset,
        dataset_arg=dataset_arg,
        data_dir=data_dir,
        input_shape=input_shape,
        num_classes=num_classes,
        model_arg=model_arg,
        seed=seed,
        samples=max(accuracy_samples, samples),
        weights=weights,
        runs=runs,
    )
    calibrated = None
    if int8:
        data = options.parse_assignments(dataset_arg, "--dataset-arg")
        calibrated = load_samples(
            resolved, calibration, dataset=dataset, dataset_args=data, data_dir=data_dir, train=True
        )
    out_dir = out or Path("exports") / pipeline.file_stem(resolved)
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
        print_json(manifest)
        return
    print_manifest(manifest, resolved, out_dir)


def print_manifest(manifest: dict[str, Any], resolved: Any, out_dir: Path) -> None:
    """One line per verified file: precision, size, parity and top-1 accuracy."""
    from zoo.export import formats

    console.print(
        f"[bold]{resolved.name}[/bold] ({weights_origin(resolved)}), "
        f"verified on {manifest['verification']['inputs']}; "
        f"files take {manifest['files'][0]['facts']['input']} input",
        highlight=False,
        soft_wrap=True,
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
            f"max |a−b| {check['max_abs']:.1e}{agree}{accuracy_text(facts['accuracy'])}",
            highlight=False,
            soft_wrap=True,
        )
    for note in manifest["notes"]:
        style = "yellow" if "not checked" in note else "dim"
        console.print(f"  [{style}]note: {note}[/{style}]", highlight=False, soft_wrap=True)
    console.print(f"  manifest: {out_dir / 'manifest.json'}", highlight=False, soft_wrap=True)


def accuracy_text(accuracy: dict[str, Any] | None) -> str:
    if not accuracy or accuracy["top1"] is None:
        return ""
    text = f", top-1 {accuracy['top1']:.2%}"
    if accuracy["drop_points"]:
        text += f" ({-accuracy['drop_points']:+.2f} points)"
    return text


def weights_origin(resolved: Any) -> str:
    """Where the weights come from, for people."""
    if resolved.weights is None:
        return "fresh weights"
    return f"weights {resolved.weights} (sha256 {resolved.card.weights_sha256})"


def predict(
    model_file: Annotated[
        str,
        typer.Argument(
            metavar="MODEL.onnx|EXPORT_DIR|MODEL",
            help="An ONNX file written by 'zoo export', its export directory (its float32 file), "
            "or a model name (its --weights, default: its default weights; exported once and "
            "cached).",
        ),
    ],
    inputs: Annotated[
        list[str],
        typer.Argument(
            metavar="IMAGE...", help="Image files (or comma-separated features for table models)."
        ),
    ],
    top_k: Annotated[int, typer.Option(min=1, help="How many classes to show per input.")] = 5,
    weights: options.Weights = None,
    as_json: options.Json = False,
) -> None:
    """Predict with ONNX Runtime alone (no PyTorch), preparing inputs as the file's card says.

    Prints the top classes with probabilities (softmax of logits, exp of log-probabilities, or the
    file's own with --softmax), or the raw outputs of a regression model. Files exported with
    --embed-preprocessing get the raw pixels (uint8 N×C×H×W) or feature rows and normalise them
    themselves. A model name uses its trained weights: the first call exports them to ONNX
    (verified) into $ZOO_HOME/predict; later calls use that file and never import PyTorch.

    Examples:

    - `zoo predict exports/cifar10-cnn/cifar10-cnn.onnx cat.jpg ship.png --top-k 3`
    - `zoo predict cifar10-cnn cat.jpg`
    """
    from zoo.export.predict import Predictor
    from zoo.launch import print_predictions
    from zoo.weights import DEFAULT_WEIGHTS, names_model

    if names_model(model_file):
        from zoo.console import error_console
        from zoo.prepared import prepare

        prepared = prepare(model_file, weights or DEFAULT_WEIGHTS, list(inputs), error_console)
        model_file = str(prepared.path)
    elif weights is not None:
        raise ArgumentError("--weights goes with a model name, not an ONNX file")
    predictor = Predictor(model_file, len(inputs))
    predictions = predictor.predict(list(inputs), top_k=top_k)
    print_predictions(predictions, predictor.card.regression, as_json)


def bench(
    source: Annotated[
        str | None,
        typer.Argument(
            metavar="[RUN_DIR|EXPORT_DIR|MODEL]",
            help="A run directory, .safetensors checkpoint, 'zoo export' directory or model name "
            "(fresh weights, or --weights) (default: the newest run in --runs).",
            show_default=False,
        ),
    ] = None,
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
    opset: Opset = None,
    batch: options.flag(
        "--batch",
        help="Export with a 'dynamic' or fixed batch (not for EXPORT_DIR).",
        kind=str,
    ) = "dynamic",
    weights: options.Weights = None,
    runs: options.Runs = None,
    dataset: options.Dataset = None,
    dataset_arg: options.DatasetArg = None,
    data_dir: options.DataDir = None,
    input_shape: options.InputShape = None,
    num_classes: options.NumClasses = None,
    model_arg: options.ModelArg = None,
    seed: Seed = 0,
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

    Examples:

    - `zoo bench exports/cifar10-cnn --batch-sizes 1,32 --min-accuracy 70 --json bench.json`
    - `zoo bench cifar10-cnn --weights default --backends eager,onnxruntime,onnxruntime-int8`
    """
    from zoo.export import bench as bench_module
    from zoo.export import formats, report

    chosen = options.parse_list(backends, "--backends", bench_module.BACKENDS) if backends else None
    devices = options.parse_list(device, "--device", bench_module.DEVICES)
    sizes = options.parse_counts(batch_sizes, "--batch-sizes") if batch_sizes else None
    fixed_export = parse_batch(batch)
    formats.check_opset(opset)
    resolved, inputs = resolve_source(
        source,
        dataset=dataset,
        dataset_arg=dataset_arg,
        data_dir=data_dir,
        input_shape=input_shape,
        num_classes=num_classes,
        model_arg=model_arg,
        seed=seed,
        samples=samples,
        weights=weights,
        runs=runs,
    )
    if min_accuracy is not None and not (inputs.real and inputs.labels is not None):
        raise ArgumentError(
            f"--min-accuracy needs labelled test data, and there is none here ({inputs.origin})"
        )
    calibration_data = bench_module.CalibrationData(
        dataset, options.parse_assignments(dataset_arg, "--dataset-arg"), data_dir
    )
    with (
        bench_module.files_to_bench(
            resolved, inputs, chosen, opset, fixed_export, calibration_data
        ) as prepared,
        bench_progress() as progress,
    ):
        result = bench_module.bench(
            resolved,
            prepared.files,
            inputs,
            backends=prepared.backends,
            devices=devices,
            batch_sizes=sizes or ((prepared.fixed_batch,) if prepared.fixed_batch else (1, 32)),
            threads=threads,
            iterations=iterations,
            min_seconds=min_time,
            max_seconds=max_time,
            fixed_batch=prepared.fixed_batch,
            origin=prepared.origin,
            progress=progress,
        )
    result.export_seconds = prepared.export_seconds
    report.render(result, console)
    if json_file:
        report.save_json(result, json_file)
    if markdown_file:
        report.save_markdown(result, markdown_file)
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
