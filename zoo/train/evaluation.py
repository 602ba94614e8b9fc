"""``zoo eval``: a checkpoint on a dataset split: overall and per-class results, plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from zoo.errors import ZooError
from zoo.files import write_json
from zoo.train import report
from zoo.train.checkpoint import Checkpoint, load_checkpoint
from zoo.train.config import TrainConfig, load_run_config
from zoo.train.data import (
    EVAL_BATCH,
    Preprocess,
    Shard,
    describe,
    held_out,
    make_split,
    open_dataset,
)
from zoo.train.device import pick_device
from zoo.train.objective import Objective, evaluate

SPLITS = ("train", "val", "test")


def run_dir_of(spec: Path, checkpoint: Checkpoint) -> Path | None:
    """The run directory a checkpoint belongs to, if it is in one."""
    folder = spec if spec.is_dir() else checkpoint.path.parent.parent
    return folder if (folder / "config.json").is_file() else None


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


def evaluate_checkpoint(
    spec: str,
    console: Console,
    dataset: str | None = None,
    dataset_args: dict[str, Any] | None = None,
    data_dir: str | None = None,
    split: str = "test",
    batch_size: int = EVAL_BATCH,
    device: str = "auto",
    out: str | None = None,
) -> dict[str, Any]:
    """Evaluate a run's kept checkpoint (or a ``.safetensors`` file); write tables and plots."""
    if split not in SPLITS:
        raise ZooError(f"--split must be one of {', '.join(SPLITS)}, not '{split}'")
    if batch_size < 1:
        raise ZooError(f"--batch-size must be at least 1, not {batch_size}")
    checkpoint = load_checkpoint(spec)
    card = checkpoint.card
    run_dir = run_dir_of(Path(spec), checkpoint)
    config = load_run_config(run_dir) if run_dir else None
    name = dataset or card.dataset
    if not name:
        raise ZooError(f"checkpoint {checkpoint.path} names no dataset: pass --dataset")
    args = dataset_args if dataset else dict(card.dataset_args)
    data_dir = data_dir or (config.data_dir if config else None)
    same_data = config is not None and (name, args) == (config.dataset, config.dataset_args)
    held = config if same_data and config.val_split else None
    if split == "val" and same_data and not config.val_split:
        data, indices = open_dataset(name, args, data_dir, train=False), None
        source = "test split (the run validated on it)"
    else:
        data, indices, source = open_split(name, args, data_dir, split, held)
    description = describe(name, data)
    if description.input_shape != card.input_shape:
        raise ZooError(
            f"dataset '{name}' has inputs of shape {description.input_shape}; the checkpoint's "
            f"model takes {card.input_shape}"
        )
    names = list(card.classes)
    if len(description.names) != len(names) or description.task != card.task:
        raise ZooError(
            f"dataset '{name}' ({description.task}, {len(description.names)} outputs) does not "
            f"match the checkpoint ({card.task}, {len(names)} outputs)"
        )
    torch_device = pick_device(device, 0)
    evaluation_split = make_split(
        data, description, indices, batch_size, torch_device, Shard(), seed=0, workers=2
    )
    model = checkpoint.build_model().to(torch_device)
    preprocess = Preprocess(card.preprocessing, torch_device)
    objective = Objective(card.task, card.output, len(names))
    result = evaluate(model, evaluation_split, preprocess, objective)

    folder = Path(out) if out else (run_dir or checkpoint.path.parent) / "eval" / f"{name}-{split}"
    details = {
        "confusion": result.confusion,
        "target_mse": result.target_mse,
        "target_mae": result.target_mae,
    }
    title = f"{name}, {source}"
    rows = report.write_details(details, names, folder, console, title)
    summary = {
        "checkpoint": str(checkpoint.path),
        "weights_sha256": card.weights_sha256,
        "epoch": checkpoint.epoch,
        "dataset": name,
        "split": split,
        "items": result.count,
        "loss": result.loss,
        objective.metric: result.metric,
        "per_class" if result.confusion is not None else "per_target": rows,
        "output_dir": str(folder),
    }
    write_json(folder / "metrics.json", summary)
    shown = f"{objective.metric} " + (
        f"{result.metric:.4f}" if objective.regression else f"{100 * result.metric:.2f} %"
    )
    console.print(
        f"{card.model} (epoch {checkpoint.epoch}) on {title}: {result.count:,} items, "
        f"loss {result.loss:.4f}, {shown}",
        highlight=False,
    )
    console.print(f"results in {folder}", highlight=False, soft_wrap=True)
    return summary
