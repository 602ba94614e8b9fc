"""Sweeps and TensorBoard, measured side by side; prints each result as a markdown section for
benchmarks/RESULTS.md (with the machine and its load) and writes it as JSON.

    .venv/bin/python benchmarks/sweep_bench.py overhead            # 2×2 mnist-mlp3 on mnist-5k
    .venv/bin/python benchmarks/sweep_bench.py jobs --data-dir /tmp/cifar10
    .venv/bin/python benchmarks/sweep_bench.py tensorboard --data-dir /tmp/cifar10
    .venv/bin/python benchmarks/sweep_bench.py fashion-grid        # the tutorial's own grid

overhead: `zoo sweep` of the 2×2 grid (lr 0.01/0.001 × batch size 100/1000) against the same four
runs as four `zoo train` processes, in interleaved rounds. A run's "own time" is its wall time in
the sweep from its start to its end (set-up, epochs, checkpoints, report: sweep_run.json); the
sweep's wall time adds what the sweep pays once (interpreter and library start-up, data decoding,
planning, the results table and plot). jobs: the same 4-run grid of cifar10-tinycnn (1 epoch) with
--jobs 1 and --jobs 2, interleaved. tensorboard: one epoch of cifar10-cnn with and without
--tensorboard, interleaved; the cost is the difference of the processes' wall times. Every
command runs in a fresh process with `--device cpu`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from zoo.machine import this_machine

ROOT = Path(__file__).resolve().parent.parent
ZOO = str(Path(sys.executable).with_name("zoo"))
GRID = ["--grid", "lr=0.01,0.001", "--grid", "batch_size=100,1000"]
COMBINATIONS = [(0.01, 100), (0.01, 1000), (0.001, 100), (0.001, 1000)]


def load() -> str:
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def machine() -> str:
    import torch

    return f"{this_machine().text()}; Python {platform.python_version()}, torch {torch.__version__}"


def timed(*args: str) -> float:
    """Wall seconds of one zoo command in a fresh process (it must succeed)."""
    started = time.perf_counter()
    result = subprocess.run(
        [ZOO, *args], capture_output=True, text=True, env=os.environ | {"COLUMNS": "200"}
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"zoo {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return seconds


def only(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def run_records(sweep: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(sweep.glob("*/sweep_run.json"))]


def epoch_seconds(run: Path) -> float:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return sum(json.loads(line)["seconds"] for line in lines)


def overhead(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    common = ["-d", "mnist-5k", "--device", "cpu"]
    rounds = []
    for index in range(args.rounds):
        out = scratch / f"overhead-{index}"
        sweep_wall = timed("sweep", "mnist-mlp3", *common, *GRID, "--out", str(out / "sweep"))
        records = run_records(only(out / "sweep", "sweep-*"))
        alone = []
        for lr, batch in COMBINATIONS:
            folder = out / f"train-{lr}-{batch}"
            wall = timed(
                "train", "mnist-mlp3", *common, "--lr", str(lr), "--batch-size", str(batch),
                "--val-split", "0.1", "--tensorboard", "--out", str(folder),
            )  # fmt: skip
            alone.append({"wall": wall, "epochs": epoch_seconds(only(folder, "*"))})
        rounds.append(
            {
                "sweep_wall": sweep_wall,
                "runs_own": sum(r["seconds"] for r in records),
                "runs_epochs": sum(r["epoch_seconds"] for r in records),
                "alone_wall": sum(a["wall"] for a in alone),
                "alone_epochs": sum(a["epochs"] for a in alone),
            }
        )
    medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    rows = [
        ("the four runs' own times in the sweep (start to end of each run)", medians["runs_own"]),
        ("the four runs' epochs only (train + validation)", medians["runs_epochs"]),
        ("the four runs as four `zoo train` processes", medians["alone_wall"]),
    ]
    lines = [
        f"`zoo sweep` wall time: {medians['sweep_wall']:.1f} s (median of {args.rounds} rounds)",
        "",
        "| compared with | seconds | sweep ÷ it |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {value:.1f} | {medians['sweep_wall'] / value:.2f}× |" for name, value in rows
    ]
    return {"rounds": rounds, "medians": medians, "markdown": "\n".join(lines)}


def jobs(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    common = ["cifar10-tinycnn", "-d", "imagefolder", "--data-dir", str(args.data_dir)]
    common += ["--epochs", "1", "--device", "cpu", "--grid", "lr=0.01,0.001"]
    common += ["--grid", "batch_size=32,64"]
    walls: dict[int, list[float]] = {1: [], 2: []}
    for index in range(args.rounds):
        for count in (1, 2) if index % 2 == 0 else (2, 1):
            out = scratch / f"jobs-{count}-{index}"
            walls[count].append(timed("sweep", *common, "--jobs", str(count), "--out", str(out)))
    one, two = statistics.median(walls[1]), statistics.median(walls[2])
    lines = [
        "| --jobs | wall time (s), median | each round (s) | vs --jobs 1 |",
        "|---|---|---|---|",
        f"| 1 | {one:.1f} | {', '.join(f'{w:.1f}' for w in walls[1])} | 1.00× |",
        f"| 2 | {two:.1f} | {', '.join(f'{w:.1f}' for w in walls[2])} | {one / two:.2f}× faster |",
    ]
    return {"walls": walls, "markdown": "\n".join(lines)}


# `zoo train` with the time spent in zoo's TensorBoard hook (its import included) added up and
# printed at exit: the cost measured directly, beside the difference of wall times
TIMED_TRAIN = """
import atexit, sys, time
import zoo.train.tensorboard as board
spent = [0.0]
def timed(function):
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started
    return wrapper
