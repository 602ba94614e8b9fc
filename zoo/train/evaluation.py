"""``zoo eval``: a checkpoint on a dataset split: overall and per-class results, plots, and
``metrics.json`` in the results folder. The CLI prints the :class:`EvalResult`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zoo.artifacts.config import TrainConfig, load_run_config
from zoo.artifacts.run import DetailRow, metric_text
from zoo.errors import ZooError
from zoo.files import check_folder, write_json
from zoo.sources import Source, TTAChoice, chosen_tta
from zoo.train import report
from zoo.train.data import (
    BatchPipeline,
    Shard,
    dataset_facts,
    held_out,
    make_split,
    open_dataset,
)
from zoo.train.device import autocast, effective_precision, pick_device
from zoo.train.eval_request import EVAL_BATCH, SPLITS
from zoo.train.objective import Objective, evaluate
from zoo.tta import with_tta


def open_split(
    name: str,
    args: dict[str, Any],
    data_dir: str | None,
    split: str,
    held: TrainConfig | None,
) -> tuple[Any, torch.Tensor | None, str]:
    """The dataset to read, which of its items (None: all), and how to name them. ``held`` is
    the run's config when the run held items of this dataset out for validation."""
    if split == "test":
        return open_dataset(name, args, data_dir, train=False), None, "test split"
    if held is None:
        if split == "train":
            return open_dataset(name, args, data_dir, train=True), None, "train split"
        raise ZooError(
            "--split val needs the run directory of a run that held out validation items "
            "(--val-split); the others validated on the test split"
        )
    data = open_dataset(name, args, data_dir, train=True)
    train_index, val_index = held_out(len(data), held.val_split, held.seed)
    if split == "train":
        return data, train_index, "train split, less the items held out for validation"
    return data, val_index, f"{len(val_index):,} items held out of the train split"


@dataclass(frozen=True)
class EvalSummary:
    """What one evaluation measured, as ``metrics.json`` (and ``zoo eval --json``) holds it."""

    checkpoint: str
    weights_sha256: str
    epoch: int
    dataset: str
    split: str
    tta: str  # the test-time augmentation the outputs were averaged over
    precision: str
    items: int
    loss: float
    metric: str  # "accuracy" (a fraction) or "mae"
    value: float
    rows: list[DetailRow]  # per class (classification) or per target (regression)
    output_dir: str

    @property
    def per_class(self) -> bool:
        return self.metric == "accuracy"

    def to_json(self) -> dict[str, Any]:
        """metrics.json: the metric under its own name, the table as per_class or per_target."""
        return {
            "checkpoint": self.checkpoint,
            "weights_sha256": self.weights_sha256,
            "epoch": self.epoch,
            "dataset": self.dataset,
            "split": self.split,
            "tta": self.tta,
            "precision": self.precision,
            "items": self.items,
            "loss": self.loss,
            self.metric: self.value,
            "per_class" if self.per_class else "per_target": [row.to_json() for row in self.rows],
            "output_dir": self.output_dir,
        }


@dataclass(frozen=True)
class EvalResult:
    """What ``zoo eval`` measured, and where it writes it (:func:`save_results`)."""

    summary: EvalSummary
    headline: str  # "cifar10-cnn (epoch 20) on imagefolder, test split: 10,000 items, ..."
    rows: list[DetailRow]  # the per-class or per-target table
    title: str
    folder: Path
    found: Any  # the Evaluation: its confusion matrix, or each target's errors
    names: list[str]  # the classes (or targets)


@dataclass(frozen=True)
class EvalData:
    """The items an evaluation reads: a dataset, which of its items, and how to name them."""

    name: str
    data: Any
    indices: torch.Tensor | None
    source: str  # "test split", "5,000 items held out of the train split"


def eval_data(
    source: Source,
    config: TrainConfig | None,
    dataset: str | None,
    dataset_args: dict[str, Any] | None,
    data_dir: str | None,
    split: str,
) -> EvalData:
    """The dataset to evaluate on: the one named, else the card's, its split as the run made it
    (``config``: the checkpoint's run, whose held-out items ``--split val`` means)."""
    card = source.card
    name = dataset or card.dataset
    if not name:
        raise ZooError(f"{source.label} names no dataset: pass --dataset")
    args = dict(dataset_args or {}) if dataset else dict(card.dataset_args)
    data_dir = data_dir or (config.data_dir if config else None)
    same_data = config is not None and (name, args) == (config.dataset, config.dataset_args)
    held = config if same_data and config.val_split else None
    if split == "val" and same_data and not config.val_split:
        data = open_dataset(name, args, data_dir, train=False)
        return EvalData(name, data, None, "test split (the run validated on it)")
    data, indices, source = open_split(name, args, data_dir, split, held)
    return EvalData(name, data, indices, source)


def check_fit(name: str, facts: Any, card: Any) -> None:
    """The dataset must give the checkpoint's model its inputs and outputs."""
    if facts.input_shape != card.input_shape:
        raise ZooError(
            f"dataset '{name}' has inputs of shape {facts.input_shape}; the checkpoint's "
            f"model takes {card.input_shape}"
        )
    if len(facts.names) != len(card.classes) or facts.task != card.task:
        raise ZooError(
            f"dataset '{name}' ({facts.task}, {len(facts.names)} outputs) does not "
            f"match the checkpoint ({card.task}, {len(card.classes)} outputs)"
        )


