"""TensorBoard event files for a run (``zoo train --tensorboard``, and a sweep's runs).

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

from zoo.errors import ZooError

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

    from zoo.train.loop import Outcome, Trainer
    from zoo.train.objective import Evaluation

INSTALL = "pip install 'torch-zoo[tensorboard]'"
SAMPLES = 32  # training images in the sample grid
CONFUSION_PIXELS = 256  # the confusion matrix image is about this wide
WHITE, DARK_BLUE = np.array([247.0, 251.0, 255.0]), np.array([8.0, 48.0, 107.0])  # as "Blues"
TABLES = {"model_args": "model", "opt_args": "opt", "dataset_args": "dataset"}
HPARAMS = ("optimizer", "lr", "batch_size", "epochs", "seed", "val_split", "scheduler", "augment")
HPARAMS += ("amp", "weights")


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


def hparams(config: Any) -> dict[str, Any]:
    """A run's hyper-parameters as TensorBoard takes them (bool, str, int, float): the training
    options, and each model, optimizer and dataset argument as ``model.NAME`` etc."""
    values = {key: getattr(config, key) for key in HPARAMS}
    for table, prefix in TABLES.items():
        values |= {f"{prefix}.{key}": value for key, value in getattr(config, table).items()}
    return {key: hparam_value(value) for key, value in values.items()}


def hparam_value(value: Any) -> bool | str | int | float:
    if value is None:
        return "none"
    if isinstance(value, (bool, str, int, float)):
        return value
    return str(value)


def final_metrics(history: list[dict[str, Any]], best: dict[str, Any]) -> dict[str, float]:
    """``hparams/...``: the kept epoch's validation metric and loss, the last epoch's train
    metrics, and the epochs done (named apart from the per-epoch scalars, as add_hparams asks)."""
    last = history[-1]
    kept = next((row for row in history if row["epoch"] == best.get("epoch")), last)
    split = "val" if any(key.startswith("val_") for key in last) else "test"
    metric = "accuracy" if f"{split}_accuracy" in last else "mae"
    return {
        f"hparams/{split}_{metric}": float(kept[f"{split}_{metric}"]),
        f"hparams/{split}_loss": float(kept[f"{split}_loss"]),
        f"hparams/train_{metric}": float(last[f"train_{metric}"]),
        "hparams/train_loss": float(last["train_loss"]),
        "hparams/epochs": float(last["epoch"]),
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


def sample_images(split: Any, count: int) -> torch.Tensor | None:
    """The first ``count`` training images as N×C×H×W floats in [0, 1]; None for table rows."""
    if hasattr(split, "inputs"):  # held in memory
        images = split.inputs[:count].cpu()
    else:  # read item by item
        images = torch.stack([split.dataset[i][0] for i in range(min(count, split.size))])
    if images.ndim != 4:
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
    """The run's SummaryWriter and what it is fed."""

    def __init__(self, writer: SummaryWriter, task: str) -> None:
        self.writer, self.task = writer, task

    @classmethod
    def open(cls, trainer: Trainer) -> Board:
        """A writer on the run directory; a resumed run hides the events of the epochs it will
        write again (a crash can leave some past the last checkpoint)."""
        from torch.utils.tensorboard import SummaryWriter

        earlier = list(trainer.run_dir.glob("events.out.tfevents.*"))
        resumed = trainer.start_epoch > 0 or bool(earlier)
        purge = trainer.start_epoch + 1 if resumed else None
        if earlier:
            after_second(max(file_second(path) for path in earlier))
        writer = SummaryWriter(log_dir=str(trainer.run_dir), purge_step=purge)
        board = cls(writer, trainer.data.description.task)
        if not resumed:
            board.samples(trainer)
        return board

    def samples(self, trainer: Trainer) -> None:
        """A grid of the first training images (8 a row) and, as text, their classes."""
        images = sample_images(trainer.data.train, SAMPLES)
        if images is None:
            return
        self.writer.add_images("samples", images, 0)
        names = trainer.data.description.names
        if self.task == "classification" and hasattr(trainer.data.train, "targets"):
            labels = trainer.data.train.targets[: len(images)].tolist()
            text = ", ".join(names[int(label)] for label in labels)
            self.writer.add_text("samples", f"classes, row by row: {text}", 0)

    def epoch(self, metrics: dict[str, Any], val: Evaluation) -> None:
        """One epoch's scalars (grouped as loss/train, loss/val, ...) and confusion matrix."""
        step = metrics["epoch"]
        for key, value in metrics.items():
            part, _, name = key.partition("_")
            if part in ("train", "val", "test") and name in ("loss", "accuracy", "mae"):
                self.writer.add_scalar(f"{name}/{part}", value, step)
        self.writer.add_scalar("learning_rate", metrics["lr"], step)
        self.writer.add_scalar("speed/images_per_second", metrics["images_per_second"], step)
        self.writer.add_scalar("time/epoch_seconds", metrics["seconds"], step)
        if val.confusion is not None:
            image = confusion_image(val.confusion)
            self.writer.add_image("confusion_matrix", image, step, dataformats="HWC")
        self.writer.flush()  # on disk with the epoch's checkpoint: a kill loses no epoch

    def close(self, trainer: Trainer, outcome: Outcome) -> None:
        """The labelled confusion matrix of the kept weights and the hyper-parameters with the
        final metrics (not for an interrupted run: its resume writes them), then close."""
        try:
            if trainer.history and outcome.status != "interrupted":
                step = trainer.history[-1]["epoch"]
                self.kept_confusion(trainer.run_dir, step)
                metrics = final_metrics(trainer.history, trainer.best)
                self.writer.add_hparams(
                    hparams(trainer.config),
                    metrics,
                    run_name=".",  # into the run itself, beside its curves
                    global_step=step,
                )
        finally:
            self.writer.close()

    def kept_confusion(self, run_dir: Path, step: int) -> None:
        """The report's labelled plots/confusion_matrix.png, as drawn for the kept epoch."""
        path = run_dir / "plots" / "confusion_matrix.png"
        if path.is_file():
            from PIL import Image

            with Image.open(path) as image:
                pixels = np.asarray(image.convert("RGB"))
            self.writer.add_image("confusion_matrix/kept", pixels, step, dataformats="HWC")
