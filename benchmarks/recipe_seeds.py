"""cifar10-cnn's recipe over several seeds: `zoo train` against the plain tutorial loop, on real
CIFAR-10 (the JPEG copy), CPU. Answers whether zoo's loop trains as well as the tutorial's, and
how far one run's final test accuracy is from another's.

    python3 ../shared/data/cifar10/jpeg_pack.py unpack ../shared/data/cifar10/cifar10-jpg.pack /tmp/cifar10
    .venv/bin/python benchmarks/recipe_seeds.py --data-dir /tmp/cifar10 --zoo-seeds 2 3 \\
        --tutorial-seeds 0 1 2 --reuse /tmp/zoo-accuracy-runs /tmp/acc-seed1

The tutorial loop is written here from scratch, independent of zoo: the network as a plain
``nn.Module``, torchvision's ImageFolder with ToTensor + Normalize(0.5, 0.5), a DataLoader with
``shuffle=True`` at batch 25, Adam lr 1e-3, cross-entropy, 20 epochs, test accuracy after each
epoch in eval mode. To save time its transformed images are computed once and held in memory
(the transforms are deterministic, so every batch is the one the per-sample loop would give)
and glibc keeps freed memory (allocation only; the arithmetic is unchanged). Each run is a fresh
subprocess. ``--reuse`` adds earlier `zoo train` runs of the recipe (their metrics.jsonl). Writes
JSON and a PNG of test accuracy per epoch.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import train_accuracy  # this folder's `zoo train` runner

TARGET = 0.718
EPOCHS, BATCH, LR = 20, 25, 1e-3


def tutorial_run(data_dir: Path, seed: int, cache: Path) -> list[float]:
    """Test accuracy after each epoch of the tutorial loop (run in this process)."""
    import torch
    from safetensors.torch import load_file, save_file
    from torch import nn
    from torchvision import datasets, transforms

    from zoo.train.loop import keep_freed_memory

    class Net(nn.Module):
        """The tutorial's network, layer for layer."""

        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(3, 64, 5), nn.BatchNorm2d(64)
            self.conv2, self.bn2 = nn.Conv2d(64, 32, 5), nn.BatchNorm2d(32)
            self.pool, self.dropout = nn.MaxPool2d(2), nn.Dropout(0.2)
            self.fc1, self.fc2, self.fc3 = nn.Linear(800, 64), nn.Linear(64, 32), nn.Linear(32, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.pool(torch.relu(self.bn1(self.conv1(x))))
            x = self.pool(torch.relu(self.bn2(self.conv2(x))))
            x = self.dropout(torch.relu(self.fc1(x.flatten(1))))
            x = self.dropout(torch.relu(self.fc2(x)))
            return self.fc3(x)

    keep_freed_memory()
    if not cache.is_file():
        transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
        )
        tensors = {}
        for split in ("train", "test"):
            folder = datasets.ImageFolder(str(data_dir / split), transform=transform)
            loader = torch.utils.data.DataLoader(folder, batch_size=1000, num_workers=2)
            images, labels = zip(*loader, strict=True)
            tensors[f"{split}_images"], tensors[f"{split}_labels"] = (
                torch.cat(images),
                torch.cat(labels),
            )
        save_file(tensors, str(cache))
    data = load_file(str(cache))
    train = torch.utils.data.TensorDataset(data["train_images"], data["train_labels"])
    torch.manual_seed(seed)
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    loader = torch.utils.data.DataLoader(train, batch_size=BATCH, shuffle=True)
    accuracies = []
    for epoch in range(EPOCHS):
        started = time.perf_counter()
        model.train()
        for inputs, labels in loader:
            optimizer.zero_grad()
            loss_fn(model(inputs), labels).backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for start in range(0, len(data["test_labels"]), 1000):
                outputs = model(data["test_images"][start : start + 1000])
                correct += int(
                    (outputs.argmax(1) == data["test_labels"][start : start + 1000]).sum()
                )
        accuracies.append(correct / len(data["test_labels"]))
        seconds = time.perf_counter() - started
        print(
            f"seed {seed} epoch {epoch + 1}: {accuracies[-1]:.4f} ({seconds:.0f} s)",
            file=sys.stderr,
        )
    return accuracies


