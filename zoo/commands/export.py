"""``zoo export``, ``zoo predict`` and ``zoo bench``: light imports here, the work in zoo.export."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from zoo import options
from zoo.errors import ArgumentError, ZooError

console = Console()

SourceArg = Annotated[
    str | None,
    typer.Argument(
        metavar="[RUN_DIR|CHECKPOINT|MODEL]",
        help="A run directory, a .safetensors checkpoint, or a model name (fresh weights, or "
        "--weights) (default: the newest run in --runs).",
        show_default=False,
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
OpsetOpt = Annotated[int | None, typer.Option(help="ONNX opset version (default: the exporter's).")]


def resolve_source(
    spec: str | None,
    dataset: str | None,
    dataset_arg: list[str] | None,
    data_dir: str | None,
    input_shape: str | None,
    num_classes: int | None,
    model_arg: list[str] | None,
    seed: int,
    samples: int,
    weights: str | None = None,
    runs: str | None = None,
) -> tuple[Any, Any]:
    """The model to export or bench (the newest run in ``runs`` when ``spec`` is None), and the
    inputs to check it on (real samples where possible)."""
    from zoo.export import source
    from zoo.options import parse_assignments, parse_shape
    from zoo.train.runs import newest_run

    if spec is None and weights is None:
        spec = str(newest_run(Path(runs or "runs")))
    dataset_args = parse_assignments(dataset_arg, "--dataset-arg")
    resolved = source.resolve(
        spec,
        weights=weights,
        dataset=dataset,
        dataset_args=dataset_args,
        data_dir=data_dir,
        input_shape=parse_shape(input_shape) if input_shape else None,
        num_classes=num_classes,
        model_args=parse_assignments(model_arg, "--model-arg"),
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
    dataset: DatasetOpt = None,
    dataset_arg: DatasetArgOpt = None,
    data_dir: DataDirOpt = None,
    input_shape: InputShapeOpt = None,
    num_classes: NumClassesOpt = None,
    model_arg: ModelArgOpt = None,
    seed: SeedOpt = 0,
    weights: options.Weights = None,
    runs: options.Runs = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """Export to ONNX, TorchScript and ExportedProgram (all three unless flags pick some), verified.

    Every file carries the model name, classes, input shape, normalisation, the checkpoint's sha256
    and the zoo and torch versions; manifest.json lists the files, their hashes and the numbers of
    the verification (the file and the eager model on the same batch, |a−b| ≤ 1e-5 + 1e-5·|b|,
    identical top-1). Nothing is left behind when an export or its verification fails. The graph
    takes normalised input; `zoo predict` normalises with the stored mean and std.

    Examples:

    - `zoo export runs/cifar10-cnn-cifar10-20250101-120000 --onnx --opset 18`
    - `zoo export cifar10-cnn --weights default --onnx`
    - `zoo export --onnx` (the newest run in runs/)
    """
    from zoo.export import formats, pipeline

    wanted = tuple(
        f
        for f, on in zip(formats.FORMATS, (onnx, torchscript, exported_program), strict=True)
        if on
    )
    fixed = parse_batch(batch)
    resolved, inputs = resolve_source(
        source,
        dataset,
        dataset_arg,
        data_dir,
        input_shape,
        num_classes,
        model_arg,
        seed,
        samples,
        weights,
        runs,
    )
    out_dir = out or Path("exports") / resolved.name.replace(":", "-")
    manifest = pipeline.export(
        resolved,
        out_dir,
        inputs,
        formats_wanted=wanted or formats.FORMATS,
        opset=opset,
        batch=fixed,
    )
    if as_json:
        sys.stdout.write(json.dumps(manifest, indent=2) + "\n")
        return
    weights = "fresh weights" if resolved.weights is None else f"checkpoint {resolved.weights}"
    console.print(
        f"[bold]{resolved.name}[/bold] ({weights}), "
        f"verified on {manifest['verification']['inputs']}"
    )
    for entry in manifest["files"]:
        check = entry["verification"]
        top1 = "" if check["top1_agreement"] is None else f", top-1 {check['top1_agreement']:.0%}"
        console.print(
            f"  [green]ok[/green] {formats.TITLES[entry['format']]:<15} {out_dir / entry['path']}  "
            f"{entry['export_seconds']:.1f} s, max |a−b| {check['max_abs']:.1e}{top1}"
        )
    for note in manifest["notes"]:
        console.print(f"  [dim]note: {note}[/dim]")
    console.print(f"  manifest: {out_dir / 'manifest.json'}")


def predict(
    model_file: Annotated[
        str,
        typer.Argument(
            metavar="MODEL.onnx|MODEL",
            help="An ONNX file written by 'zoo export', or a model name (its --weights, default: "
            "its default weights; exported once and cached).",
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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Predict with ONNX Runtime alone (no PyTorch), normalising inputs as the file's metadata says.

    Prints the top classes with probabilities (softmax of logits, exp of log-probabilities), or the
    raw outputs of a regression model. A model name uses its trained weights: the first call
    exports them to ONNX (verified) into $ZOO_HOME/predict; later calls use that file and never
    import PyTorch.

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

        model_file = str(prepare(model_file, weights or DEFAULT_WEIGHTS, error_console).path)
    elif weights is not None:
        raise ArgumentError("--weights goes with a model name, not an ONNX file")
    predictor = Predictor(model_file)
    predictions = predictor.predict(list(inputs), top_k=top_k)
    print_predictions(predictions, predictor.card.regression, as_json)


def parse_list(text: str, what: str, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [item for item in items if choices and item not in choices]
    if not items or unknown:
        raise ArgumentError(
            f"{what} takes a comma-separated list of "
            f"{', '.join(choices or ('values',))}, not '{text}'"
        )
    return items


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
        str,
        typer.Option(help="Comma-separated: eager, torchscript, exported-program, onnxruntime."),
    ] = ("eager,torchscript,exported-program,onnxruntime"),
    batch_sizes: Annotated[str, typer.Option(help="Comma-separated batch sizes to time.")] = "1,32",
    device: Annotated[str, typer.Option(help="cpu, cuda, or cpu,cuda.")] = "cpu",
    samples: Annotated[
        int, typer.Option(min=1, help="Inputs for the parity check (real samples where available).")
    ] = 256,
    threads: Annotated[
        int | None,
        typer.Option(min=1, help="Threads for torch and ONNX Runtime alike (default: torch's)."),
    ] = None,
    iterations: Annotated[
        int, typer.Option(min=1, help="Least timed iterations per backend and batch size.")
    ] = 50,
    min_time: Annotated[
        float, typer.Option(min=0, help="Least seconds timed per backend and batch size.")
    ] = 1.0,
    max_time: Annotated[
        float,
        typer.Option(
            min=0, help="Stop timing a batch size once every backend has this many seconds."
        ),
    ] = 10.0,
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
    weights: options.Weights = None,
    runs: options.Runs = None,
) -> None:
    """Compare eager, TorchScript, ExportedProgram and ONNX Runtime: parity and latency.

    Parity is against eager on the same inputs; latency is p50/p90/p99 and samples/s, backends
    interleaved in one process, torch and ONNX Runtime on the same threads. Exits 1 if any parity
    check fails, so it can gate CI.

    A run, checkpoint or model is exported to a temporary directory first; an export directory's
    files are used as they are (they are loaded with torch.jit.load and torch.export.load, which
    may run code: bench only exports you trust). On CUDA, eager, TorchScript and ONNX Runtime's CUDA
    provider are timed host to host, synchronised; what cannot run is skipped with the reason.

    Example: `zoo bench exports/cifar10-cnn --batch-sizes 1,32 --json bench.json`
    """
    from zoo.export import bench as bench_module
    from zoo.export import report

    chosen = parse_list(backends, "--backends", bench_module.BACKENDS)
    devices = parse_list(device, "--device", bench_module.DEVICES)
    try:
        sizes = tuple(int(size) for size in parse_list(batch_sizes, "--batch-sizes"))
    except ValueError:
        raise ArgumentError(
            f"--batch-sizes takes comma-separated integers, not '{batch_sizes}'"
        ) from None
    resolved, inputs = resolve_source(
        source,
        dataset,
        dataset_arg,
        data_dir,
        input_shape,
        num_classes,
        model_arg,
        seed,
        samples,
        weights,
        runs,
    )
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as scratch:
        files, fixed, origin, seconds = exported_files(
            resolved, Path(scratch), inputs, chosen, opset, parse_batch(batch)
        )
        result = bench_module.bench(
            resolved,
            files,
            inputs,
            backends=chosen,
            devices=devices,
            batch_sizes=sizes,
            threads=threads,
            iterations=iterations,
            min_seconds=min_time,
            max_seconds=max_time,
            fixed_batch=fixed,
            origin=origin,
        )
    result.export_seconds = seconds
    report.render(result, console)
    if json_file:
        report.save_json(result, json_file)
    if markdown_file:
        markdown_file.write_text(report.markdown(result))
    if not result.passed:
        raise typer.Exit(1)


def exported_files(
    resolved: Any,
    scratch: Path,
    inputs: Any,
    backends: tuple[str, ...],
    opset: int | None,
    batch: int | None,
) -> tuple[dict[str, Path], int | None, str, dict[str, float]]:
    """The files to bench: an export directory's own (hashes checked), else a fresh export."""
    from zoo.export import bench as bench_module
    from zoo.export import formats, pipeline
    from zoo.export.metadata import ExportInfo
    from zoo.export.source import Samples
    from zoo.files import sha256_file

    wanted = tuple(
        f for f in formats.FORMATS if f in {bench_module.FILE_FORMAT.get(b) for b in backends}
    )
    if resolved.export_dir is not None:
        manifest, directory = resolved.manifest, resolved.export_dir
    else:
        if not wanted:
            return {}, None, origin_of(resolved), {}
        few = Samples(inputs.inputs[:16], inputs.origin, inputs.real)
        manifest, directory = (
            pipeline.export(
                resolved, scratch, few, formats_wanted=wanted, opset=opset, batch=batch
            ),
            scratch,
        )
    files = {}
    for entry in manifest["files"]:
        path = directory / entry["path"]
        if entry["format"] in wanted:
            if not path.is_file() or sha256_file(path) != entry["sha256"]:
                raise ZooError(
                    f"{path} is missing or differs from its manifest (sha256): export again"
                )
            files[entry["format"]] = path
    fixed = ExportInfo.from_json(manifest["export"]).fixed_batch
    seconds = {entry["format"]: entry["export_seconds"] for entry in manifest["files"]}
    return files, fixed, origin_of(resolved), seconds


def origin_of(resolved: Any) -> str:
    """Where the weights come from, for the report."""
    weights = "fresh weights" if resolved.weights is None else f"checkpoint {resolved.weights}"
    return weights if resolved.export_dir is None else f"export {resolved.export_dir}, {weights}"
