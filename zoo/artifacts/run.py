"""A run directory and what it records of each epoch, as typed objects::

    runs/<model>-<dataset>-<time>/
        config.json, config.toml     the configuration (:mod:`zoo.artifacts.config`)
        metrics.jsonl                one :class:`EpochMetrics` per line
        checkpoints/                 last.* and best.* (:mod:`zoo.artifacts.checkpoint`)
        plots/, per_class.*          the report

A metric is named once (:data:`METRICS`) with how it reads (higher or lower is better, shown in
percent or not); :func:`metric_text` is the one place a metric becomes text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.artifacts import checkpoint
from zoo.artifacts.card import ModelCard
from zoo.artifacts.config import CONFIG_JSON, TrainConfig, load_run_config
from zoo.errors import ZooError

METRICS_FILE = "metrics.jsonl"
STAMP = re.compile(r"-(\d{8}-\d{6})")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Metric:
    """A quality measure: how it is named, which way is better, how it is shown."""

    name: str
    maximize: bool
    percent: bool

    def text(self, value: float) -> str:
        """``accuracy 73.22 %``, ``mae 0.4120``."""
        return f"{self.name} {self.value_text(value)}"

    def value_text(self, value: float) -> str:
        return f"{100 * value:.2f} %" if self.percent else f"{value:.4f}"

    def better(self, value: float, than: float) -> bool:
        return value > than if self.maximize else value < than


METRICS = {
    "accuracy": Metric("accuracy", maximize=True, percent=True),
    "mae": Metric("mae", maximize=False, percent=False),
    "loss": Metric("loss", maximize=False, percent=False),
}


def metric_text(name: str, value: float) -> str:
    """A metric as every command prints it; unknown names with four decimals."""
    return METRICS.get(name, Metric(name, False, False)).text(value)


@dataclass(frozen=True)
class ClassResult:
    """How one true class fared in an evaluation: a row of ``per_class.json``."""

    name: str
    correct: int
    total: int
    accuracy: float | None  # None: no item of the class was evaluated

    def to_json(self) -> dict[str, Any]:
        return {
            "class": self.name,
            "correct": self.correct,
            "total": self.total,
            "accuracy": self.accuracy,
        }


@dataclass(frozen=True)
class TargetResult:
    """How one regression target fared in an evaluation: a row of ``per_class.json``."""

    name: str
    mse: float
    mae: float

    def to_json(self) -> dict[str, Any]:
        return {"target": self.name, "mse": self.mse, "mae": self.mae}


DetailRow = ClassResult | TargetResult  # a row of an evaluation's per-class or per-target table


@dataclass(frozen=True)
class Measured:
    """Loss and the task's metric over one split in one epoch."""

    loss: float
    value: float


@dataclass(frozen=True)
class EpochMetrics:
    """One epoch of a run: train and validation results, the learning rate, how long it took.

    ``split`` is where the run validates: ``val`` (items held out of the train split) or ``test``
    (the test split itself); ``metric`` is ``accuracy`` or ``mae``. On disk (metrics.jsonl, the
    training state) an epoch is one flat JSON object, ``train_loss``, ``val_accuracy``..."""

    epoch: int
    metric: str
    split: str
    train: Measured
    held: Measured
    train_items: int
    lr: float
    seconds: float
    train_seconds: float
    images_per_second: float

    @property
    def key(self) -> str:
        """The monitored metric's name on disk and in sweeps: ``val_accuracy``, ``test_mae``."""
        return f"{self.split}_{self.metric}"

    @property
    def value(self) -> float:
        """The monitored metric's value."""
        return self.held.value

    @property
    def kind(self) -> Metric:
        return METRICS[self.metric]

    def to_json(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "train_loss": self.train.loss,
            f"train_{self.metric}": self.train.value,
            f"{self.split}_loss": self.held.loss,
            f"{self.split}_{self.metric}": self.held.value,
            "train_items": self.train_items,
            "lr": self.lr,
            "seconds": self.seconds,
            "train_seconds": self.train_seconds,
            "images_per_second": self.images_per_second,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EpochMetrics:
        split = "val" if "val_loss" in data else "test"
        metric = "accuracy" if f"{split}_accuracy" in data else "mae"
        return cls(
            epoch=int(data["epoch"]),
            metric=metric,
            split=split,
            train=Measured(float(data["train_loss"]), float(data[f"train_{metric}"])),
            held=Measured(float(data[f"{split}_loss"]), float(data[f"{split}_{metric}"])),
            train_items=int(data.get("train_items", 0)),
            lr=float(data.get("lr", 0.0)),
            seconds=float(data.get("seconds", 0.0)),
            train_seconds=float(data.get("train_seconds", 0.0)),
            images_per_second=float(data.get("images_per_second", 0.0)),
        )


def kept_epoch(history: list[EpochMetrics]) -> EpochMetrics | None:
    """The epoch whose weights a run keeps: the best on held-out items, else the last (choosing
    by the test split would make the test metric optimistic)."""
    if not history:
        return None
    if history[-1].split == "test":
        return history[-1]
    best = history[0]
    for epoch in history[1:]:
        if epoch.kind.better(epoch.value, best.value):
            best = epoch
    return best


def read_history(path: Path, up_to: int | None = None) -> list[EpochMetrics]:
    """A metrics.jsonl file (up to an epoch: what the last checkpoint covers); a line cut short
    by a kill is skipped."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    history = []
    for line in lines:
        try:
            epoch = EpochMetrics.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if up_to is None or epoch.epoch <= up_to:
            history.append(epoch)
    return history


def history_text(history: list[EpochMetrics]) -> str:
    """metrics.jsonl's contents."""
    return "".join(json.dumps(epoch.to_json()) + "\n" for epoch in history)


@dataclass(frozen=True)
class RunDir:
    """A run directory: its configuration, its epochs, the cards of the weights it saved."""

    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_run(self) -> bool:
        return (self.path / CONFIG_JSON).is_file()

    def config(self) -> TrainConfig:
        return load_run_config(self.path)

    def history(self, up_to: int | None = None) -> list[EpochMetrics]:
        return read_history(self.path / METRICS_FILE, up_to)

    def checkpoint(self, name: str) -> Path:
        """``checkpoints/NAME.safetensors`` (last or best)."""
        return self.path / checkpoint.FOLDER / f"{name}.safetensors"

    def card(self, name: str) -> ModelCard | None:
        """The card saved beside a checkpoint (its JSON copy), None when there is none."""
        path = self.checkpoint(name).with_suffix(".json")
        try:
            return ModelCard.from_json(json.loads(path.read_text()), str(path))
        except (OSError, ValueError, ZooError):
            return None

    def saved_epoch(self) -> int:
        """The epoch of the committed last checkpoint (0: none): read from the weights file's
        own card, which is renamed into place last."""
        weights = self.checkpoint("last")
        try:
            return int(checkpoint.read_card(weights).epoch or 0) if weights.is_file() else 0
        except ZooError:  # cut short by a kill: no committed checkpoint to count
            return 0

    def started(self) -> tuple[str, float]:
        """When the run started: the time in its name (or its sweep's), else its mtime."""
        match = STAMP.search(self.name) or STAMP.search(self.path.parent.name)
        return (match.group(1) if match else "", self.path.stat().st_mtime)