board.require = timed(board.require)  # the first import of torch.utils.tensorboard
# the run's observer: every event it handles (writer, samples, steps, epochs, hparams, close)
board.Board.__call__ = timed(board.Board.__call__)
atexit.register(lambda: print(f"tensorboard-seconds {spent[0]:.4f}"))
sys.argv[0] = "zoo"
from zoo.cli.app import main
main()
"""


def tensorboard(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    common = ["train", "cifar10-cnn", "-d", "imagefolder", "--data-dir", str(args.data_dir)]
    common += ["--epochs", "1", "--device", "cpu"]
    results: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
    for index in range(args.rounds):
        for name in ("without", "with") if index % 2 == 0 else ("with", "without"):
            out = scratch / f"tb-{name}-{index}"
            started = time.perf_counter()
            command = [sys.executable, "-c", TIMED_TRAIN, *common, "--out", str(out)]
            if name == "with":
                command.append("--tensorboard")
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - started
            hook = [line for line in done.stdout.splitlines() if line.startswith("tensorboard-")]
            results[name].append(
                {
                    "wall": wall,
                    "epoch": epoch_seconds(only(out, "*")),
                    "hook": float(hook[0].split()[1]) if hook else 0.0,
                }
            )
    pairs = list(zip(results["without"], results["with"], strict=True))
    costs = [b["wall"] - a["wall"] for a, b in pairs]
    epoch = statistics.median(r["epoch"] for r in results["without"] + results["with"])
    lines = [
        "| round | wall without (s) | wall with (s) | difference (s) | time in the hook (s) | "
        "hook ÷ epoch |",
        "|---|---|---|---|---|---|",
    ]
    for index, ((a, b), cost) in enumerate(zip(pairs, costs, strict=True), 1):
        lines.append(
            f"| {index} | {a['wall']:.1f} | {b['wall']:.1f} | {cost:+.2f} | {b['hook']:.3f} | "
            f"{100 * b['hook'] / b['epoch']:.2f} % |"
        )
    median, hook = statistics.median(costs), statistics.median(r["hook"] for r in results["with"])
    lines += [
        "",
        f"Median epoch {epoch:.1f} s (training and validation). Time in the TensorBoard hook "
        f"(import, writer, samples, per-epoch scalars and confusion image, hparams): median "
        f"{hook:.3f} s, {100 * hook / epoch:.2f} % of the epoch; difference of the wall times: "
        f"median {median:+.2f} s ({100 * median / epoch:+.1f} %).",
    ]
    return {"results": results, "markdown": "\n".join(lines)}


def fashion_grid(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    out = scratch / "fashion"
    wall = timed(
        "sweep", "fashion-cnn", "-d", "mnist-5k", "--device", "cpu", *GRID, "--out", str(out)
    )
    sweep = only(out, "sweep-*")
    rows = json.loads((sweep / "results.json").read_text())
    lines = [
        "| rank | lr | batch size | val accuracy (best epoch) | epochs | seconds |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['rank']} | {row['lr']} | {row['batch_size']} | "
            f"{100 * row['val_accuracy']:.2f} % | {row['epochs']} | {row['seconds']:.1f} |"
        )
    lines += ["", f"Whole sweep: {wall:.1f} s."]
    if args.keep:
        shutil.copy(sweep / "plots" / "sweep.png", args.keep)
        lines.append(f"Plot: {args.keep.name}")
    return {"rows": rows, "markdown": "\n".join(lines)}


BENCHMARKS = {
    "overhead": overhead,
    "jobs": jobs,
    "tensorboard": tensorboard,
    "fashion-grid": fashion_grid,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("benchmark", choices=sorted(BENCHMARKS))
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/cifar10"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="fashion-grid: copy the sweep's plot here")
    parser.add_argument("--json", type=Path, help="write the measurements here")
    args = parser.parse_args()
    before = load()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as scratch:
        result = BENCHMARKS[args.benchmark](args, Path(scratch))
    seconds = time.perf_counter() - started
    header = (
        f"`.venv/bin/python benchmarks/sweep_bench.py {' '.join(sys.argv[1:])}` on "
        f"{time.strftime('%Y-%m-%d')}: {machine()}; load average before {before}, after "
        f"{load()}; {seconds:.0f} s in all."
    )
    print(header + "\n\n" + result["markdown"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
