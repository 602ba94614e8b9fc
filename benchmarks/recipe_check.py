"""Check every built-in recipe against what its source published, and measure the one deviation
the README's first run makes.

    .venv/bin/python benchmarks/recipe_check.py

Prints a markdown table: for each built-in model, each recipe field as zoo declares it (read
from the registry, not copied) beside the source's published value, and whether they agree.
"Not stated" means the source does not give that field; zoo's value is then its own choice and
is named as such. Then trains mnist-mlp3 on mnist-5k with the recipe as published and with the
README's `--opt-arg momentum=0.9`, and prints both test accuracies.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import zoo

NOT_STATED = "not stated"
# What each model's source published (the catalogue issue quotes them): optimizer, lr, batch
# size, epochs, optimizer arguments, input normalisation; and where they come from.
SOURCES: dict[str, dict[str, object]] = {
    "cifar10-cnn": {
        "source": "CIFAR-10 CNN tutorial (batch-norm CNN; 73.58 % reported)",
        "optimizer": "adam", "lr": 1e-3, "batch_size": 25, "epochs": 20,
        "opt_args": {}, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
    },
    "cifar10-tinycnn": {
        "source": "small CIFAR-10 CNN tutorial (69.39 % reported)",
        "optimizer": "adam", "lr": 1e-3, "batch_size": 32, "epochs": 4,
        "opt_args": {}, "mean": NOT_STATED, "std": NOT_STATED,
    },
    "cifar10-vgg": {
        "source": "Jovian 'Deep Learning with PyTorch: Zero to GANs', CIFAR-10 CNN",
        "optimizer": NOT_STATED, "lr": NOT_STATED, "batch_size": NOT_STATED,
        "epochs": NOT_STATED, "opt_args": NOT_STATED, "mean": NOT_STATED, "std": NOT_STATED,
    },
    "mnist-logreg": {
        "source": "logistic regression on MNIST tutorial (plateaus at 80-85 %)",
        "optimizer": "sgd", "lr": NOT_STATED, "batch_size": 128, "epochs": NOT_STATED,
        "opt_args": {}, "mean": NOT_STATED, "std": NOT_STATED,
    },
    "mnist-mlp": {
        "source": "MNIST feed-forward network tutorial",
        "optimizer": "sgd", "lr": NOT_STATED, "batch_size": 128, "epochs": NOT_STATED,
        "opt_args": {}, "mean": NOT_STATED, "std": NOT_STATED,
    },
    "mnist-mlp3": {
        "source": "udacity/deep-learning-v2-pytorch, intro-to-pytorch, Part 3 - Training Neural "
        "Networks: Normalize(0.5, 0.5), batch_size=64, optim.SGD(lr=0.003), 5 epochs, NLLLoss",
        "optimizer": "sgd", "lr": 0.003, "batch_size": 64, "epochs": 5,
        "opt_args": {}, "mean": (0.5,), "std": (0.5,),
    },
    "fashion-cnn": {
        "source": "Fashion-MNIST CNN tutorial (run builder: lr 0.01/0.001 x batch 100/1000)",
        "optimizer": "adam", "lr": 0.01, "batch_size": 100, "epochs": NOT_STATED,
        "opt_args": {}, "mean": NOT_STATED, "std": NOT_STATED,
    },
    "linear-regression": {
        "source": "linear regression from scratch tutorial (crop yields)",
        "optimizer": "sgd", "lr": 1e-5, "batch_size": 11, "epochs": 100,
        "opt_args": {}, "mean": NOT_STATED, "std": NOT_STATED,
    },
    "flowers-transfer": {
        "source": "transfer learning tutorial (frozen ImageNet backbone, new head)",
        "optimizer": NOT_STATED, "lr": NOT_STATED, "batch_size": NOT_STATED,
        "epochs": NOT_STATED, "opt_args": NOT_STATED,
        "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225),
    },
}  # fmt: skip
FIELDS = ("optimizer", "lr", "batch_size", "epochs", "opt_args", "mean", "std")


def recipe_rows() -> list[str]:
    """A markdown row per model and field: zoo's value, the source's, and the verdict."""
    rows = ["| model | field | zoo's recipe | source | agrees |", "|---|---|---|---|---|"]
    for name in zoo.list_models():
        if name not in SOURCES:
            continue
        recipe = zoo.get_model_info(name).recipe
        for field in FIELDS:
            mine, theirs = getattr(recipe, field), SOURCES[name][field]
            if isinstance(mine, tuple | list):
                mine = tuple(mine)
            verdict = (
                "zoo's choice" if theirs == NOT_STATED else ("yes" if mine == theirs else "NO")
            )
            if field in ("mean", "std") and mine is None:
                mine = "the dataset's"
            rows.append(f"| {name} | {field} | {mine} | {theirs} | {verdict} |")
    return rows


def accuracy(extra: list[str]) -> float:
    """Final test accuracy of `zoo train mnist-mlp3 -d mnist-5k` with ``extra`` flags."""
    zoo_command = Path(sys.executable).with_name("zoo")
    with tempfile.TemporaryDirectory() as out:
        command = [str(zoo_command), "train", "mnist-mlp3", "-d", "mnist-5k", "--device", "cpu"]
        print("$", " ".join([*command, *extra]), flush=True)
        subprocess.run([*command, *extra, "--out", out], check=True, capture_output=True)
        (run,) = Path(out).iterdir()
        last = (run / "metrics.jsonl").read_text().splitlines()[-1]
        return json.loads(last)["test_accuracy"]


def main() -> None:
    print("\n".join(recipe_rows()))
    plain = accuracy([])
    momentum = accuracy(["--opt-arg", "momentum=0.9"])
    print(f"mnist-mlp3 on mnist-5k, recipe as published: {100 * plain:.1f} % test accuracy")
    print(f"mnist-mlp3 on mnist-5k, with --opt-arg momentum=0.9: {100 * momentum:.1f} %")


if __name__ == "__main__":
    main()
