"""Training speed on CPU, side by side in one run: the plain tutorial loop, the model's compute
limit (eager and channels_last), and `zoo train`; prints images/s and the ratios, writes JSON.
The machine is noisy, so each is measured in several interleaved rounds and the medians compared.

    python3 ../shared/data/cifar10/jpeg_pack.py unpack ../shared/data/cifar10/cifar10-jpg.pack /tmp/cifar10
    .venv/bin/python benchmarks/train_speed.py --data-dir /tmp/cifar10 --batch-size 25 128

The tutorial loop is torchvision's ImageFolder over the JPEG folders with ToTensor + Normalize per
sample and a DataLoader with 2 workers. The compute limit runs the same forward, backward and
optimizer steps on one batch already in memory: eager, channels_last, and channels_last with
glibc keeping freed memory (what `zoo train` sets on CPU; by default every step page-faults its
activation buffers back in). Each loop runs in a fresh process. `zoo train` runs one epoch of cifar10-cnn on
``imagefolder`` in a subprocess; its images/s is the training phase of that epoch, read from the
run's metrics.jsonl (the end-to-end epoch time, validation included, is reported beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from torchvision import transforms

import zoo
from zoo.machine import this_machine

MODEL = "cifar10-cnn"


def build(channels_last: bool = False) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = zoo.create_model(MODEL, num_classes=10, input_shape=(3, 32, 32))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model.train(), torch.optim.Adam(model.parameters(), lr=1e-3)


def tutorial_loop(data_dir: Path, batch_size: int, steps: int, warmup: int) -> float:
    """Images/s of the plain loop: per-sample PIL decoding and transforms in 2 workers."""
    transform = transforms.Compose(
        [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
    )
    dataset = torchvision.datasets.ImageFolder(str(data_dir / "train"), transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size, shuffle=True, num_workers=2)
    model, optimizer = build()
    loss_fn = torch.nn.CrossEntropyLoss()
    started, seen = 0.0, 0
    for step, (inputs, labels) in enumerate(loader):
        if step == warmup:
            started, seen = time.perf_counter(), 0
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
        seen += len(labels)
        if step + 1 == warmup + steps:
            break
    return seen / (time.perf_counter() - started)


def compute_limit(batch_size: int, steps: int, warmup: int, channels_last: bool) -> float:
    """Images/s of forward + backward + step on one normalised batch already in memory."""
    model, optimizer = build(channels_last)
    loss_fn = torch.nn.CrossEntropyLoss()
    inputs = torch.randn(batch_size, 3, 32, 32)
    if channels_last:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch_size,))
    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), labels)
        loss.backward()
        optimizer.step()
    return steps * batch_size / (time.perf_counter() - started)


def zoo_train(data_dir: Path, batch_size: int) -> dict[str, float]:
    """One epoch of `zoo train` in a subprocess: training-phase images/s and epoch seconds."""
    zoo_command = Path(sys.executable).with_name("zoo")
    with tempfile.TemporaryDirectory() as out:
        command = [
            str(zoo_command), "train", MODEL, "--dataset", "imagefolder", "--data-dir",
            str(data_dir), "--epochs", "1", "--batch-size", str(batch_size), "--device", "cpu",
            "--out", out,
        ]  # fmt: skip
        subprocess.run(command, check=True, capture_output=True, text=True)
        metrics_file = next(Path(out).glob("*/metrics.jsonl"))
        metrics = json.loads(metrics_file.read_text().splitlines()[0])
    return {"images_per_second": metrics["images_per_second"], "epoch_seconds": metrics["seconds"]}


LOOPS = ("tutorial", "compute_eager", "compute_channels_last", "compute_channels_last_malloc")


def measure(loop: str, data_dir: Path, batch_size: int, images: int) -> float:
    """Images/s of one loop, in this process."""
    steps, warmup = max(20, images // batch_size), 10
    if loop == "tutorial":
        return tutorial_loop(data_dir, batch_size, steps, warmup)
    if loop == "compute_channels_last_malloc":
        from zoo.train.loop import keep_freed_memory

        keep_freed_memory()  # what `zoo train` does on CPU
    return compute_limit(batch_size, steps, warmup, channels_last=loop != "compute_eager")


def measure_in_subprocess(loop: str, data_dir: Path, batch_size: int, images: int) -> float:
    """A fresh process per measurement: no allocator or thread state carries over."""
    command = [sys.executable, __file__, "--measure", loop, "--data-dir", str(data_dir)]
    command += ["--batch-size", str(batch_size), "--images", str(images)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def measure_round(data_dir: Path, batch_size: int, images: int) -> dict[str, float]:
    """One measurement of each loop, back to back."""
    row = {loop: measure_in_subprocess(loop, data_dir, batch_size, images) for loop in LOOPS}
    zoo_result = zoo_train(data_dir, batch_size)
    row["zoo"] = zoo_result["images_per_second"]
    row["zoo_epoch_seconds"] = zoo_result["epoch_seconds"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/cifar10"))
    parser.add_argument("--batch-size", type=int, nargs="+", default=[25, 128])
    parser.add_argument("--images", type=int, default=10000, help="images per timed loop")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/zoo-train-speed.json"))
    parser.add_argument("--measure", choices=LOOPS, help="measure one loop and print its images/s")
    args = parser.parse_args()
    if args.measure:
        print(measure(args.measure, args.data_dir, args.batch_size[0], args.images))
        return
    zoo.create_dataset("imagefolder", root=args.data_dir).as_tensors()  # decode and cache once
    results = []
    for batch_size in args.batch_size:
        rounds = []
        for index in range(args.rounds):
            rounds.append(measure_round(args.data_dir, batch_size, args.images))
            print(
                f"batch {batch_size} round {index + 1}: "
                + ", ".join(f"{key} {value:,.0f}" for key, value in rounds[-1].items()),
                flush=True,
            )
        row = {"batch_size": batch_size, "rounds": rounds}
        row.update({key: statistics.median(r[key] for r in rounds) for key in rounds[0]})
        best_limit = max(row[loop] for loop in LOOPS if loop.startswith("compute"))
        row["zoo_vs_tutorial"] = row["zoo"] / row["tutorial"]
        row["zoo_vs_best_compute_limit"] = row["zoo"] / best_limit
        results.append(row)
        print(
            f"batch {batch_size:>4} (median of {args.rounds}): tutorial {row['tutorial']:,.0f} "
            f"img/s | compute limit eager {row['compute_eager']:,.0f}, channels_last "
            f"{row['compute_channels_last']:,.0f}, channels_last + kept memory "
            f"{row['compute_channels_last_malloc']:,.0f} | zoo train {row['zoo']:,.0f} img/s (epoch "
            f"{row['zoo_epoch_seconds']:.1f} s with validation) | zoo/tutorial "
            f"{row['zoo_vs_tutorial']:.2f}x, zoo/best limit {row['zoo_vs_best_compute_limit']:.0%}",
            flush=True,
        )
    machine = {
        "cpu": this_machine().text(),
        "torch_threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    args.out.write_text(json.dumps({"machine": machine, "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
