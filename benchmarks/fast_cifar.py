"""`cifar10-fast` on the CIFAR-10 JPEG copy: accuracy over seeds with and without test-time
augmentation, wall time, the FLOP rate against the CPU's peak, and the trainer's overhead against
a bare loop of the same model, steps and augmentation.

    .venv/bin/python benchmarks/fast_cifar.py seeds --data-dir /tmp/cifar10 --seeds 0 1 2
    .venv/bin/python benchmarks/fast_cifar.py anchor --data-dir /tmp/cifar10 --script airbench94.py
    .venv/bin/python benchmarks/fast_cifar.py overhead --data-dir /tmp/cifar10
    .venv/bin/python benchmarks/fast_cifar.py precision --data-dir /tmp/cifar10   # bf16 ÷ fp32
    .venv/bin/python benchmarks/fast_cifar.py report        # writes its section of RESULTS.md

Each `seeds` run is `zoo train cifar10-fast -d imagefolder --data-dir DIR --seed S` in a fresh
process: its wall time includes start-up, reading the decoded images, every epoch's evaluation
and the recipe's final flip-translate evaluation of the kept weights (`--tta`, in the run's
precision); extra `zoo train` options follow `--`. Results go to
benchmarks/fast-cifar.json, one record per run, kept across invocations.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from results_file import write_section

from zoo.machine import this_machine

ROOT = Path(__file__).resolve().parent.parent
RECORDS = Path(__file__).resolve().parent / "fast-cifar.json"
ZOO = str(Path(sys.executable).with_name("zoo"))
ANCHOR = "airbench94's own script (the anchor)"
FMA_PIPES = 2  # 512-bit FMA pipes per core (Zen 4/5, Xeon): an estimate, said so in the report


def records() -> list[dict[str, Any]]:
    return json.loads(RECORDS.read_text()) if RECORDS.is_file() else []


def save(record: dict[str, Any]) -> None:
    from zoo.files import write_json

    write_json(RECORDS, [*records(), record])


def train_once(
    model: str, data_dir: str, seed: int, extra: list[str], out: Path, label: str
) -> dict[str, Any]:
    """One `zoo train`, timed from outside, its TTA figure read from its eval folder."""
    command = [ZOO, "train", model, "-d", "imagefolder", "--data-dir", data_dir]
    command += ["--seed", str(seed), "--out", str(out), *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    run = next(
        line.split(": ", 1)[1]
        for line in done.stdout.splitlines()
        if line.startswith("run directory")
    )
    history = [json.loads(line) for line in (Path(run) / "metrics.jsonl").read_text().splitlines()]
    (tested,) = Path(run).glob("eval/*-test-tta-*/metrics.json")
    tta = json.loads(tested.read_text())
    card = json.loads((Path(run) / "checkpoints" / "last.json").read_text())
    return {
        "label": label,
        "model": model,
        "seed": seed,
        "command": " ".join(["zoo", *command[1:]]),
        "run": run,
        "wall_seconds": round(wall, 1),
        "train_seconds": round(sum(row["train_seconds"] for row in history), 1),
        "epoch_seconds": round(sum(row["seconds"] for row in history), 1),
        "accuracy": history[-1]["test_accuracy"],
        "tta_accuracy": tta["accuracy"],
        "tta": tta["tta"],
        "precision": card["training"]["precision"],
        "epochs": len(history),
        "machine": this_machine().to_json(),
        "mhz": clock_mhz(),
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }


def anchor_once(data_dir: str, script: Path) -> dict[str, Any]:
    """airbench94's own script on this CPU (benchmarks/airbench_anchor.py), timed from outside."""
    driver = Path(__file__).with_name("airbench_anchor.py")
    command = [sys.executable, str(driver), "--script", str(script), "--data-dir", data_dir]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(done.stdout + done.stderr)
    record = json.loads(done.stdout[done.stdout.rindex("\n{") :])
    return {
        "label": ANCHOR,
        "command": " ".join([".venv/bin/python", "benchmarks/airbench_anchor.py", *command[2:]]),
        "tta_accuracy": record["mean_tta_accuracy"],
        "wall_seconds": round(wall, 1),
        "when": time.strftime("%Y-%m-%d %H:%M"),
        "machine": record["machine"],
    }


