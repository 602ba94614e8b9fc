"""``zoo eval``: a checkpoint on a dataset split: overall and per-class results, plots, and
``metrics.json`` in the results folder. :func:`plan` decides before any work (the weights, the
newest run when none is named, the TTA, the results folder), :func:`run` measures and returns
an :class:`EvalResult`, which the CLI prints before :func:`save_results` writes it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from zoo.artifacts.config import TrainConfig, load_run_config
from zoo.artifacts.run import DetailRow, metric_text
from zoo.errors import ZooError
from zoo.files import check_folder, write_json
from zoo.flags import check_fields
from zoo.sources import WITH_WEIGHTS, Source, TTAChoice, chosen_tta, resolve
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
from zoo.train.eval_request import EvalRequest
from zoo.train.objective import Objective, evaluate
from zoo.train.runs import newest_run
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


def eval_data(source: Source, config: TrainConfig | None, request: EvalRequest) -> EvalData:
    """The dataset to evaluate on: the one named, else the card's, its split as the run made it
    (``config``: the checkpoint's run, whose held-out items ``--split val`` means)."""
    card = source.card
    name = request.dataset or card.dataset
    if not name:
        raise ZooError(f"{source.label} names no dataset: pass --dataset")
    args = dict(request.dataset_args) if request.dataset else dict(card.dataset_args)
    data_dir = request.data_dir or (config.data_dir if config else None)
    same_data = config is not None and (name, args) == (config.dataset, config.dataset_args)
    held = config if same_data and config.val_split else None
    if request.split == "val" and same_data and not config.val_split:
        data = open_dataset(name, args, data_dir, train=False)
        return EvalData(name, data, None, "test split (the run validated on it)")
    data, indices, source_text = open_split(name, args, data_dir, request.split, held)
    return EvalData(name, data, indices, source_text)


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


@dataclass(frozen=True)
class EvalJob:
    """An evaluation decided before any work: the weights (resolved), the request (its ``spec``
    the one used), the test-time augmentation and the results folder, checked writable."""

    source: Source
    request: EvalRequest
    tta: TTAChoice
    folder: Path
    newest: Path | None = None  # the run taken because none was named (the command says so)

    @property
    def label(self) -> str:
        """What is evaluated, as the user named it (or the newest run's path)."""
        return self.request.spec or self.source.label


def plan(request: EvalRequest, source: Source | None = None) -> EvalJob:
    """What ``zoo eval`` will do, checked before any work: the request's options, the weights
    (``source``, else what the request names, else the newest run in --runs), the TTA (--tta,
    else what the weights' card records) and the results folder (--out, else beside the
    weights: :func:`results_folder`), which must be writable."""
    check_fields(request)
    newest = None
    if source is None:
        if request.spec is None and request.weights is None:
            newest = newest_run(Path(request.runs or "runs"))
            request = replace(request, spec=str(newest))
        source = resolve(request.spec, request.weights, accept=WITH_WEIGHTS, command="zoo eval")
    tta = chosen_tta(source, request.tta)
    if request.out:
        folder = Path(request.out)
    else:
        dataset = request.dataset or source.card.dataset
        folder = results_folder(source, dataset, request.split, tta.mode, request.precision)
    check_folder(folder, "--out" if request.out else "the results folder")
    return EvalJob(source, request, tta, folder, newest)


def run(job: EvalJob, progress: Callable[[int, int], None] | None = None) -> EvalResult:
    """Measure the weights ``job`` plans on its split, the outputs averaged over its TTA's views,
    in its precision (bf16: autocast); ``progress`` hears each batch (done, total). Nothing is
    written: the caller shows the result first, then :func:`save_results`."""
    source, request = job.source, job.request
    card = source.card
    config = load_run_config(source.run) if source.run else None
    items = eval_data(source, config, request)
    facts = dataset_facts(items.name, items.data)
    check_fit(items.name, facts, card)
    torch_device = pick_device(request.device, 0)
    evaluation_split = make_split(
        items.data, facts, items.indices, request.batch_size, torch_device, Shard(), seed=0,
        workers=2,
    )  # fmt: skip
    model = with_tta(source.model(), job.tta.mode).to(torch_device)
    pipeline = BatchPipeline(card.preprocessing, torch_device)
    objective = Objective(card.task, card.output, len(card.classes))
    precision = effective_precision(request.precision, torch_device)
    result = evaluate(
        model,
        evaluation_split,
        pipeline,
        objective,
        lambda: autocast(precision, torch_device),
        progress=progress,
    )
    views = (job.tta, precision)
    return summarise(source, items, request.split, objective, result, job.folder, views)


def evaluate_weights(
    source: Source,
    request: EvalRequest = EvalRequest(),
    progress: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Evaluate trained weights (a run's kept checkpoint, a file, declared weights, a release)
    as ``request`` says (:func:`plan`, :func:`run`) and write the tables, plots and
    metrics.json (:func:`save_results`): training's own figure and publish's use it."""
    measured = run(plan(request, source), progress)
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
