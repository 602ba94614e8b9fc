"""What a model is trained and judged on: the loss, the metrics, and an evaluation pass.

Classification trains with cross-entropy (NLL for models that output log-probabilities) and
reports accuracy and a confusion matrix; regression trains with MSE and reports MAE.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from zoo.errors import ArgumentError
from zoo.factory import probe
from zoo.train.data import BatchPipeline, Split


class Objective:
    """The loss and per-batch metric sums for a task ("classification" or "regression"), with
    label smoothing for classification when asked for."""

    def __init__(self, task: str, output: str, outputs: int, label_smoothing: float = 0.0) -> None:
        self.task, self.output, self.outputs = task, output, outputs
        self.regression = task == "regression"
        self.label_smoothing = label_smoothing

    @property
    def metric(self) -> str:
        """The second metric next to the loss: accuracy (higher is better) or MAE."""
        return "mae" if self.regression else "accuracy"

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.regression:
            return F.mse_loss(output.float().reshape(target.shape), target)
        smoothing = self.label_smoothing
        if self.output == "log_probs":  # (1 − ε)·NLL + ε·(mean of −log p over the classes)
            log_probs = output.float()
            nll = F.nll_loss(log_probs, target)
            return (
                nll
                if not smoothing
                else (1 - smoothing) * nll - smoothing * log_probs.mean(1).mean()
            )
        return F.cross_entropy(output.float(), target, label_smoothing=smoothing)

    def sums(self, output: torch.Tensor, target: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        """``[loss × items, correct (or summed absolute error per item), items]``, on device."""
        count = torch.tensor(float(len(target)), device=target.device)
        if self.regression:
            error = (output.detach().float().reshape(target.shape) - target).abs()
            second = error.reshape(len(target), -1).mean(1).sum()
        else:
            second = (output.detach().argmax(1) == target).sum().float()
        return torch.stack([loss.detach().float() * count, second, count])

    def check_output(self, model: torch.nn.Module, name: str, shape: tuple[int, ...]) -> None:
        """Refuse a model whose output does not fit the dataset, before training starts."""
        output = probe(model, name, shape)
        width = output.reshape(2, -1).shape[1] if output.ndim else 0
        if output.ndim > 2 or width != self.outputs:
            what = "targets" if self.regression else "classes"
            raise ArgumentError(
                f"model '{name}' outputs shape {tuple(output.shape[1:])} per item but the "
                f"dataset has {self.outputs} {what}"
            )


@dataclass
class Evaluation:
    """An evaluation pass: totals, and the confusion matrix or per-target errors."""

    loss: float
    metric: float  # accuracy (fraction) or MAE
    count: int
    confusion: torch.Tensor | None  # classification: [true, predicted] counts
    target_mse: torch.Tensor | None  # regression: per target
    target_mae: torch.Tensor | None


@dataclass(frozen=True)
class BestEpoch:
    """The epoch whose weights a run keeps so far, the metric that chose it, and its validation
    (a checkpoint's training state holds it as plain values, :meth:`to_state`)."""

    epoch: int
    metric: str  # the EpochMetrics key that chose it: "val_accuracy", "test_mae"
    evaluation: Evaluation

    @property
    def held_out(self) -> bool:
        """Chosen on items held out of the train split (the best epoch), not the test split."""
        return self.metric.startswith("val_")

    def to_state(self) -> dict[str, Any]:
        found = self.evaluation
        state: dict[str, Any] = {"epoch": self.epoch, "metric": self.metric}
        state |= {"value": found.metric, "loss": found.loss, "count": found.count}
        if found.confusion is not None:
            return state | {"confusion": found.confusion}
        return state | {"target_mse": found.target_mse, "target_mae": found.target_mae}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BestEpoch | None:
        """From a training state (None before the first epoch ends; a state written before the
        loss and count were kept has neither)."""
        if not state:
            return None
        found = Evaluation(
            loss=float(state.get("loss", math.nan)),
            metric=float(state["value"]),
            count=int(state.get("count", 0)),
            confusion=state.get("confusion"),
            target_mse=state.get("target_mse"),
            target_mae=state.get("target_mae"),
        )
        return cls(int(state["epoch"]), str(state["metric"]), found)


def evaluate(
    model: torch.nn.Module,
    split: Split,
    preprocess: BatchPipeline,
    objective: Objective,
    autocast: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext,
    reduce: Callable[[torch.Tensor], torch.Tensor] = lambda tensor: tensor,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Loss and metrics of ``model`` over ``split`` (summed over ranks by ``reduce``);
    ``progress`` hears (batches done, batches in all) after each batch."""
    model.eval()
    outputs = objective.outputs
    device = preprocess.offset.device
    totals = torch.zeros(3, device=device)
    confusion = torch.zeros(outputs * outputs, dtype=torch.int64, device=device)
    squared = torch.zeros(outputs, device=device)
    absolute = torch.zeros(outputs, device=device)
    total = split.steps(train=False)
    with torch.no_grad():
        for done, (inputs, targets, _) in enumerate(split.batches(None), 1):
            with autocast():
                output = model(preprocess(inputs))
                loss = objective.loss(output, targets)
            totals += objective.sums(output, targets, loss)
            if objective.regression:
                error = output.float().reshape(len(targets), -1) - targets.reshape(len(targets), -1)
                squared += (error**2).sum(0)
                absolute += error.abs().sum(0)
            else:
                confusion += torch.bincount(
                    targets * outputs + output.argmax(1), minlength=outputs * outputs
                )
            if progress is not None:
                progress(done, total)
    totals, confusion = reduce(totals), reduce(confusion)
    squared, absolute = reduce(squared), reduce(absolute)
    count = max(1.0, float(totals[2]))
    regression = objective.regression
    return Evaluation(
        loss=float(totals[0]) / count,
        metric=float(totals[1]) / count,
        count=int(totals[2]),
        confusion=None if regression else confusion.view(outputs, outputs).cpu(),
        target_mse=(squared / count).cpu() if regression else None,
        target_mae=(absolute / count).cpu() if regression else None,
    )
