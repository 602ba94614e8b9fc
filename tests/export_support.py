"""Shared by the export, bench and predict tests: each built-in model exported once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from zoo.registry import get_registry

BUILTIN_MODELS = sorted(entry.name for entry in get_registry().entries("model") if entry.builtin)
MODEL_ARGS = {"flowers-transfer": {"pretrained": "false"}}  # offline: no pretrained download
ONNX_ONLY = {"flowers-transfer"}  # resnet18 at 224×224 is the slow one
VERIFY_SAMPLES = 8


@dataclass
class Exported:
    """A built-in model with fresh weights, exported and verified."""

    source: Any
    directory: Path
    manifest: dict[str, Any]

    def file(self, fmt: str) -> Path:
        return self.directory / next(
            f["path"] for f in self.manifest["files"] if f["format"] == fmt
        )


_exports: dict[str, Exported] = {}


def exported(name: str, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """Export ``name`` (once per test session) to every format, ONNX only for the slow ones."""
    if name not in _exports:
        from zoo.export import formats, pipeline
        from zoo.export.source import load_samples, resolve

        source = resolve(name, model_args=MODEL_ARGS.get(name, {}))
        samples = load_samples(source, VERIFY_SAMPLES)
        wanted = ("onnx",) if name in ONNX_ONLY else formats.FORMATS
        directory = tmp_path_factory.mktemp(f"export-{name}")
        manifest = pipeline.export(source, directory, samples, formats_wanted=wanted)
        _exports[name] = Exported(source, directory, manifest)
    return _exports[name]


def normalised_split(
    dataset: str,
    train: bool,
    dataset_args: dict[str, Any] | None = None,
    data_dir: str | None = None,
) -> tuple[Any, Any, Any]:
    """A dataset's split as (uint8 images, normalised float images, labels)."""
    import torch

    from zoo.factory import create_dataset, known_dataset_info

    data = create_dataset(dataset, root=data_dir, train=train, **(dataset_args or {}))
    images, labels = data.as_tensors()
    info = known_dataset_info(dataset, data_dir, **(dataset_args or {}))
    mean = torch.tensor(info.mean or [0.0]).reshape(1, -1, 1, 1)
    std = torch.tensor(info.std or [1.0]).reshape(1, -1, 1, 1)
    return images, (images.float() / 255 - mean) / std, labels


def trained_run(
    directory: Path,
    model: str,
    dataset: str = "digits",
    *,
    steps: int = 150,
    data_dir: str | None = None,
    dataset_args: dict[str, Any] | None = None,
) -> Path:
    """A run directory as `zoo train` writes it (config.json, checkpoints/last.safetensors with
    its metadata), holding ``model`` trained for ``steps`` real Adam steps on ``dataset``."""
    import json

    import torch

    import zoo
    from zoo.card import ModelCard, Preprocessing
    from zoo.factory import known_dataset_info
    from zoo.train.checkpoint import save_weights

    info = known_dataset_info(dataset, data_dir, **(dataset_args or {}))
    _, inputs, labels = normalised_split(dataset, True, dataset_args, data_dir)
    shape = tuple(inputs.shape[1:])
    classes = list(info.classes or [str(i) for i in range(int(labels.max()) + 1)])
    torch.manual_seed(0)
    net = zoo.create_model(model, num_classes=len(classes), input_shape=shape)
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    log_probs = zoo.get_model_info(model).output == "log_probs"
    loss_fn = torch.nn.NLLLoss() if log_probs else torch.nn.CrossEntropyLoss()
    net.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny steps: one thread is fastest, above all on a busy machine
    try:
        for _ in range(steps):
            batch = torch.randint(0, len(inputs), (64,), generator=generator)
            optimiser.zero_grad()
            loss_fn(net(inputs[batch]), labels[batch]).backward()
            optimiser.step()
    finally:
        torch.set_num_threads(threads)
    card = ModelCard(
        model=model,
        preprocessing=Preprocessing(shape, info.mean, info.std),
        classes=tuple(classes),
        output="log_probs" if log_probs else "logits",
        dataset=dataset,
        dataset_args=dict(dataset_args or {}),
        epoch=1,
        seed=0,
    )
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(
        json.dumps({"model": model, "dataset": dataset, "data_dir": data_dir})
    )
    save_weights(directory / "checkpoints" / "last.safetensors", net.eval().state_dict(), card)
    return directory
