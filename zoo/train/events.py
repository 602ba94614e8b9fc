"""What a training run tells the world, as events: it started, steps went by, an epoch ended, a
stop was asked for, it ended. The trainer emits them to observers and never prints: the CLI's
console display, TensorBoard (:mod:`zoo.train.tensorboard`) and a sweep's run log are observers.
Plain text for an event comes from :mod:`zoo.train.report`, so every observer says the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.artifacts.config import TrainConfig
from zoo.artifacts.run import DetailRow, EpochMetrics


@dataclass(frozen=True)
class RunStarted:
    """The run is set up and about to train its first (or next) epoch."""

    config: TrainConfig
    run_dir: Path
    resumed_after: int  # the epoch a resumed run continues after; 0 when fresh
    train_items: int
    validation: str  # "the test split", or "5,000 items held out of the train split"
    device: str
    world: int  # processes training together (DistributedDataParallel), 1 alone
    restart: int  # torchrun restarts so far
    classes: tuple[str, ...]
    task: str
    precision: str = "fp32"  # what the run computes in: fp32 or bf16 (autocast)
    samples: Any = None  # a few training inputs (uint8 N×C×H×W) and their targets, for a grid
    targets: Any = None
    notes: tuple[str, ...] = ()  # "initialised from ...", "new head: ..."


@dataclass(frozen=True)
class Steps:
    """Progress within an epoch, every few steps (never every step: each costs a device sync)."""

    epoch: int
    epochs: int
    step: int
    steps: int
    loss: float
    images_per_second: float
    lrs: tuple[float, ...]  # the learning rate of each step since the last event
    global_step: int  # steps since the run began (that of this event's last step)


@dataclass(frozen=True)
class EpochEnded:
    """An epoch was trained, validated and saved."""

    metrics: EpochMetrics
    epochs: int
    kept: bool  # these weights are now the run's kept ones because they are the best held out
    confusion: Any = None  # classification: the validation confusion matrix, [true, predicted]


@dataclass(frozen=True)
class StopRequested:
    """Ctrl-C: the run stops after this epoch, its checkpoint saved (a second one stops now)."""


@dataclass(frozen=True)
class Outcome:
    """How a run ended: "finished", "interrupted", "diverged" or a status its epoch callback
    gave ("pruned"), and its last saved epoch."""

    run_dir: Path
    status: str
    epoch: int
    message: str = ""
    history: list[EpochMetrics] = field(default_factory=list)


@dataclass(frozen=True)
class Augmented:
    """The kept weights evaluated on the test split with test-time augmentation (``--tta``),
    in the run's precision, after training."""

    headline: str  # zoo eval's: "cifar10-fast (epoch 10) on ...: 10,000 items, ..."
    folder: Path  # RUN/eval/DATASET-test-tta-MODE[-PRECISION]
    seconds: float


@dataclass(frozen=True)
class Kept:
    """The weights a run keeps: their epoch, its metrics, and the per-class (or per-target)
    table of their validation, as written into the run directory."""

    epoch: int
    metrics: EpochMetrics
    held_out: bool  # the best epoch on held-out items; False: the last epoch (test split)
    rows: list[DetailRow] = field(default_factory=list)
    title: str = ""
    augmented: Augmented | None = None


@dataclass(frozen=True)
class RunEnded:
    """The run stopped, however it stopped; its report is written when it trained an epoch."""

    outcome: Outcome
    config: TrainConfig
    kept: Kept | None = None


Event = RunStarted | Steps | EpochEnded | StopRequested | RunEnded
Observer = Callable[[Event], None]
