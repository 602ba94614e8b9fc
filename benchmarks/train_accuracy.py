"""Accuracy and time to accuracy of `zoo train` on real CIFAR-10 (the JPEG copy), on CPU.

    python3 ../shared/data/cifar10/jpeg_pack.py unpack ../shared/data/cifar10/cifar10-jpg.pack /tmp/cifar10
    .venv/bin/python benchmarks/train_accuracy.py --data-dir /tmp/cifar10

Runs, each as a `zoo train` subprocess on ``imagefolder`` with the model's recipe (validation
on the test split, as the recipes say): cifar10-cnn for its 20 epochs and cifar10-tinycnn for 4.
Reports the final and best test accuracy, `zoo eval`'s test accuracy of the best checkpoint,
and the time (summed epoch times, validation included) until the test accuracy first reached
the target. Writes the numbers to JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = (  # model, extra flags, target test accuracy
    ("cifar10-cnn", [], 0.718),
    ("cifar10-tinycnn", ["--epochs", "4"], 0.685),
)


def train(model: str, flags: list[str], data_dir: Path, out: Path) -> tuple[Path, float]:
    """Run `zoo train`; the run directory and the command's wall time."""
    zoo = Path(sys.executable).with_name("zoo")
    out.mkdir(parents=True, exist_ok=True)
    runs = Path(tempfile.mkdtemp(prefix=f"{model}-", dir=out))
    command = [str(zoo), "train", model, "--dataset", "imagefolder", "--data-dir", str(data_dir)]
    command += ["--device", "cpu", "--out", str(runs), *flags]
    print("$", " ".join(command), flush=True)
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    (run,) = (p for p in runs.iterdir() if p.is_dir())
    return run, wall


def summarise(model: str, run: Path, wall: float, target: float) -> dict[str, object]:
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for metrics in history:  # runs from before zoo labelled the test split as such
        metrics.setdefault("test_accuracy", metrics.get("val_accuracy"))
    elapsed, reached = 0.0, None
    for metrics in history:
        elapsed += metrics["seconds"]
        if reached is None and metrics["test_accuracy"] >= target:
            reached = {"epoch": metrics["epoch"], "seconds": round(elapsed, 1)}
    zoo = Path(sys.executable).with_name("zoo")
    evaluation = subprocess.run(
        [str(zoo), "eval", str(run), "--split", "test", "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return {
        "model": model,
        "run": str(run),
        "epochs": len(history),
        "final_test_accuracy": history[-1]["test_accuracy"],
        "best_test_accuracy": max(m["test_accuracy"] for m in history),
        "eval_kept_checkpoint_test_accuracy": json.loads(evaluation.stdout)["accuracy"],
        "target": target,
        "reached_target": reached,
        "train_seconds": round(sum(m["seconds"] for m in history), 1),
        "wall_seconds_with_startup": round(wall, 1),
        "images_per_second": [m["images_per_second"] for m in history],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/cifar10"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/zoo-accuracy-runs"))
    parser.add_argument("--models", nargs="+", default=[model for model, _, _ in RUNS])
    parser.add_argument("--json", type=Path, default=Path("/tmp/zoo-train-accuracy.json"))
    args = parser.parse_args()
    results = []
    for model, flags, target in RUNS:
        if model in args.models:
            run, wall = train(model, flags, args.data_dir, args.out)
            results.append(summarise(model, run, wall, target))
            print(json.dumps(results[-1], indent=2), flush=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
