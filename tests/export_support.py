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
    manifest: Any  # zoo.artifacts.manifest.Manifest

    def file(self, fmt: str) -> Path:
        return self.directory / self.manifest.file(fmt).path


_exports: dict[str, Exported] = {}


def exported(name: str, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """Export ``name`` (once per test session) to every format, ONNX only for the slow ones."""
    if name not in _exports:
        from zoo.export import pipeline
        from zoo.export.options import ExportRequest
        from zoo.sources import SourceRequest

        source = SourceRequest(spec=name, model_args=MODEL_ARGS.get(name, {})).resolve()
        samples = source_samples(source, VERIFY_SAMPLES)
        request = ExportRequest(formats=("onnx",) if name in ONNX_ONLY else ())
        directory = tmp_path_factory.mktemp(f"export-{name}") / "export"
        manifest = pipeline.export(source, directory, request, samples)
        _exports[name] = Exported(source, directory, manifest)
    return _exports[name]


def read_metadata(fmt: str, path: Path) -> Any:
    """What an exported file carries (its card, export facts, file facts, certificate)."""
    from zoo.artifacts.manifest import from_props
    from zoo.export.formats import FORMATS

    return from_props(FORMATS[fmt].read_props(path), str(path))


def quick_export(source: Any, out: Path, count: int, **request: Any) -> Any:
    """``source`` exported into ``out`` (formats, batch... as ExportRequest takes them), verified
    on ``count`` of its own samples; the manifest."""
    from zoo.export import pipeline
    from zoo.export.options import ExportRequest

    return pipeline.export(source, out, ExportRequest(**request), source_samples(source, count))


def source_samples(source: Any, count: int, data_dir: str | None = None, seed: int = 0) -> Any:
    """``count`` test samples of the source's own dataset (stratified), else random inputs."""
    from zoo.export.samples import load_samples

    return load_samples(
        source.preprocessing, source.dataset, data_dir or source.data_dir, count, seed
    )


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
    from zoo.artifacts.card import ModelCard, Preprocessing
    from zoo.artifacts.checkpoint import save_weights
    from zoo.factory import known_dataset_info

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


def one_weight_changed(path: Path) -> None:
    """One weight of an ONNX graph changed, the protobuf still valid (it loads and runs): a
    file that is no longer the one that was verified."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    tensor = model.graph.initializer[0]
    values = numpy_helper.to_array(tensor).copy()
    values.flat[0] += 0.5
    tensor.CopyFrom(numpy_helper.from_array(values, tensor.name))
    onnx.save(model, str(path))


def with_card(source: Any, **changes: Any) -> Any:
    """A fresh-model source whose card says otherwise (its classes, its preprocessing); the
    model is the same seeded one."""
    import dataclasses

    base = type(source)

    @dataclasses.dataclass(frozen=True)
    class Changed(base):  # type: ignore[misc, valid-type]
        @property
        def card(self) -> Any:
            return base.card.fget(self).with_(**changes)  # type: ignore[attr-defined]

    return Changed(**{f.name: getattr(source, f.name) for f in dataclasses.fields(source)})
