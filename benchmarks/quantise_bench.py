"""int8 and float16 exports of trained CIFAR-10 models: size, speed against ONNX Runtime float32,
and top-1 on the 10,000 real test images. Each model is exported and benched with the commands
printed beside its results:

    zoo export RUN --onnx --int8 --fp16 --accuracy-samples 10000 --out DIR
    zoo bench DIR --batch-sizes 1,32 --test-samples 512 --min-time 2 --max-time 60 \\
        --report DIR/bench.json

    .venv/bin/python benchmarks/quantise_bench.py RUN_DIR [RUN_DIR ...]
    .venv/bin/python benchmarks/quantise_bench.py cifar10-vgg cifar10-cnn --data-dir /tmp/cifar10

A model name stands for its shipped weights (`zoo export MODEL --weights default`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_file import write_section

from zoo.machine import this_machine

ROOT = Path(__file__).resolve().parent.parent
ZOO = str(Path(sys.executable).with_name("zoo"))


def run(command: list[str]) -> tuple[str, float]:
    """Run a zoo command; its wall time."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    shown = " ".join(shlex.quote(part) for part in ["zoo", *command[1:]])
    return shown, time.perf_counter() - start


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min) / {five:.1f} (5 min)"


def measure(source: str, scratch: Path, args: argparse.Namespace) -> dict:
    run_dir = Path(source)
    shipped = not run_dir.is_dir()  # a model name: its shipped weights
    out = scratch / run_dir.name
    weights = ("--weights", "default", "--data-dir", args.data_dir) if shipped else ()
    export_command, export_seconds = run(
        [
            *(ZOO, "export", source, *weights, "--onnx", "--int8", "--fp16"),
            *("--accuracy-samples", "10000", "--out", str(out)),
        ]
    )
    bench_json = out / "bench.json"
    # an export directory keeps no machine path: the data directory is named again
    data_dir = (
        args.data_dir
        if shipped
        else json.loads((run_dir / "config.json").read_text()).get("data_dir")
    )
    load_before = load()
    bench_command, _ = run(
        [
            *(ZOO, "bench", str(out), "--batch-sizes", "1,32", "--test-samples", str(args.samples)),
            *("--min-time", str(args.min_time), "--max-time", str(args.max_time)),
            *(("--data-dir", data_dir) if data_dir else ()),
            *("--report", str(bench_json)),
        ]
    )
    manifest = json.loads((out / "manifest.json").read_text())
    files = {f["facts"]["precision"]: f for f in manifest["files"]}
    result = json.loads(bench_json.read_text())
    # the CPU rows: on a machine with a GPU, `zoo bench` times the CUDA backends too
    p50 = {
        (row["backend"], row["batch"]): row["p50_ms"]
        for row in result["latency"]
        if row["device"] == "cpu"
    }
    return {
        "run": "shipped weights" if shipped else f"run {run_dir.name}",
        "model": manifest["card"]["model"],
        "epochs": manifest["card"].get("epoch", "shipped") if shipped else kept_epoch(run_dir),
        "files": files,
        "manifest": manifest,
        "p50": p50,
        "export_command": export_command.replace(str(scratch), "$OUT"),
        "bench_command": bench_command.replace(str(scratch), "$OUT"),
        "export_seconds": export_seconds,
        "load": f"{load_before}; after: {load()}",
        "environment": result["environment"],
        "bench_inputs": result["inputs"],
    }


def kept_epoch(run_dir: Path) -> int:
    """The epoch of the weights the export took: the run's best checkpoint (held-out
    validation), else its last (a run validated on the test split keeps only that one)."""
    checkpoints = run_dir / "checkpoints"
    card = checkpoints / "best.json"
    if not card.is_file():
        card = checkpoints / "last.json"
    return json.loads(card.read_text())["epoch"]


def ratio(p50: dict, backend: str, batch: int) -> str:
    base, other = p50.get(("onnxruntime", batch)), p50.get((backend, batch))
    return f"{base / other:.2f}×" if base and other else "–"