@functools.cache
def flops_per_image(model_name: str = "cifar10-fast") -> tuple[float, float]:
    """Forward and training (forward, backward, update) FLOPs per 32×32 image, counted by
    torch's FlopCounterMode on a real step of the network."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import zoo

    model = zoo.create_model(model_name)
    x = torch.randn(8, 3, 32, 32)
    with FlopCounterMode(display=False) as counter:
        model(x)
    forward = counter.get_total_flops() / len(x)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return forward, counter.get_total_flops() / len(x)


def clock_mhz() -> float:
    """The highest clock /proc/cpuinfo reports (a VM's nominal clock, not a turbo measurement)."""
    mhz = 0.0
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.lower().startswith("cpu mhz"):
            mhz = max(mhz, float(line.split(":")[1]))
    return mhz


def peak_gflops(precision: str, machine: dict[str, Any], mhz: float) -> float:
    """A CPU's peak rate from its features and clock: FMA lanes per cycle (16 float32 lanes
    with AVX-512, 8 with AVX2; bf16's dot-product instruction doubles them where native),
    times the pipes, cores and clock."""
    lanes = 16 if "AVX-512" in machine["features"] else 8
    native = precision == "bf16" and machine["native_bf16"]
    per_cycle = 2 * lanes * FMA_PIPES * (2 if native else 1)
    return machine["cores"] * per_cycle * mhz / 1e3


def bare_epoch(data_dir: str, seed: int) -> float:
    """One epoch of cifar10-fast's recipe in a plain loop: the same network, tensors, batch
    pipeline, loss, optimizer groups, schedule and lookahead as zoo's trainer, none of its
    progress, metrics, checkpoints or events. The seconds of its training steps."""
    import torch

    from zoo.artifacts.card import Preprocessing
    from zoo.datasets.folder import ImageFolderDataset
    from zoo.models.airbench import CIFAR_MEAN, CIFAR_STD, cifar10_fast
    from zoo.train.config import resolve
    from zoo.train.data import Augmentation, BatchPipeline
    from zoo.train.objective import Objective
    from zoo.train.optimisation import WeightAverage, make_optimizer, make_scheduler

    config = resolve("cifar10-fast", {"dataset": "imagefolder", "data_dir": data_dir, "epochs": 1})
    images, labels = ImageFolderDataset(data_dir).as_tensors()
    torch.manual_seed(seed)
    model = cifar10_fast().to(memory_format=torch.channels_last)
    pipeline = BatchPipeline(
        Preprocessing((3, 32, 32), CIFAR_MEAN, CIFAR_STD),
        torch.device("cpu"),
        channels_last=True,
        augmentation=Augmentation.of(config),
        seed=seed,
    )
    model.zoo_data_init(pipeline(images[torch.randperm(len(images))[:5000]]))
    optimizer = make_optimizer(config, model)
    steps = len(images) // config.batch_size  # the recipe drops the last, smaller batch
    schedule = make_scheduler(config, optimizer, steps)
    average = WeightAverage(model, config, steps)
    objective = Objective("classification", "logits", 10, config.label_smoothing)
    order = torch.randperm(len(images))
    pipeline.start_epoch(1, 0)
    started = time.perf_counter()
    model.train()
    for step, begin in enumerate(range(0, steps * config.batch_size, config.batch_size), 1):
        index = order[begin : begin + config.batch_size]
        inputs = pipeline(images[index], index, train=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = objective.loss(model(inputs), labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()  # type: ignore[union-attr]
        average.update(model, step)
    return time.perf_counter() - started


def zoo_epoch(data_dir: str, seed: int, out: Path, extra: tuple[str, ...] = ()) -> float:
    """The train seconds of one epoch of `zoo train cifar10-fast --epochs 1`."""
    command = [ZOO, "train", "cifar10-fast", "-d", "imagefolder", "--data-dir", data_dir]
    command += ["--epochs", "1", "--seed", str(seed), "--out", str(out), *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    run = next(
        line.split(": ", 1)[1]
        for line in done.stdout.splitlines()
        if line.startswith("run directory")
    )
    return json.loads((Path(run) / "metrics.jsonl").read_text().splitlines()[-1])["train_seconds"]


def features(row: dict[str, Any]) -> str:
    """The CPU features of the machine a record was measured on."""
    return ", ".join(row["machine"]["features"]) or "none recorded"


def paired_medians(
    rows: list[dict[str, Any]], first: str, second: str
) -> tuple[float, float, int] | None:
    """The medians of two interleaved measurements over the records that hold them, and how many
    records there are; None when there are none."""
    pairs = [r for r in rows if first in r]
    if not pairs:
        return None
    medians = [statistics.median(r[key] for r in pairs) for key in (first, second)]
    return medians[0], medians[1], len(pairs)


def save_pair(first: str, first_seconds: float, second: str, second_seconds: float) -> None:
    """One interleaved pair, printed and kept with the machine it ran on."""
    record = {first: first_seconds, second: second_seconds}
    print(json.dumps(record), flush=True)
    save(record | {"machine": this_machine().to_json()})


def report() -> str:
    rows = records()
    forward, training = flops_per_image()
    lines = [
        "## cifar10-fast: airbench94's recipe in `zoo train`, on the CIFAR-10 JPEG copy",
        "",
        "`.venv/bin/python benchmarks/fast_cifar.py seeds|overhead|report` (each row's command is",
        "in `benchmarks/fast-cifar.json`), on 2-core AMD EPYC VMs with the CPU features each row"
        " names; this report was written on " + this_machine().text() + ".",
        f"cifar10-fast costs {forward / 1e9:.3f} GFLOP per image forward and {training / 1e9:.3f}"
        " forward, backward and update (torch's FlopCounterMode; cifar10-fast-wide's rows use its"
        " own count).",
        "",
        "| run | seed | precision | CPU features | test accuracy | with TTA (flip-translate) "
        "| wall (s) | train (s) | GFLOP/s | of peak |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_label: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row.get("label") == ANCHOR:
            by_label.setdefault(ANCHOR, []).append(row)
            lines.append(
                f"| {ANCHOR} | – | bf16 | {features(row)} | – | {100 * row['tta_accuracy']:.2f} % | "
                f"{row['wall_seconds']:.0f} | – | – | – |"
            )
            continue
        if "tta_accuracy" not in row:
            continue
        by_label.setdefault(f"{row['label']}, {row['precision']}, {features(row)}", []).append(row)
        images = 50_000 * row["epochs"]
        rate = (
            flops_per_image(row.get("model", "cifar10-fast"))[1]
            * images
            / row["train_seconds"]
            / 1e9
        )
        share = "clock not recorded"
        if row.get("mhz"):
            share = f"{rate / peak_gflops(row['precision'], row['machine'], row['mhz']):.0%}"
        lines.append(
            f"| {row['label']} | {row['seed']} | {row['precision']} | {features(row)} "
            f"| {100 * row['accuracy']:.2f} % | {100 * row['tta_accuracy']:.2f} % "
            f"| {row['wall_seconds']:.0f} | {row['train_seconds']:.0f} | {rate:.0f} | {share} |"
        )
    lines.append("")
    for row in rows:
        if row.get("note"):
            lines.append(f"- {row['label']}, seed {row.get('seed', '–')}: {row['note']}")
    for label, runs in by_label.items():
        accuracies = [100 * r["tta_accuracy"] for r in runs]
        walls = [r["wall_seconds"] for r in runs]
        spread = f" ± {statistics.stdev(accuracies):.2f}" if len(runs) > 1 else ""
        lines.append(
            f"- **{label}**: {len(runs)} seed(s), mean with TTA {statistics.mean(accuracies):.2f} %"
            f"{spread}, mean wall {statistics.mean(walls) / 60:.1f} min."
        )
    overhead = paired_medians(rows, "zoo_seconds", "bare_seconds")
    if overhead:
        zoo_s, bare_s, count = overhead
        lines.append(
            f"- Trainer overhead: one epoch's training steps take {zoo_s:.1f} s in `zoo train` "
            f"and {bare_s:.1f} s in a bare loop of the same network, tensors, batch pipeline, "
            f"optimizer, schedule and lookahead ({zoo_s / bare_s - 1:+.1%}; medians of "
            f"{count} interleaved pairs)."
        )
    precision = paired_medians(rows, "bf16_seconds", "fp32_seconds")
    if precision:
        bf16_s, fp32_s, count = precision
        machine = features(next(r for r in reversed(rows) if "bf16_seconds" in r))
        lines.append(
            f"- bf16 against float32 on one CPU ({machine}): one epoch's training "
            f"steps take {bf16_s:.1f} s with `--precision bf16` and {fp32_s:.1f} s with "
            f"`--precision fp32`, bf16 {fp32_s / bf16_s:.2f}× as fast (medians of {count} "
            "interleaved pairs of `zoo train cifar10-fast --epochs 1`)."
        )
    lines.append(
        f"- Peak: {FMA_PIPES} FMA pipes × 16 float32 lanes (AVX-512; 8 with AVX2) × 2 FLOP per "
        "cycle per core (× 2 for bf16's dot-product instruction where native), times the cores "
        "and the clock /proc/cpuinfo reports: an estimate, not a measurement."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["seeds", "anchor", "overhead", "precision", "report"])
    parser.add_argument("--script", type=Path, help="airbench94.py, for anchor")
    parser.add_argument("--data-dir", default="/tmp/cifar10")
    parser.add_argument("--model", default="cifar10-fast", help="for seeds: cifar10-fast(-wide)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--label", default="cifar10-fast (airbench94 recipe)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/fast-cifar-runs"))
    parser.add_argument("--pairs", type=int, default=2)
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    if args.what == "seeds":
        for seed in args.seeds:
            record = train_once(args.model, args.data_dir, seed, extra, args.out, args.label)
            print(json.dumps(record), flush=True)
            save(record)
    elif args.what == "anchor":
        record = anchor_once(args.data_dir, args.script)
        print(json.dumps(record), flush=True)
        save(record)
    elif args.what == "overhead":
        for pair in range(args.pairs):
            zoo_seconds = zoo_epoch(args.data_dir, pair, args.out)
            save_pair("zoo_seconds", zoo_seconds, "bare_seconds", bare_epoch(args.data_dir, pair))
    elif args.what == "precision":
        for pair in range(args.pairs):
            bf16 = zoo_epoch(args.data_dir, pair, args.out, ("--precision", "bf16"))
            fp32 = zoo_epoch(args.data_dir, pair, args.out, ("--precision", "fp32"))
            save_pair("bf16_seconds", bf16, "fp32_seconds", fp32)
    text = report()
    print(text)
    if args.what == "report":
        write_section("fast-cifar", text)


if __name__ == "__main__":
    main()