def zoo_run(data_dir: Path, seed: int, out: Path) -> list[float]:
    """Test accuracy after each epoch of `zoo train cifar10-cnn` with its recipe."""
    run, _ = train_accuracy.train("cifar10-cnn", ["--seed", str(seed)], data_dir, out)
    return accuracies_of(run / "metrics.jsonl")


def accuracies_of(metrics_file: Path) -> list[float]:
    """Test accuracy per epoch (recorded as ``val_accuracy`` by zoo before it labelled the test
    split as such)."""
    lines = [json.loads(line) for line in metrics_file.read_text().splitlines()]
    return [line.get("test_accuracy", line.get("val_accuracy")) for line in lines]


def reused_runs(folder: Path) -> dict[int, list[float]]:
    """Finished 20-epoch `zoo train cifar10-cnn` recipe runs under ``folder``, by seed."""
    found = {}
    for config_file in sorted(folder.glob("**/cifar10-cnn-imagefolder-*/config.json")):
        config = json.loads(config_file.read_text())
        history = accuracies_of(config_file.with_name("metrics.jsonl"))
        recipe = (config["optimizer"], config["lr"], config["batch_size"], config["epochs"])
        # no schedule, no augmentation: `augment` (runs from before zoo split it), else `flip`
        # and `translate`
        augment = config.get("augment", "none")
        flips = config.get("flip", "none") != "none" or config.get("translate", 0) != 0
        plain = config.get("scheduler", "none") == "none" and augment == "none" and not flips
        if recipe == ("adam", LR, BATCH, EPOCHS) and plain and len(history) == EPOCHS:
            found[config["seed"]] = history
    return found


def summary(runs: dict[int, list[float]]) -> dict[str, object]:
    finals = [history[-1] for history in runs.values()]
    return {
        "seeds": sorted(runs),
        "final": {str(seed): history[-1] for seed, history in sorted(runs.items())},
        "best": {str(seed): max(history) for seed, history in sorted(runs.items())},
        "final_mean": statistics.mean(finals),
        "final_stdev": statistics.stdev(finals) if len(finals) > 1 else None,
        "mean_of_last_5_epochs": statistics.mean(
            h[-5:][i] for h in runs.values() for i in range(5)
        ),
        "runs_at_or_above_target": sum(final >= TARGET for final in finals),
    }