def section(records: list[dict], args: argparse.Namespace) -> str:
    env = records[0]["environment"]
    versions = env["versions"]
    lines = [
        "## int8 and float16 exports of trained CIFAR-10 models (`zoo export --int8 --fp16`)",
        "",
        f"`.venv/bin/python benchmarks/quantise_bench.py {' '.join(args.runs_text)}` on "
        f"{datetime.date.today()}: {this_machine().text()}, {env['threads']} threads for every "
        "runtime; torch "
        f"{versions['torch']}, onnxruntime {versions['onnxruntime']}"
        + (f", openvino {versions['openvino']}" if "openvino" in versions else "")
        + ". int8: ONNX Runtime static quantisation (QDQ, per-channel int8 weights, uint8 "
        "activations) calibrated on 300 images of the training split; float16: "
        "onnxconverter-common, float32 input and output. Top-1 of every file on the 10,000 real "
        "test images (from the export's manifest); speed as ONNX Runtime float32 p50 ÷ the "
        "file's p50, in the same `zoo bench` run (interleaved).",
        "",
        "| model (trained epochs) | fp32 MB | int8 MB | size ratio | top-1 fp32 | top-1 int8 "
        "| drop (points) | top-1 fp16 | int8 speed-up b1 | b32 | fp16 speed-up b1 | b32 "
        "| OpenVINO fp32 speed-up b1 | b32 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for record in records:
        files, p50 = record["files"], record["p50"]
        fp32, int8 = files["fp32"], files["int8"]
        acc = {k: f["facts"]["accuracy"]["top1"] for k, f in files.items()}
        lines.append(
            f"| {record['model']} ({record['epochs']}) | {fp32['bytes'] / 1e6:.2f} "
            f"| {int8['bytes'] / 1e6:.2f} | {fp32['bytes'] / int8['bytes']:.2f}× "
            f"| {acc['fp32']:.2%} | {acc['int8']:.2%} "
            f"| {int8['facts']['accuracy']['drop_points']:.2f} | {acc['fp16']:.2%} "
            f"| {ratio(p50, 'onnxruntime-int8', 1)} | {ratio(p50, 'onnxruntime-int8', 32)} "
            f"| {ratio(p50, 'onnxruntime-fp16', 1)} | {ratio(p50, 'onnxruntime-fp16', 32)} "
            f"| {ratio(p50, 'openvino', 1)} | {ratio(p50, 'openvino', 32)} |"
        )
    lines += ["", "p50 latency (ms) per backend, and how each was measured:", ""]
    for record in records:
        p50 = record["p50"]
        backends = list(dict.fromkeys(backend for backend, _ in p50))
        cells = ", ".join(
            f"{b} {p50[(b, 1)]:.3f} / {p50[(b, 32)]:.2f}"
            for b in backends
            if (b, 1) in p50 and (b, 32) in p50
        )
        lines += [
            f"- **{record['model']}** ({record['run']}; batch 1 / batch 32): {cells}. "
            f"Machine: {record['load']}. Bench parity and top-1 on {record['bench_inputs']}.",
            f"  `{record['export_command']}` ({record['export_seconds']:.0f} s), then "
            f"`{record['bench_command']}`",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "runs",
        nargs="+",
        help="trained cifar10-* run directories, or model names (shipped weights)",
    )
    parser.add_argument("--data-dir", default="/tmp/cifar10", help="CIFAR-10 JPEGs, for names")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--min-time", type=float, default=2.0)
    parser.add_argument("--max-time", type=float, default=60.0)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()
    args.runs_text = list(args.runs)
    records = []
    with tempfile.TemporaryDirectory(prefix="zoo-quantise-bench-") as scratch:
        for run_dir in args.runs:
            print(f"{run_dir} ...", flush=True)
            records.append(measure(run_dir, Path(scratch), args))
            write_section("quantise-bench", section(records, args), args.results)
    print(section(records, args))


if __name__ == "__main__":
    main()
