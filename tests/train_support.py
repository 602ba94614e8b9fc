"""Tiny in-process models and datasets for the training tests, and a ``zoo`` entry point that
registers them first: ``python tests/train_support.py train tiny-net ...`` (also under torchrun).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch import nn

import zoo

HERE = Path(__file__).resolve()
# 64 learnable 3×8×8 images in 4 classes (test split: 16), from zoo's own synthetic dataset
TINY_DATA = ["--dataset", "synthetic", "--dataset-arg", "num_classes=4"]
TINY_DATA += ["--dataset-arg", "image_shape=3,8,8", "--dataset-arg", "size=64"]
TIMINGS = ("seconds", "train_seconds", "images_per_second")


def tiny_net(
    num_classes: int = 10, input_shape: tuple[int, ...] = (3, 8, 8), delay: float = 0.0
) -> nn.Module:
    """A small conv net with dropout; ``delay`` seconds of sleep per training step."""
    return TinyNet(num_classes, input_shape, delay)


class TinyNet(nn.Module):
    def __init__(self, num_classes: int, input_shape: tuple[int, ...], delay: float) -> None:
        super().__init__()
        channels, height, width = input_shape
        self.features = nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(4 * height * width, num_classes))
        self.delay = delay

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.delay:
            time.sleep(self.delay)
        return self.head(self.features(x).flatten(1))


def nan_net(
    num_classes: int = 10, input_shape: tuple[int, ...] = (3, 8, 8), after: int = 3
) -> nn.Module:
    """A linear model whose training outputs turn NaN after ``after`` training steps."""
    return NanNet(num_classes, input_shape, after)


class NanNet(nn.Module):
    def __init__(self, num_classes: int, input_shape: tuple[int, ...], after: int) -> None:
        super().__init__()
        self.linear = nn.Linear(int(torch.tensor(input_shape).prod()), num_classes)
        self.after, self.steps = after, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output = self.linear(x.flatten(1))
        if self.training:
            self.steps += 1
            if self.steps > self.after:
                return output * float("nan")
        return output


def fixed_net() -> nn.Module:
    """A linear model from 3×8×8 inputs to 10 classes, whatever the dataset."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))


class PilImages(torch.utils.data.Dataset):
    """Images as PIL files of varying size, no ``as_tensors``: the DataLoader path."""

    def __init__(self, train: bool) -> None:
        generator = torch.Generator().manual_seed(1 if train else 2)
        count = 40 if train else 12
        self.labels = (torch.arange(count) % 2).tolist()
        self.images = []
        for index, label in enumerate(self.labels):
            size = 10 if index % 3 else 12  # some need resizing to the declared 3×10×10
            noise = torch.randint(0, 60, (size, size, 3), generator=generator)
            pixels = (noise + (180 if label else 20)).clamp(0, 255).to(torch.uint8)
            self.images.append(Image.fromarray(pixels.numpy()))
        self.classes = ["dark", "bright"]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.images[index], self.labels[index]


def pil_images(
    root: str, train: bool = True, transform: Any = None, download: bool = False
) -> PilImages:
    """Two classes of PIL images of mixed sizes (dark and bright)."""
    return PilImages(train)


def register() -> None:
    """Register the tiny entries in this process (``zoo.reload_registry()`` drops them)."""
    zoo.register_model("tiny-net", default_dataset="synthetic")(tiny_net)
    zoo.register_model("nan-net")(nan_net)
    zoo.register_model("fixed-net")(fixed_net)
    zoo.register_dataset("pil-images", input_shape=(3, 10, 10), classes=("dark", "bright"))(
        pil_images
    )


def run_dir(out: Path) -> Path:
    """The one run directory in ``out``."""
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def metrics(run: Path) -> list[dict[str, Any]]:
    """A run's metrics.jsonl without the timings (which never repeat)."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMINGS} for line in lines]


def saved_epoch(run: Path) -> int:
    """The epoch of a run's last complete checkpoint: its card (last.json) is written before
    the weights, so the weights must be as new (a kill between the two leaves them apart)."""
    folder = run / "checkpoints"
    try:
        card, weights = folder / "last.json", folder / "last.safetensors"
        if weights.stat().st_mtime_ns < card.stat().st_mtime_ns:
            return 0
        return int(json.loads(card.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def environment() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


def start(*args: str) -> subprocess.Popen[str]:
    """``zoo`` with these tiny entries registered, in a new process."""
    return subprocess.Popen(
        [sys.executable, str(HERE), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment(),
    )


if __name__ == "__main__":
    from zoo.cli import main

    register()
    main()
