"""TensorBoard event files for a run (``zoo train --tensorboard``, and a sweep's runs): an
observer of the run's events (:mod:`zoo.train.events`).

The events go straight into the run directory, written by ``torch.utils.tensorboard``'s
``SummaryWriter``, so ``tensorboard --logdir runs`` shows every run (a sweep's as
``<sweep>/<run>``). Per epoch: train and validation loss and accuracy (MAE for regression), the
learning rate, images per second, and the confusion matrix as an image; once: a grid of training
images; at the end: the run's hyper-parameters with its final metrics (``add_hparams``, into the
run itself), which TensorBoard's HParams view compares across runs. A resumed run purges the
events of epochs it repeats.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from zoo.artifacts.config import TrainConfig
from zoo.artifacts.run import EpochMetrics, kept_epoch
from zoo.errors import ZooError
from zoo.train.events import EpochEnded, Event, RunEnded, RunStarted, Steps
from zoo.train.report import CONFUSION

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

INSTALL = "pip install 'torch-zoo[tensorboard]'"
SAMPLES = 32  # training images in the sample grid
CONFUSION_PIXELS = 256  # the confusion matrix image is about this wide
STEPS = "steps"  # the run's per-step scalars, in a folder of their own
WHITE, DARK_BLUE = np.array([247.0, 251.0, 255.0]), np.array([8.0, 48.0, 107.0])  # as "Blues"


def available() -> bool:
    """Whether ``torch.utils.tensorboard`` can be imported (the tensorboard package is there)."""
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> None:
    """Refuse ``--tensorboard`` without the tensorboard package, in one line."""
    if not available():
        raise ZooError(f"--tensorboard needs the tensorboard package: {INSTALL}")


def hparams(config: TrainConfig) -> dict[str, Any]:
    """A run's hyper-parameters as TensorBoard takes them (bool, str, int, float)."""
    return {key: hparam_value(value) for key, value in config.hparams().items()}


def hparam_value(value: Any) -> bool | str | int | float:
    if value is None:
        return "none"
    if isinstance(value, (bool, str, int, float)):
        return value
    return str(value)


def final_metrics(history: list[EpochMetrics]) -> dict[str, float]:
    """``hparams/...``: the kept epoch's validation metric and loss, the last epoch's train
    metrics, and the epochs done (named apart from the per-epoch scalars, as add_hparams asks)."""
    last = history[-1]
    kept = kept_epoch(history) or last
    split, metric = last.split, last.metric
    return {
        f"hparams/{split}_{metric}": kept.held.value,
        f"hparams/{split}_loss": kept.held.loss,
        f"hparams/train_{metric}": last.train.value,
        "hparams/train_loss": last.train.loss,
        "hparams/epochs": float(last.epoch),
    }


