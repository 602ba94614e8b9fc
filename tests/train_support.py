"""Tiny in-process models and datasets for the training tests, and a ``zoo`` entry point that
registers them first: ``python tests/train_support.py train tiny-net ...`` (also under torchrun).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner, Result

import zoo
from zoo.artifacts.checkpoint import read_card
from zoo.cli.app import app
from zoo.datasets.synthetic import synthetic

HERE = Path(__file__).resolve()
# 64 learnable 3×8×8 images in 4 classes (test split: 16), from zoo's own synthetic dataset
TINY_DATA = ["--dataset", "synthetic", "--dataset-arg", "num_classes=4"]
TINY_DATA += ["--dataset-arg", "image_shape=3,8,8", "--dataset-arg", "size=64"]
TIMINGS = ("seconds", "train_seconds", "images_per_second")
RANK = int(os.environ.get("RANK", "0"))  # under torchrun


def tiny_net(
    num_classes: int = 10,
    input_shape: tuple[int, ...] = (3, 8, 8),
    delay: float = 0.0,
    record: str = "",
    die_at: int = 0,
    marker: str = "",
) -> nn.Module:
    """A small conv net with dropout; ``delay`` seconds of sleep per training step. Test hooks:
    ``record`` (a folder): each validation pass writes a hash of the weights to
    ``rank<RANK>-step<steps>.sha256`` there; ``die_at`` (a training step) with ``marker`` (a
    file): rank 1 SIGKILLs itself at that step unless the marker exists, which it creates."""
    return TinyNet(num_classes, input_shape, delay, record, die_at, marker)


class TinyNet(nn.Module):
    def __init__(
        self,
        num_classes: int,
        input_shape: tuple[int, ...],
        delay: float,
        record: str = "",
        die_at: int = 0,
        marker: str = "",
    ) -> None:
        super().__init__()
        channels, height, width = input_shape
        self.features = nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.1), nn.Linear(4 * height * width, num_classes))
        self.delay, self.record, self.die_at, self.marker = delay, record, die_at, marker
        self.steps = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.steps += 1
            if self.steps == self.die_at and RANK == 1 and not os.path.exists(self.marker):
                Path(self.marker).touch()
                os.kill(os.getpid(), signal.SIGKILL)
            if self.delay:
                time.sleep(self.delay)
        return self.head(self.features(x).flatten(1))

    def train(self, mode: bool = True) -> TinyNet:
        if self.record and self.training and not mode and self.steps:
            name = f"rank{RANK}-step{self.steps}.sha256"
            (Path(self.record) / name).write_text(weights_hash(self.state_dict()))
        return super().train(mode)


def weights_hash(weights: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the tensors' bytes, in key order."""
    digest = hashlib.sha256()
    for key in sorted(weights):
        digest.update(key.encode())
        digest.update(weights[key].detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


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


def gated(
    root: str, train: bool = True, transform: Any = None, download: bool = False, gate: str = ""
) -> Any:
    """The tiny synthetic images, once the file ``gate`` exists; ``gate.<pid>`` says that this
    process waits (so that a test can release several runs at the same moment)."""
    Path(f"{gate}.{os.getpid()}").touch()
    deadline = time.monotonic() + 120
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.002)
    return synthetic(
        root, train, transform, download, num_classes=4, image_shape=(3, 8, 8), size=64
    )


def register() -> None:
    """Register the tiny entries in this process (``zoo.reload_registry()`` drops them)."""
    zoo.register_model("tiny-net", default_dataset="synthetic")(tiny_net)
    zoo.register_model("nan-net")(nan_net)
    zoo.register_model("fixed-net")(fixed_net)
    zoo.register_dataset("pil-images", input_shape=(3, 10, 10), classes=("dark", "bright"))(
        pil_images
    )
    zoo.register_dataset("gated")(gated)


def zoo_cli(*args: object) -> Result:
    """A zoo command run in this process (tiny entries visible), at a width that fits tables."""
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def ok(*args: object) -> str:
    """A zoo command run in this process that must succeed; its output."""
    result = zoo_cli(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def run_dir(out: Path) -> Path:
    """The one run directory in ``out``."""
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def metrics(run: Path) -> list[dict[str, Any]]:
    """A run's metrics.jsonl without the timings (which never repeat)."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in TIMINGS} for line in lines]


def environment() -> dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}


def start(*args: str, **env: str) -> subprocess.Popen[str]:
    """``zoo`` with these tiny entries registered, in a new process that hears Ctrl-C."""
    return subprocess.Popen(
        [sys.executable, str(HERE), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**environment(), **env},
        preexec_fn=hear_ctrl_c,
    )


def hear_ctrl_c() -> None:
    """SIGINT handled as in a terminal, even when the suite runs as a background job (a shell
    without job control starts those with SIGINT ignored, and Python keeps it ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def saved_epoch(run: Path) -> int:
    """The epoch of a run's committed last checkpoint (0: none yet)."""
    weights = run / "checkpoints" / "last.safetensors"
    return int(read_card(weights).epoch or 0) if weights.is_file() else 0


def wait_for_epoch(out: Path, epoch: int, process: subprocess.Popen[str]) -> Path:
    """The run directory in ``out``, once its committed last checkpoint is of ``epoch`` or later."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        for run in out.glob("*/checkpoints/last.safetensors"):
            if saved_epoch(run.parent.parent) >= epoch:
                return run.parent.parent
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint of epoch {epoch} within 120 s")


def same_metrics(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Equal epoch by epoch, up to float printing."""
    assert [m["epoch"] for m in got] == [m["epoch"] for m in expected]
    for a, b in zip(got, expected, strict=True):
        assert a == pytest.approx(b, rel=1e-5, abs=1e-7)


if __name__ == "__main__":
    from zoo.cli.app import main

    register()
    main()
