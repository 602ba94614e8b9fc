"""Export every built-in model, bench parity and latency across backends, record the results.

For each built-in model: trained weights from the newest run in --runs if there is one, else the
weights zoo ships for it (`--weights default`), else fresh weights (the table says which). Parity inputs are real where the data is here: the 10,000 CIFAR-10
test JPEGs for CIFAR models (unpacked from ../shared/data/cifar10/cifar10-jpg.pack, decoded and
normalised as `zoo predict` does), mnist-5k's digits for the 28×28 models, crop-yields for the
regression; else random. For cifar10-cnn, a plain `torch.onnx.export` of the raw model runs
beside zoo's file, to show what zoo's export costs at run time (nothing: the same graph).

    .venv/bin/python benchmarks/export_bench.py   # writes its section of benchmarks/RESULTS.md
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import jpeg_pack
import numpy as np
import onnx
import torch
from results_file import write_section

from zoo.artifacts.manifest import DatasetRef, FileFacts
from zoo.errors import ZooError
from zoo.export import bench, pipeline, report
from zoo.export.backends import BACKENDS, DEFAULT, Backend
from zoo.export.backends.onnxruntime import missing_provider, open_session
from zoo.export.formats import INPUT_NAME, OUTPUT_NAME
from zoo.export.formats.onnx import dynamic_shapes
from zoo.export.options import BenchRequest, ExportRequest
from zoo.export.precisions import FP32
from zoo.export.samples import STRATIFIED, Samples, load_samples, stratified
from zoo.machine import this_machine
from zoo.registry import get_model_info, get_registry
from zoo.sources import Source, SourceRequest

ROOT = Path(__file__).resolve().parent.parent
CIFAR_PACK = ROOT.parent / "shared" / "data" / "cifar10" / "cifar10-jpg.pack"
MODEL_ARGS = {"flowers-transfer": {"pretrained": "false"}}
SAMPLE_DATASETS = {
    "mnist-logreg": "mnist-5k",
    "mnist-mlp": "mnist-5k",
    "mnist-mlp3": "mnist-5k",
    "fashion-cnn": "mnist-5k",
}
BATCH_SIZES = {"flowers-transfer": (1, 8)}
SAMPLE_COUNTS = {"flowers-transfer": 128}  # resnet18 at 224×224: parity on fewer inputs
PLAIN_EXPORT_OF = "cifar10-cnn"
# the raw model through a plain torch.onnx.export, run by ONNX Runtime as zoo's file is
PLAIN = Backend(
    "onnxruntime-plain-export",
    ("onnx-plain", "fp32"),
    "fp32",
    ("cpu",),
    open_session,
    missing_provider,
)
# zoo bench's default backends that compute in float32: the table judges zoo's files by FP32
BACKEND_NAMES = tuple(name for name in DEFAULT if BACKENDS[name].precision == "fp32")


def cifar_test_images(directory: Path, pack: Path) -> list[Path]:
    """The 10,000 CIFAR-10 test JPEGs, class folders in label order, unpacking them if need be
    (benchmarks/jpeg_pack.py: the pack's files, checked against its sha256)."""
    if not (directory / "test").is_dir():
        if not pack.is_file():
            return []
        jpeg_pack.unpack(str(pack), str(directory))
    return sorted((directory / "test").glob("*/*.jpg"))


def cifar_samples(source: Source, images: list[Path], seed: int = 0) -> Samples:
    """Every test JPEG, decoded and normalised as `zoo predict` does, stratified by class (so
    that the first 16, which verify the export, are balanced too)."""
    from PIL import Image

    preprocessing = source.card.preprocessing
    classes = sorted({p.parent.name for p in images})  # ImageFolder's label order
    labels = np.asarray([classes.index(p.parent.name) for p in images])
    order = stratified(labels, len(images), seed)
    pixels = np.stack([preprocessing.image_to_array(Image.open(images[i])) for i in order])
    origin = f"all {len(images):,} real CIFAR-10 test images, {STRATIFIED} (seed {seed})"
    dataset = DatasetRef("imagefolder", {}, "test")  # the JPEG copy, as `zoo train` names it
    return Samples(
        pixels, preprocessing.normalise(pixels), origin, dataset, STRATIFIED, seed, labels[order]
    )


def newest_run(runs: Path, model: str) -> Path | None:
    """The newest run directory of ``model`` with a checkpoint, if any."""
    found = []
    for config in runs.glob("*/config.json"):
        try:
            if (
                json.loads(config.read_text()).get("model") == model
                and (config.parent / "checkpoints" / "last.safetensors").is_file()
            ):
                found.append(config.parent)
        except (OSError, ValueError):
            continue
    return max(found, key=lambda p: p.stat().st_mtime, default=None)


def plain_onnx_export(source: Source, path: Path) -> Path:
    """The raw model through torch.onnx.export(dynamo=True) with nothing of zoo's."""
    example = torch.zeros(2, *source.input_shape)
    program = torch.onnx.export(
        source.model(),
        (example,),
        dynamo=True,
        dynamic_shapes=dynamic_shapes(True),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        verbose=False,
    )
    program.save(str(path))
    return path


def graph_ops(path: Path) -> str:
    nodes = [node.op_type for node in onnx.load(str(path)).graph.node]
    return f"{len(nodes)} nodes ({', '.join(nodes)})" if len(nodes) <= 12 else f"{len(nodes)} nodes"


def run_model(name: str, args: argparse.Namespace, cifar: list[Path], scratch: Path) -> dict:
    run = newest_run(args.runs, name)
    shipped = not run and bool(get_model_info(name).weights)
    if run:
        request = SourceRequest(spec=str(run))
    elif shipped:
        request = SourceRequest(spec=name, weights="default")
    else:
        request = SourceRequest(spec=name, model_args=MODEL_ARGS.get(name, {}))
    source = request.resolve()
    if name.startswith("cifar10") and cifar:
        samples = cifar_samples(source, cifar, request.seed)
    else:
        count = SAMPLE_COUNTS.get(name, args.samples)
        dataset = SourceRequest(dataset=SAMPLE_DATASETS.get(name)).dataset_for(source)
        samples = load_samples(source.preprocessing, dataset, source.data_dir, count, request.seed)
    out = scratch / name
    start = time.perf_counter()
    manifest = pipeline.export(source, out, ExportRequest(), samples.take(16))
    export_wall = time.perf_counter() - start
    paths = {entry.format: out / entry.path for entry in manifest.files}
    names = BACKEND_NAMES
    wanted = {BACKENDS[n].runs for n in names if BACKENDS[n].runs is not None}
    files = bench.collect_files(manifest, out, wanted)  # type: ignore[arg-type]
    plain = None
    if name == PLAIN_EXPORT_OF:
        plain = plain_onnx_export(source, scratch / "plain.onnx")
        assert PLAIN.runs is not None
        files = bench.BenchFiles(
            {**files.files, PLAIN.runs: (plain, FileFacts())},
            files.fixed_batch,
            files.export_seconds,
        )
        names = (*names, PLAIN.name)
    weights = f"trained ({run.name})" if run else "shipped (default)" if shipped else "fresh"
    timing = BenchRequest(
        device="cpu",
        batch_sizes=BATCH_SIZES.get(name, (1, 32)),
        threads=args.threads,
        iterations=50,
        min_time=args.min_time,
        max_time=60.0,  # wall time of all the timing: each backend gets --min-time first
    )
    with registered(PLAIN):
        result = bench.bench(source, files, samples, timing, names)
    result.source = f"{weights} weights"
    graphs = {
        "zoo": graph_ops(paths["onnx"]),
        **({"plain": graph_ops(plain)} if plain else {}),
    }
    return {
        "name": name,
        "weights": weights,
        "result": result,
        "export_wall": export_wall,
        "graphs": graphs,
    }


@contextlib.contextmanager
def registered(backend: Backend) -> Iterator[None]:
    """``backend`` in the backends' registry for the duration (bench opens rows by name)."""
    BACKENDS[backend.name] = backend
    try:
        yield
    finally:
        del BACKENDS[backend.name]


def speedup(result: bench.BenchResult, backend: str, batch: int) -> str:
    rows = [
        r for r in result.latency if r.backend == backend and r.batch == batch and r.device == "cpu"
    ]
    return f"{rows[0].speedup_vs_eager:.2f}×" if rows and rows[0].speedup_vs_eager else "–"


def devices(records: list[dict]) -> str:
    """Where the timed backends ran, and why any were skipped: from the results, not assumed."""
    ran = sorted({row.device for record in records for row in record["result"].latency})
    reasons = sorted(
        {f"{row.backend}: {row.reason}" for r in records for row in r["result"].skipped}
    )
    text = f"Timed on: {', '.join(ran)}."
    if reasons:
        text += f" Skipped: {'; '.join(reasons)}."
    return text


def section(
    records: list[dict], skipped: dict[str, str], args: argparse.Namespace, seconds: float
) -> str:
    env = records[0]["result"].environment
    versions = env["versions"]
    lines = [
        "## Export, parity and latency (`zoo export` / `zoo bench`)",
        "",
        f"`.venv/bin/python benchmarks/export_bench.py` on {datetime.date.today()}: "
        f"{this_machine().text()}; {args.threads} "
        f"threads for torch and ONNX Runtime alike; Python {versions['python']}, torch "
        f"{versions['torch']}, onnxruntime {versions['onnxruntime']}; {seconds:.0f} s in all. "
        f"{devices(records)} Backends: {', '.join(BACKEND_NAMES)} (`zoo bench`'s float32 "
        f"ones). Tolerance {FP32.rule}, against PyTorch eager (b: eager's output).",
        "",
        "| model | weights | parity inputs "
        "| export s (onnx / torchscript / pt2; all incl. verification) "
        "| largest abs diff | largest rel diff | top-1 agreement | parity "
        "| ORT p50 vs eager, batch 1 | batch 32 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for record in records:
        result = record["result"]
        exports = result.export_seconds
        parity = [row.parity for row in result.parity]
        worst_abs = max((row.max_abs for row in parity), default=0.0)
        worst_rel = max((row.max_rel for row in parity), default=0.0)
        agreements = [row.top1_agreement for row in parity if row.top1_agreement is not None]
        top1 = f"{min(agreements):.2%}" if agreements else "n/a (regression)"
        times = " / ".join(
            f"{exports.get(fmt, 0):.1f}" for fmt in ("onnx", "torchscript", "exported-program")
        )
        big = max(r.batch for r in result.latency)
        big_note = "" if big == 32 else f" (batch {big})"
        lines.append(
            f"| {record['name']} | {record['weights']} | {result.inputs} "
            f"| {times}; {record['export_wall']:.1f} | {worst_abs:.2e} | {worst_rel:.2e} | {top1} "
            f"| {'pass' if result.passed else 'FAIL'} | {speedup(result, 'onnxruntime', 1)} "
            f"| {speedup(result, 'onnxruntime', big)}{big_note} |"
        )
    lines += [f"| {name} | not benchmarked: {reason} |||||||||" for name, reason in skipped.items()]
    focus = next((r for r in records if r["name"] == PLAIN_EXPORT_OF), None)
    if focus:
        graphs = focus["graphs"]
        lines += [
            "",
            f"### {PLAIN_EXPORT_OF} in detail",
            "",
            "`onnxruntime-plain-export` is the raw model through a plain "
            "`torch.onnx.export(..., dynamo=True)`; zoo's file has the same graph plus metadata "
            f"(zoo: {graphs['zoo']}; plain: {graphs.get('plain', '?')}), since zoo exports the "
            "bare model and `zoo predict` normalises outside it.",
            "",
            report.markdown(focus["result"]).rstrip(),
        ]
    lines += [
        "",
        "Max relative differences are large only where the eager output is near zero; "
        f"the tolerance ({FP32.rule}) is what decides.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar-dir", type=Path, default=Path("/tmp/cifar10"))
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument(
        "--samples", type=int, default=1000, help="parity inputs for non-CIFAR models"
    )
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--min-time", type=float, default=1.0)
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()
    names = args.models or sorted(e.name for e in get_registry().entries("model") if e.builtin)
    cifar = cifar_test_images(args.cifar_dir, CIFAR_PACK)
    start = time.perf_counter()
    records, skipped = [], {}
    with tempfile.TemporaryDirectory(prefix="zoo-export-bench-") as scratch:
        for name in names:
            print(f"{name} ...", flush=True)
            try:
                record = run_model(name, args, cifar, Path(scratch))
            except ZooError as exc:  # e.g. a built-in model not written yet
                print(f"  skipped: {exc}", flush=True)
                skipped[name] = str(exc)
                continue
            print(report.markdown(record["result"]), flush=True)
            records.append(record)
            # record as it goes, so an interrupted run keeps what it measured
            seconds = time.perf_counter() - start
            write_section("export-bench", section(records, skipped, args, seconds), args.results)
    text = section(records, skipped, args, time.perf_counter() - start)
    print(text)
    write_section("export-bench", text, args.results)
    sys.exit(0 if all(r["result"].passed for r in records) else 1)


if __name__ == "__main__":
    main()