def confusion_image(confusion: torch.Tensor) -> np.ndarray:
    """The confusion matrix as an H×W×3 uint8 heat map (rows: true classes, columns: predicted,
    in class order; from white to dark blue: the share of the row), drawn without a figure so it
    costs about a millisecond."""
    counts = confusion.double()
    shares = (counts / counts.sum(1, keepdim=True).clamp_min(1)).numpy()[..., None]
    pixels = WHITE + shares * (DARK_BLUE - WHITE)
    cell = max(2, CONFUSION_PIXELS // len(shares))
    pixels = np.repeat(np.repeat(pixels, cell, axis=0), cell, axis=1)
    return pixels.round().astype(np.uint8)


def sample_images(images: torch.Tensor | None) -> torch.Tensor | None:
    """Training images as N×C×H×W floats in [0, 1]; None for table rows."""
    if images is None or images.ndim != 4:
        return None
    return images.float() / 255 if images.dtype == torch.uint8 else images.float().clamp(0, 1)


def file_second(path: Path) -> int:
    """The creation second in an event file's name (``events.out.tfevents.SECOND.host.pid...``)."""
    field = path.name.split(".")[3]
    return int(field) if field.isdigit() else 0


def after_second(second: int) -> None:
    """Wait until the clock is past ``second``: readers replay a run's event files in name order,
    and a resumed run's file must sort after the files whose epochs it purges (a kill and a
    resume within one second would otherwise order them by process id)."""
    remaining = second + 1 - time.time()
    if remaining > 0:
        time.sleep(remaining)


class Board:
    """The run's SummaryWriter, fed by the run's events: opened when the run starts."""

    def __init__(self) -> None:
        self.writer: SummaryWriter | None = None
        self.steps_writer: SummaryWriter | None = None
        self.task = "classification"
        self.run_dir = Path()
        self.resumed_after = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.open(event)
        elif self.writer is None:
            return
        elif isinstance(event, Steps):
            self.steps(event)
        elif isinstance(event, EpochEnded):
            self.epoch(event)
        elif isinstance(event, RunEnded):
            self.close(event)

    def steps(self, event: Steps) -> None:
        """The learning rate of every step, in ``RUN/steps`` (a run of its own in TensorBoard:
        its steps are optimizer steps, not epochs, and a resume purges them apart)."""
        if self.steps_writer is None:
            from torch.utils.tensorboard import SummaryWriter

            folder = self.run_dir / STEPS
            earlier = list(folder.glob("events.out.tfevents.*"))
            if earlier:
                after_second(max(file_second(path) for path in earlier))
            purge = self.resumed_after * event.steps + 1 if earlier else None
            self.steps_writer = SummaryWriter(log_dir=str(folder), purge_step=purge)
        first = event.global_step - len(event.lrs) + 1
        for offset, rate in enumerate(event.lrs):
            self.steps_writer.add_scalar("learning_rate", rate, first + offset)

    def open(self, event: RunStarted) -> None:
        """A writer on the run directory; a resumed run hides the events of the epochs it will
        write again (a crash can leave some past the last checkpoint)."""
        from torch.utils.tensorboard import SummaryWriter

        earlier = list(event.run_dir.glob("events.out.tfevents.*"))
        resumed = event.resumed_after > 0 or bool(earlier)
        purge = event.resumed_after + 1 if resumed else None
        if earlier:
            after_second(max(file_second(path) for path in earlier))
        self.writer = SummaryWriter(log_dir=str(event.run_dir), purge_step=purge)
        self.task, self.run_dir, self.resumed_after = event.task, event.run_dir, event.resumed_after
        if not resumed:
            self.samples(event)

    def samples(self, event: RunStarted) -> None:
        """A grid of the first training images (8 a row) and, as text, their classes."""
        assert self.writer is not None
        images = sample_images(event.samples)
        if images is None:
            return
        self.writer.add_images("samples", images, 0)
        if self.task == "classification" and event.targets is not None:
            labels = event.targets[: len(images)].tolist()
            text = ", ".join(event.classes[int(label)] for label in labels)
            self.writer.add_text("samples", f"classes, row by row: {text}", 0)

    def epoch(self, event: EpochEnded) -> None:
        """One epoch's scalars (grouped as loss/train, loss/val, ...) and confusion matrix;
        written before the epoch's checkpoint, so a resume purges what it repeats."""
        assert self.writer is not None
        metrics, step = event.metrics, event.metrics.epoch
        for part, measured in (("train", metrics.train), (metrics.split, metrics.held)):
            self.writer.add_scalar(f"loss/{part}", measured.loss, step)
            self.writer.add_scalar(f"{metrics.metric}/{part}", measured.value, step)
        self.writer.add_scalar("learning_rate", metrics.lr, step)
        self.writer.add_scalar("speed/images_per_second", metrics.images_per_second, step)
        self.writer.add_scalar("time/epoch_seconds", metrics.seconds, step)
        if event.confusion is not None:
            image = confusion_image(event.confusion)
            self.writer.add_image("confusion_matrix", image, step, dataformats="HWC")
        self.writer.flush()  # on disk with the epoch's checkpoint: a kill loses no epoch
        if self.steps_writer is not None:
            self.steps_writer.flush()

    def close(self, event: RunEnded) -> None:
        """The labelled confusion matrix of the kept weights and the hyper-parameters with the
        final metrics (not for an interrupted run: its resume writes them), then close."""
        assert self.writer is not None
        history = event.outcome.history
        try:
            if history and event.outcome.status != "interrupted":
                step = history[-1].epoch
                self.kept_confusion(step)
                self.writer.add_hparams(
                    hparams(event.config),
                    final_metrics(history),
                    run_name=".",  # into the run itself, beside its curves
                    global_step=step,
                )
        finally:
            self.writer.close()
            self.writer = None
            if self.steps_writer is not None:
                self.steps_writer.close()
                self.steps_writer = None

    def kept_confusion(self, step: int) -> None:
        """The report's labelled plots/confusion_matrix.png, as drawn for the kept epoch."""
        assert self.writer is not None
        path = self.run_dir / CONFUSION
        if path.is_file():
            from PIL import Image

            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
            self.writer.add_image("confusion_matrix/kept", pixels, step, dataformats="HWC")