def evaluate_weights(
    source: Source,
    dataset: str | None = None,
    dataset_args: dict[str, Any] | None = None,
    data_dir: str | None = None,
    split: str = "test",
    batch_size: int = EVAL_BATCH,
    device: str = "auto",
    out: str | None = None,
    tta: str | None = None,
    precision: str = "fp32",
    progress: Callable[[int, int], None] | None = None,
    save: bool = True,
) -> EvalResult:
    """Evaluate trained weights (a run's kept checkpoint, a file, declared weights, a release),
    the outputs averaged over the views of ``tta`` (default: what the weights' card records), in
    ``precision`` (bf16: autocast); write tables and plots (unless ``save`` is False: the caller
    shows the result first, then :func:`save_results`). The results folder is checked before the
    work starts."""
    if split not in SPLITS:
        raise ZooError(f"--split must be one of {', '.join(SPLITS)}, not '{split}'")
    if batch_size < 1:
        raise ZooError(f"--batch-size must be at least 1, not {batch_size}")
    card = source.card
    views = chosen_tta(source, tta)
    name = dataset or card.dataset
    folder = Path(out) if out else results_folder(source, name, split, views.mode, precision)
    check_folder(folder, "--out" if out else "the results folder")
    config = load_run_config(source.run) if source.run else None
    items = eval_data(source, config, dataset, dataset_args, data_dir, split)
    facts = dataset_facts(items.name, items.data)
    check_fit(items.name, facts, card)
    torch_device = pick_device(device, 0)
    evaluation_split = make_split(
        items.data, facts, items.indices, batch_size, torch_device, Shard(), seed=0, workers=2
    )
    model = with_tta(source.model(), views.mode).to(torch_device)
    pipeline = BatchPipeline(card.preprocessing, torch_device)
    objective = Objective(card.task, card.output, len(card.classes))
    precision = effective_precision(precision, torch_device)
    result = evaluate(
        model,
        evaluation_split,
        pipeline,
        objective,
        lambda: autocast(precision, torch_device),
        progress=progress,
    )
    measured = summarise(source, items, split, objective, result, folder, (views, precision))
    if save:
        save_results(measured)
    return measured


def results_folder(source: Source, dataset: str, split: str, tta: str, precision: str) -> Path:
    """``RUN/eval/DATASET-SPLIT[-tta-MODE][-PRECISION]`` (beside a file that is in no run;
    under ``eval/MODEL-NAME/`` here for declared weights, whose file may be read-only)."""
    name = f"{dataset}-{split}" + ("" if tta == "none" else f"-tta-{tta}")
    name += "" if precision == "fp32" else f"-{precision}"
    if source.results_folder is not None:
        return source.results_folder / name
    return (source.run or Path(str(source.weights_file)).parent) / "eval" / name


def summarise(
    source: Source,
    items: EvalData,
    split: str,
    objective: Objective,
    result: Any,
    folder: Path,
    views: tuple[TTAChoice, str],
) -> EvalResult:
    """The per-class (or per-target) rows, the summary metrics.json holds, the headline;
    ``views``: the test-time augmentation and the precision the outputs were computed with."""
    tta, precision = views
    card = source.card
    described = tta_text(tta)
    described += "" if precision == "fp32" else f", {precision}"
    title = f"{items.name}, {items.source}{described}"
    names = list(card.classes)
    rows = report.detail_rows(result, names)
    summary = EvalSummary(
        checkpoint=str(source.weights_file),
        weights_sha256=card.weights_sha256,
        epoch=card.epoch or 0,
        dataset=items.name,
        split=split,
        tta=tta.mode,
        precision=precision,
        items=result.count,
        loss=result.loss,
        metric=objective.metric,
        value=result.metric,
        rows=rows,
        output_dir=str(folder),
    )
    headline = (
        f"{card.model} (epoch {card.epoch or 0}) on {title}: {result.count:,} items, "
        f"loss {result.loss:.4f}, {metric_text(objective.metric, result.metric)}"
    )
    return EvalResult(summary, headline, rows, title, folder, result, names)


def save_results(result: EvalResult) -> Path:
    """The per-class table and plots, and metrics.json, in the result's folder."""
    report.write_details(result.found, result.names, result.folder, result.title)
    write_json(result.folder / "metrics.json", result.summary.to_json())
    return result.folder


def tta_text(tta: TTAChoice) -> str:
    """``, test-time augmentation flip-translate``; what the card records when ``--tta`` chose
    otherwise (said even for none)."""
    if not tta.overridden:
        return "" if tta.mode == "none" else f", test-time augmentation {tta.mode}"
    used = (
        "no test-time augmentation" if tta.mode == "none" else f"test-time augmentation {tta.mode}"
    )
    return f", {used} (--tta; the weights' card records {tta.recorded})"
