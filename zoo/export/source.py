"""Resolve what the user names (a run directory, a checkpoint, an export directory or a model name)
into an eager model in eval mode, the deployment metadata that goes with it, and sample inputs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import zoo
from zoo.card import ModelCard, Preprocessing
from zoo.errors import ZooError
from zoo.export.metadata import ExportInfo
from zoo.factory import create_dataset, create_model, get_model_info, known_dataset_info, probe
from zoo.files import sha256_file
from zoo.meta import DatasetInfo

MANIFEST = "manifest.json"


@dataclass
class Source:
    """An eager model and everything an export of it must carry."""

    model: torch.nn.Module
    card: ModelCard
    weights: Path | None = None  # the safetensors file, None for fresh (seeded) weights
    export_dir: Path | None = None  # set when resolved from an export directory
    manifest: dict[str, Any] = field(default_factory=dict)
    data_dir: str | None = None  # where the training run found its data (its config.json)

    @property
    def name(self) -> str:
        return self.card.model

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.card.input_shape


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


def resolve(
    spec: str | None,
    *,
    weights: str | None = None,
    dataset: str | None = None,
    dataset_args: dict[str, str] | None = None,
    data_dir: str | None = None,
    input_shape: tuple[int, ...] | None = None,
    num_classes: int | None = None,
    model_args: dict[str, str] | None = None,
    seed: int = 0,
) -> Source:
    """A run directory, ``.safetensors`` checkpoint, export directory or registered model name
    (with ``weights``: its trained weights, see :mod:`zoo.weights`)."""
    if weights is not None:
        return from_weights(spec, weights)
    if not spec:
        raise ZooError("name a run directory, a checkpoint, an export or a model")
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
    card = ModelCard(
        model=name,
        preprocessing=Preprocessing(tuple(shape), mean, std),
        classes=class_names(model, name, tuple(shape), names),
        task=data.task,
        output="regression" if data.task == "regression" else info.output,
        model_args=dict(model_args),
        dataset=dataset or "",
        dataset_args=dict(dataset_args),
        seed=seed,
        zoo_version=zoo.__version__,
        torch_version=torch.__version__,
    )
    return Source(model, card)


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
        probe(model, name, shape)  # also materialises lazy layers
    return model.eval()


def class_names(
    model: torch.nn.Module, name: str, shape: tuple[int, ...], names: tuple[str, ...] | None
) -> tuple[str, ...]:
    """The dataset's class (or target) names if they fit the model's output width, else indices."""
    width = probe(model, name, shape).reshape(2, -1).shape[1]
    return tuple(names) if names and len(names) == width else tuple(str(i) for i in range(width))


def from_checkpoint(path: Path) -> Source:
    """Trained weights: a run directory (its kept checkpoint) or a ``.safetensors`` file."""
    from zoo.train.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(path)
    model, data_dir = checkpoint.build_model(), run_data_dir(path, checkpoint.path)
    return Source(model, checkpoint.card, weights=checkpoint.path, data_dir=data_dir)


def run_data_dir(spec: Path, weights: Path) -> str | None:
    """The data directory the checkpoint's training run recorded in its config.json, if any."""
    run_dir = spec if spec.is_dir() else weights.parent.parent
    try:
        return json.loads((run_dir / "config.json").read_text()).get("data_dir")
    except (OSError, ValueError, AttributeError):
        return None


def from_weights(model: str | None, weights: str) -> Source:
    """A model's trained weights: ``NAME``, ``default`` or a ``.safetensors`` file."""
    from zoo.weights import locate, names_model

    if model is not None and not names_model(model):
        raise ZooError("--weights goes with a model name, not a run, checkpoint or export")
    return from_checkpoint(locate(model, weights).path)


def from_export_dir(path: Path) -> Source:
    """The eager model behind an export: its weights copy (hash checked) or seeded fresh weights."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        card = ModelCard.from_json(manifest["card"], f"{path / MANIFEST}")
        info = ExportInfo.from_json(manifest["export"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ZooError(f"{path / MANIFEST} is damaged or from another zoo version: {exc}") from None
    if info.weights_file:
        weights = path / info.weights_file
        if not weights.is_file():
            raise ZooError(f"the export's weights file {weights} is missing: export again")
        if sha256_file(weights) != card.weights_sha256:
            raise ZooError(f"{weights} differs from the one exported (sha256): export again")
        source = from_checkpoint(weights)
        source.card = card
    else:
        model = build(
            card.model, card.input_shape, len(card.classes), dict(card.model_args), card.seed or 0
        )
        source = Source(model, card)
    source.export_dir, source.manifest = path, manifest
    return source


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
    """``count`` inputs of the test (or train) split if the data is here (``data_dir``, else the
    training run's own), else random ones: uniform pixels for images, rows that normalise to
    N(0, 1) for anything else."""
    name = dataset or source.card.dataset
    args = (dataset_args or {}) if dataset else dict(source.card.dataset_args)
    preprocessing = source.card.preprocessing
    reason = "no dataset"
    if name:
        try:
            raw, labels, origin = real_inputs(
                name, args, data_dir or source.data_dir, preprocessing, count, train
            )
            inputs = preprocessing.normalise(raw)
            return Samples(torch.from_numpy(inputs), origin, True, raw, labels)
        except ZooError:
            reason = f"{name} is not available here; --data-dir names where it is"
    raw = random_raw(preprocessing, count, seed)
    kind = "uniform random images" if preprocessing.image else "random inputs"
    inputs = torch.from_numpy(preprocessing.normalise(raw))
    return Samples(inputs, f"{count} {kind} ({reason})", False, raw)


def random_raw(preprocessing: Preprocessing, count: int, seed: int) -> np.ndarray:
    """Random raw inputs: uint8 pixels for images (what an image could hold, unlike N(0, 1)
    tensors, on which trained models answer near-ties), else rows that normalise to N(0, 1)."""
    generator = np.random.default_rng(seed)
    shape = (count, *preprocessing.input_shape)
    if preprocessing.image:
        return generator.integers(0, 256, shape, dtype=np.uint8)
    normalised = generator.standard_normal(shape).astype(np.float32)
    multiplier, offset = (np.asarray(v, np.float32) for v in preprocessing.affine())
    return (normalised - offset) / multiplier  # the rows that normalise to ``normalised``


def real_inputs(
    name: str,
    dataset_args: dict[str, str],
    data_dir: str | None,
    preprocessing: Preprocessing,
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
        batch = np.stack([as_array(item[0], preprocessing) for item in items])
        labels = np.asarray([np.asarray(item[1]) for item in items])
    split = "train" if train else "test"
    if not len(batch):
        raise ZooError(f"the {split} split is empty")
    shape = preprocessing.input_shape
    if tuple(batch.shape[1:]) != shape:
        raise ZooError(f"samples have shape {tuple(batch.shape[1:])}, the model takes {shape}")
    return batch, labels, f"{len(batch)} real {split} samples of {name}"


def as_array(item: Any, preprocessing: Preprocessing) -> np.ndarray:
    """A dataset item (PIL image or tensor) as numpy, images converted as `zoo predict` does."""
    if hasattr(item, "getbands"):
        return preprocessing.image_to_array(item)
    return np.asarray(item)
