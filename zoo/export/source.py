"""Resolve what the user names (a run directory, a checkpoint, an export directory or a model name)
into an eager model in eval mode, the deployment metadata that goes with it, and sample inputs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import zoo
from zoo.describe import check_forward
from zoo.errors import ZooError
from zoo.export.metadata import NO_CHECKPOINT
from zoo.export.predict import image_to_array, normalise
from zoo.factory import (
    create_dataset,
    create_model,
    get_model_info,
    known_dataset_info,
)
from zoo.meta import DatasetInfo

MANIFEST = "manifest.json"


@dataclass
class Source:
    """An eager model and everything an export of it must carry."""

    model: torch.nn.Module
    meta: dict[str, Any]  # the fields of zoo.export.metadata.FIELDS
    weights: Path | None = None  # the checkpoint file, None for fresh weights
    export_dir: Path | None = None  # set when resolved from an export directory
    manifest: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None  # where the training run found its data (its config.json)

    @property
    def name(self) -> str:
        return self.meta["model"]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.meta["input_shape"])


@dataclass
class Samples:
    """A batch of normalised inputs, where it came from, and the same inputs before normalisation
    (uint8 pixels or feature rows) with their labels when they are real."""

    inputs: torch.Tensor
    origin: str
    real: bool
    raw: np.ndarray | None = None
    labels: np.ndarray | None = None  # class indices (or regression targets) of real samples

    def __len__(self) -> int:
        return len(self.inputs)

    def spread(self, count: int) -> Samples:
        """``count`` of the samples spread evenly over them (all if there are no more)."""
        if count >= len(self.inputs):
            return self
        picked = np.linspace(0, len(self.inputs) - 1, count).round().astype(int)
        return Samples(
            self.inputs[picked],
            f"{count} of {self.origin}",
            self.real,
            None if self.raw is None else self.raw[picked],
            None if self.labels is None else self.labels[picked],
        )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(
    spec: str,
    *,
    dataset: str | None = None,
    dataset_args: dict[str, str] | None = None,
    data_dir: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    num_classes: int | None = None,
    model_args: dict[str, str] | None = None,
    seed: int = 0,
) -> Source:
    """A run directory, ``.safetensors`` checkpoint, export directory or registered model name."""
    path = Path(spec)
    if path.is_dir() and (path / MANIFEST).is_file():
        return from_export_dir(path)
    if path.is_dir() or (path.is_file() and path.suffix == ".safetensors"):
        return from_checkpoint(path)
    if path.exists():
        raise ZooError(
            f"'{spec}' is not a run directory, a .safetensors checkpoint or an export directory"
        )
    if "/" in spec or spec.endswith((".safetensors", ".onnx", ".pt2", ".pt")):
        raise ZooError(f"no such run directory, checkpoint or export: '{spec}'")
    return fresh(
        spec,
        dataset,
        dataset_args or {},
        data_dir,
        input_shape,
        num_classes,
        model_args or {},
        seed,
    )


def fresh(
    name: str,
    dataset: str | None,
    dataset_args: dict[str, str],
    data_dir: str | None,
    input_shape: tuple[int, ...] | None,
    num_classes: int | None,
    model_args: dict[str, Any],
    seed: int,
) -> Source:
    """A registered model with freshly initialised weights (reproducible from ``seed``)."""
    info = get_model_info(name)
    dataset = dataset or info.default_dataset
    data = known_dataset_info(dataset, data_dir, **dataset_args) if dataset else DatasetInfo()
    shape = input_shape or data.input_shape
    if not shape:
        raise ZooError(
            f"cannot tell the input shape of model '{name}': pass --input-shape or --dataset"
        )
    names = data.targets if data.task == "regression" else data.classes
    num_classes = num_classes or (len(names) if names else None)
    model = build(name, tuple(shape), num_classes, model_args, seed)
    mean = info.recipe.mean or data.mean
    std = info.recipe.std or data.std
    if mean and len(shape) == 3 and len(mean) not in (1, shape[0]):
        mean = std = None  # the dataset's per-channel values do not fit --input-shape's channels
    meta = {
        "model": name,
        "model_args": dict(model_args),
        "dataset": dataset or "",
        "dataset_args": dict(dataset_args),
        "task": data.task,
        "output": "regression" if data.task == "regression" else info.output,
        "classes": class_names(model, shape, names),
        "input_shape": list(shape),
        "mean": list(mean) if mean else None,
        "std": list(std) if std else None,
        "checkpoint": NO_CHECKPOINT,
        "checkpoint_sha256": NO_CHECKPOINT,
        "seed": seed,
    }
    return Source(model, with_versions(meta))


def build(
    name: str,
    shape: tuple[int, ...],
    num_classes: int | None,
    model_args: dict[str, Any],
    seed: int,
) -> torch.nn.Module:
    """Build a model with weights drawn from ``seed``, without touching the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_model(name, num_classes=num_classes, input_shape=shape, **model_args)
        check_forward(model, name, shape)  # also materialises lazy layers
    return model.eval()


def class_names(
    model: torch.nn.Module, shape: tuple[int, ...], names: tuple[str, ...] | None
) -> list[str]:
    """The dataset's class (or target) names if they fit the model's output width, else indices."""
    with torch.no_grad():
        width = model(torch.zeros(2, *shape)).reshape(2, -1).shape[1]
    return list(names) if names and len(names) == width else [str(i) for i in range(width)]