def difference(
    zoo: dict[int, list[float]], tutorial: dict[int, list[float]], last: int
) -> dict[str, float] | None:
    """Mean of (each seed's mean over its last ``last`` epochs), zoo minus tutorial, with the
    standard error of that difference and Welch's t (|t| < 2: no difference the runs can show)."""
    if len(zoo) < 2 or len(tutorial) < 2:
        return None
    a = [statistics.mean(history[-last:]) for history in zoo.values()]
    b = [statistics.mean(history[-last:]) for history in tutorial.values()]
    error = (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5
    gap = statistics.mean(a) - statistics.mean(b)
    return {"zoo_minus_tutorial": gap, "standard_error": error, "welch_t": gap / error}


def build_report(results: dict[str, dict[int, list[float]]]) -> dict[str, object]:
    zoo, tutorial = results["zoo train"], results["tutorial loop"]
    return {
        "target": TARGET,
        "recipe": {"optimizer": "adam", "lr": LR, "batch_size": BATCH, "epochs": EPOCHS},
        "summary": {loop: summary(runs) for loop, runs in results.items() if runs},
        "difference_final_epoch": difference(zoo, tutorial, 1),
        "difference_last_5_epochs": difference(zoo, tutorial, 5),
        "histories": {loop: {str(s): h for s, h in runs.items()} for loop, runs in results.items()},
    }


def write(results: dict[str, dict[int, list[float]]], out: Path) -> dict[str, object]:
    """recipe-seeds.json and recipe-seeds.png in ``out``; the report."""
    report = build_report(results)
    (out / "recipe-seeds.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(results, out / "recipe-seeds.png")
    return report


def plot(results: dict[str, dict[int, list[float]]], path: Path) -> None:
    """Test accuracy per epoch, a line per seed; beside it, each seed's final accuracy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (curves, finals) = plt.subplots(
        1, 2, figsize=(10, 5), gridspec_kw={"width_ratios": [3, 1]}, sharey=True
    )
    for place, ((loop, runs), color) in enumerate(
        zip(results.items(), ("tab:blue", "tab:orange"), strict=True)
    ):
        for index, history in enumerate(runs.values()):
            epochs = range(1, len(history) + 1)
            label = loop if index == 0 else None
            curves.plot(epochs, [100 * a for a in history], color=color, alpha=0.7, label=label)
        ends = [100 * history[-1] for history in runs.values()]
        finals.scatter([place] * len(ends), ends, color=color, alpha=0.8)
        if ends:
            mean = statistics.mean(ends)
            finals.hlines(mean, place - 0.25, place + 0.25, color=color)
    for axes in (curves, finals):
        axes.axhline(100 * TARGET, color="gray", linestyle="--")
        axes.grid(alpha=0.3)
    curves.plot([], [], color="gray", linestyle="--", label=f"target {100 * TARGET:.1f} %")
    curves.set(xlabel="epoch", ylabel="test accuracy (%)", xlim=(0.5, EPOCHS + 0.5), ylim=(64, 74))
    curves.set_xticks(range(2, EPOCHS + 1, 2))
    curves.set_title("cifar10-cnn recipe, CIFAR-10 (JPEG copy), CPU: a line per seed")
    curves.legend(loc="lower right")
    finals.set(xlim=(-0.6, 1.6), xticks=[0, 1], xticklabels=list(results), title="final epoch")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/cifar10"))
    parser.add_argument("--zoo-seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--tutorial-seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument(
        "--reuse", type=Path, nargs="*", default=[], help="folders of earlier `zoo train` runs"
    )
    parser.add_argument("--out", type=Path, default=Path("/tmp/zoo-recipe-seeds"))
    parser.add_argument(
        "--rewrite", action="store_true", help="rewrite the JSON and PNG in --out from its runs"
    )
    parser.add_argument("--tutorial", type=int, help=argparse.SUPPRESS)  # one run, in-process
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.rewrite:
        saved = json.loads((args.out / "recipe-seeds.json").read_text())["histories"]
        runs = {loop: {int(s): h for s, h in runs.items()} for loop, runs in saved.items()}
        report = write(runs, args.out)
        print(json.dumps({k: v for k, v in report.items() if k != "histories"}, indent=2))
        return
    cache = args.out / "tutorial-tensors.safetensors"
    if args.tutorial is not None:
        print(json.dumps(tutorial_run(args.data_dir, args.tutorial, cache)))
        return
    results: dict[str, dict[int, list[float]]] = {"zoo train": {}, "tutorial loop": {}}
    for folder in args.reuse:
        results["zoo train"].update(reused_runs(folder))
    jobs = [("zoo train", seed) for seed in args.zoo_seeds if seed not in results["zoo train"]]
    jobs += [("tutorial loop", seed) for seed in args.tutorial_seeds]
    jobs.sort(key=lambda job: job[1])  # interleaved, so a cut-short sweep still compares both
    for loop, seed in jobs:
        if loop == "zoo train":
            results[loop][seed] = zoo_run(args.data_dir, seed, args.out)
        else:
            command = [sys.executable, __file__, "--tutorial", str(seed)]
            command += ["--data-dir", str(args.data_dir), "--out", str(args.out)]
            output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
            results[loop][seed] = json.loads(output.splitlines()[-1])
        report = write(results, args.out)
        shown = {key: value for key, value in report.items() if key != "histories"}
        print(json.dumps(shown, indent=2), flush=True)


if __name__ == "__main__":
    main()
