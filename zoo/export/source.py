"""What ``zoo export`` and ``zoo bench`` work on: a run directory, a checkpoint, an export
directory or a model name (a :class:`~zoo.export.options.SourceRequest`), resolved into an eager
model in eval mode and the card that goes with it; and the dataset their checks run on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import zoo
from zoo.artifacts.card import ModelCard, Preprocessing
from zoo.artifacts.checkpoint import load_checkpoint
from zoo.artifacts.manifest import DatasetRef, Manifest, is_export_dir
from zoo.artifacts.run import RunDir
from zoo.errors import ZooError
from zoo.export.options import SourceRequest
from zoo.factory import build_model, get_model_info, known_dataset_info, probe
from zoo.files import sha256_file
from zoo.meta import DatasetInfo
from zoo.pretrained import model_from_checkpoint
from zoo.weights.declared import locate, names_model
from zoo.weights.releases import is_hub_spec
from zoo.weights.releases import locate as locate_published

SUFFIXES = (".safetensors", ".onnx", ".pt2", ".pt")


@dataclass
class Source:
    """An eager model and everything an export of it must carry."""

    model: torch.nn.Module
    card: ModelCard
    weights: Path | None = None  # the safetensors file, None for fresh (seeded) weights
    export_dir: Path | None = None  # set when resolved from an export directory
    manifest: Manifest | None = None
    data_dir: str | None = None  # where the training run found its data (its config.json)

    @property
    def name(self) -> str:
        return self.card.model

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.card.input_shape

    @property
    def preprocessing(self) -> Preprocessing:
        return self.card.preprocessing

    @property
    def origin(self) -> str:
        """Where the weights come from, for people."""
        weights = "fresh weights" if self.weights is None else f"weights {self.weights}"
        return weights if self.export_dir is None else f"export {self.export_dir}, {weights}"


def resolve(request: SourceRequest) -> Source:
    """A run directory, ``.safetensors`` checkpoint, export directory, registered model name
    (with ``weights``: its trained weights, see :mod:`zoo.weights`) or a release on the Hub
    (``hf://OWNER/REPO``, see :mod:`zoo.published`)."""
    spec = request.spec
    if is_hub_spec(spec):
        if request.weights is not None:
            raise ZooError(f"{spec} publishes one set of weights: leave out --weights")
        return from_checkpoint(locate_published(str(spec)).path)
    if request.weights is not None:
        if spec is not None and not names_model(spec):
            raise ZooError("--weights goes with a model name, not a run, checkpoint or export")
        return from_checkpoint(locate(spec, request.weights).path)
    if not spec:
        raise ZooError("name a run directory, a checkpoint, an export or a model")
    path = Path(spec)
    if is_export_dir(path):
        return from_export_dir(path)
    if path.is_dir() or (path.is_file() and path.suffix == ".safetensors"):
        return from_checkpoint(path)
    if path.exists():
        raise ZooError(
            f"'{spec}' is not a run directory, a .safetensors checkpoint or an export directory"
        )
    if "/" in spec or spec.endswith(SUFFIXES):
        raise ZooError(f"no such run directory, checkpoint or export: '{spec}'")
    return fresh(spec, request)


def fresh(name: str, request: SourceRequest) -> Source:
    """A registered model with freshly initialised weights (reproducible from the seed)."""
    info = get_model_info(name)
    dataset = request.dataset or info.default_dataset
    if dataset:
        args = request.dataset_args if request.dataset else {}
        data = known_dataset_info(dataset, request.data_dir, **args)
    else:
        data = DatasetInfo()
    shape = request.input_shape or data.input_shape
    if not shape:
        raise ZooError(
            f"cannot tell the input shape of model '{name}': pass --input-shape or --dataset"
        )
    names = data.names or None
    num_classes = request.num_classes or (len(names) if names else None)
    model = seeded_model(name, tuple(shape), num_classes, dict(request.model_args), request.seed)
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
        model_args=dict(request.model_args),
        dataset=dataset or "",
        dataset_args=dict(request.dataset_args if request.dataset else {}),
        seed=request.seed,
        zoo_version=zoo.__version__,
        torch_version=torch.__version__,
    )
    return Source(model, card)


def seeded_model(
    name: str,
    shape: tuple[int, ...],
    num_classes: int | None,
    model_args: dict[str, Any],
    seed: int,
) -> torch.nn.Module:
    """A model with weights drawn from ``seed``, without touching the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(name, num_classes=num_classes, input_shape=shape, **model_args)
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
    checkpoint = load_checkpoint(path)
    run = RunDir(path if path.is_dir() else checkpoint.path.parent.parent)
    data_dir = run.data_dir() if run.is_run else None
    return Source(
        model_from_checkpoint(checkpoint),
        checkpoint.card,
        weights=checkpoint.path,
        data_dir=data_dir,
    )


def from_export_dir(path: Path) -> Source:
    """The eager model behind an export: its weights copy (hash checked) or seeded fresh weights."""
    manifest = Manifest.read(path)
    card = manifest.card
    if manifest.export.weights_file:
        weights = path / manifest.export.weights_file
        if not weights.is_file():
            raise ZooError(f"the export's weights file {weights} is missing: export again")
        if sha256_file(weights) != card.weights_sha256:
            raise ZooError(f"{weights} differs from the one exported (sha256): export again")
        source = from_checkpoint(weights)
        source.card = card
    else:
        model = seeded_model(
            card.model, card.input_shape, len(card.classes), dict(card.model_args), card.seed or 0
        )
        source = Source(model, card)
    source.export_dir, source.manifest = path, manifest
    return source


def checks_dataset(
    source: Source, request: SourceRequest, split: str = "test"
) -> DatasetRef | None:
    """The dataset checks run on: the one named, else the one an export was verified on, else
    the one the weights were trained on (a card names it with its arguments), or None."""
    if request.dataset:
        return DatasetRef(request.dataset, dict(request.dataset_args), split)
    if source.manifest is not None and source.manifest.dataset is not None:
        return DatasetRef(source.manifest.dataset.name, source.manifest.dataset.args, split)
    if source.card.dataset:
        return DatasetRef(source.card.dataset, dict(source.card.dataset_args), split)
    return None