def from_checkpoint(path: Path) -> Source:
    """Trained weights: a run directory (its best checkpoint) or a ``.safetensors`` file."""
    from zoo.train.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(path)
    model, info, shape = checkpoint.build_model(), checkpoint.meta, checkpoint.input_shape
    meta = {
        "model": info["model"],
        "model_args": info.get("model_args") or {},
        "dataset": info.get("dataset") or "",
        "dataset_args": info.get("dataset_args") or {},
        "task": info.get("task") or "classification",
        "output": info.get("output") or "logits",
        "classes": class_names(model, shape, tuple(checkpoint.classes)),
        "input_shape": list(shape),
        "mean": info.get("mean"),
        "std": info.get("std"),
        "checkpoint": str(checkpoint.path.resolve()),
        "checkpoint_sha256": sha256_file(checkpoint.path),
    }
    return Source(
        model, with_versions(meta), weights=checkpoint.path, data_dir=run_data_dir(path, checkpoint)
    )


def run_data_dir(spec: Path, checkpoint: Any) -> str | None:
    """The data directory the checkpoint's training run recorded in its config.json, if any."""
    run_dir = spec if spec.is_dir() else checkpoint.path.parent.parent
    try:
        return json.loads((run_dir / "config.json").read_text()).get("data_dir")
    except (OSError, ValueError, AttributeError):
        return None


def from_export_dir(path: Path) -> Source:
    """The eager model behind an export: its checkpoint (hash checked) or seeded fresh weights."""
    manifest = json.loads((path / MANIFEST).read_text())
    meta = manifest["metadata"]
    if meta["checkpoint"] == NO_CHECKPOINT:
        shape = tuple(meta["input_shape"])
        model = build(meta["model"], shape, len(meta["classes"]), meta["model_args"], meta["seed"])
        source = Source(model, meta)
    else:
        weights = Path(meta["checkpoint"])
        if not weights.is_file():
            raise ZooError(f"the checkpoint this export came from is gone: {weights}")
        if sha256_file(weights) != meta["checkpoint_sha256"]:
            raise ZooError(
                f"the checkpoint {weights} changed since this export (sha256 differs): export again"
            )
        source = from_checkpoint(weights)
        source.meta = meta
    source.export_dir, source.manifest = path, manifest
    return source


def with_versions(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` plus the input convention and the zoo and torch versions."""
    return {
        **meta,
        "input": "normalised",
        "zoo_version": zoo.__version__,
        "torch_version": torch.__version__,
    }


def load_samples(
    source: Source,
    count: int,
    *,
    dataset: str | None = None,
    dataset_args: dict[str, str] | None = None,
    data_dir: str | None = None,
    seed: int = 0,
    train: bool = False,
) -> Samples:
    """``count`` inputs of the test (or train) split if the data is here, else random ones:
    uniform pixels for images, standard normal (after normalisation) for anything else."""
    name = dataset or source.meta.get("dataset")
    args = (dataset_args or {}) if dataset else source.meta.get("dataset_args") or {}
    mean, std = source.meta.get("mean"), source.meta.get("std")
    reason = "no dataset"
    if name:
        try:
            raw, labels, origin = real_inputs(
                name, args, data_dir or source.data_dir, source.input_shape, count, train
            )
            inputs = normalise(raw, mean, std)
            return Samples(torch.from_numpy(inputs), origin, True, raw, labels)
        except ZooError:
            reason = f"{name} is not available here"
    raw = random_raw(source.input_shape, count, mean, std, seed)
    inputs = torch.from_numpy(normalise(raw, mean, std))
    kind = "uniform random images" if raw.dtype == np.uint8 else "random inputs"
    return Samples(inputs, f"{count} {kind} ({reason})", False, raw)


def random_raw(
    shape: tuple[int, ...],
    count: int,
    mean: list[float] | None,
    std: list[float] | None,
    seed: int,
) -> np.ndarray:
    """Random raw inputs: uint8 pixels for C×H×W images, else rows that normalise to N(0, 1)."""
    generator = np.random.default_rng(seed)
    if len(shape) == 3:
        return generator.integers(0, 256, (count, *shape), dtype=np.uint8)
    values = generator.standard_normal((count, *shape)).astype(np.float32)
    if mean is not None and std is not None:
        axis = (1, -1) + (1,) * (len(shape) - 1)
        values = values * np.asarray(std, np.float32).reshape(axis) + np.asarray(
            mean, np.float32
        ).reshape(axis)
    return values


def real_inputs(
    name: str,
    dataset_args: dict[str, str],
    data_dir: str | None,
    shape: tuple[int, ...],
    count: int,
    train: bool = False,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Up to ``count`` raw inputs spread evenly over the test (or train) split, and their labels."""
    data = create_dataset(name, root=data_dir, train=train, **dataset_args)
    if hasattr(data, "as_tensors"):
        inputs, targets = (np.asarray(t) for t in data.as_tensors())
        picked = np.linspace(0, len(inputs) - 1, min(count, len(inputs))).round().astype(int)
        batch, labels = inputs[picked], targets[picked]
    else:
        picked = np.linspace(0, len(data) - 1, min(count, len(data))).round().astype(int)
        items = [data[int(i)] for i in picked]
        batch = np.stack([as_array(item[0], shape) for item in items])
        labels = np.asarray([np.asarray(item[1]) for item in items])
    if not len(batch):
        raise ZooError(f"the {'train' if train else 'test'} split is empty")
    if tuple(batch.shape[1:]) != tuple(shape):
        raise ZooError(
            f"samples have shape {tuple(batch.shape[1:])}, the model takes {tuple(shape)}"
        )
    split = "train" if train else "test"
    return batch, labels, f"{len(batch)} real {split} samples of {name}"


def as_array(item: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A dataset item (PIL image or tensor) as numpy, images converted as `zoo predict` does."""
    if hasattr(item, "getbands"):
        return image_to_array(item, shape)
    return np.asarray(item)
