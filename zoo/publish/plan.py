"""What ``zoo publish`` checks before any work, and the facts of the run it publishes.

Every refusal that needs no work comes first (:func:`plan`): a run without kept weights, a
weights name that is not valid or already stands for another file, an ``--out`` or ``--to``
that holds something else, a plugin project that does not register the model, no login or no
network for the Hub, a precision the model cannot have. Each is one line. The plan says what the
release is made from (:attr:`ReleasePlan.source`) and the export it holds (:attr:`ReleasePlan.export`:
ONNX files with the test-time augmentation the weights' card records).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from zoo.artifacts.card import ModelCard
from zoo.artifacts.checkpoint import read_card
from zoo.artifacts.config import FIELDS, TrainConfig, field_default
from zoo.artifacts.run import RunDir, kept_epoch
from zoo.errors import ArgumentError, UnknownNameError, ZooError
from zoo.export import pipeline
from zoo.export.options import ExportRequest
from zoo.files import check_folder, sha256_file
from zoo.meta import DEFAULT_WEIGHTS, WEIGHTS_NAME, weights_named
from zoo.publish import plugin, targets
from zoo.publish.options import PublishRequest
from zoo.registry import Entry, get_model_info, get_registry
from zoo.sources import RunDirectory, SourceRequest, WeightsFile, resolve


@dataclass(frozen=True)
class ReleasePlan:
    """A publish request, checked: the file, the model, the name and where it all goes."""

    request: PublishRequest
    checkpoint: Path  # the run's kept weights
    run: RunDir | None
    card: ModelCard
    sha256: str
    entry: Entry  # the registered model
    name: str
    out: Path
    target: targets.Target | None
    package: plugin.PluginPackage | None
    source: WeightsFile  # the run (its kept weights) or the file named
    export: ExportRequest  # the release's ONNX files, with the TTA the weights' card records

    @property
    def model(self) -> str:
        return self.entry.name

    @property
    def file_name(self) -> str:
        """``MODEL-NAME-<first 8 of sha256>.safetensors``, torchvision's naming."""
        return f"{self.model}-{self.name}-{self.sha256[:8]}.safetensors"

    @property
    def data(self) -> SourceRequest:
        """The data the export is checked on: --data-dir (which must hold it), else the run's."""
        return SourceRequest(data_dir=self.request.data_dir)

    @property
    def training(self) -> TrainConfig:
        """The options that trained the weights: the run's, else those the card records."""
        if self.run is not None:
            return self.run.config()
        return TrainConfig.from_json(dict(self.card.training), f"the card of {self.checkpoint}")

    @property
    def label(self) -> str:
        """The run (or file) the weights come from, for the commit message and the card."""
        return self.run.name if self.run else self.checkpoint.name


# -- checks before any work --------------------------------------------------------------------


def plan(request: PublishRequest) -> ReleasePlan:
    """Every refusal that needs no work, in one pass, before any."""
    name = check_name(request.name)
    source = resolve(request.spec, accept=(RunDirectory, WeightsFile), command="zoo publish")
    assert isinstance(source, WeightsFile)
    checkpoint = source.weights_file
    card = read_card(checkpoint)
    entry = registered(card.model, checkpoint)
    sha256 = sha256_file(checkpoint)
    run = RunDir(checkpoint.parent.parent)
    target = targets.parse_target(request.to, request.base_url)
    package = plugin.find_plugin(Path(request.plugin), entry.name) if request.plugin else None
    check_unclaimed(entry, name, sha256, package)
    out = Path(request.out) if request.out else Path("releases") / f"{entry.name}-{name}"
    check_folder(out, "--out")
    if out.exists() and not targets.is_release(out):
        raise ArgumentError(
            f"--out {out} holds something other than a release zoo published: choose another"
        )
    if package is not None:
        check_folder(package.package / plugin.WEIGHTS_FOLDER, "--plugin's weights folder")
    if target is not None:
        targets.check_target(target, out.name)
    export = ExportRequest(formats=("onnx",), precisions=request.precisions, tta=source.tta)
    pipeline.check_request(source, export)
    return ReleasePlan(
        request, checkpoint, run if run.is_run else None, card, sha256, entry, name, out,
        target, package, source, export,
    )  # fmt: skip


def check_name(name: str | None) -> str:
    if not name:
        raise ArgumentError("--name NAME is required: the name users will pass to --weights")
    if not WEIGHTS_NAME.match(name) or name == DEFAULT_WEIGHTS:
        raise ArgumentError(
            f"--name '{name}' is not a valid weights name: lower-case letters, digits, '-', "
            f"'_' and '.', starting with a letter or digit, and not '{DEFAULT_WEIGHTS}'"
        )
    return name


def registered(model: str, checkpoint: Path) -> Entry:
    """The registered model a checkpoint's card names (it is rebuilt, measured and exported)."""
    try:
        return get_registry().resolve("model", model)
    except UnknownNameError:
        raise ZooError(
            f"{checkpoint} holds weights of model '{model}', which is not registered here: "
            "install the plugin that provides it"
        ) from None


def check_unclaimed(
    entry: Entry, name: str, sha256: str, package: plugin.PluginPackage | None
) -> None:
    """A name stands for one file: refuse one the model (or the plugin) already declares with
    another sha256."""
    claims: list[tuple[str, str]] = []
    found = weights_named(get_model_info(entry.qualified_name), name)
    if found is not None:
        claims.append((found.sha256, f"{entry.name} ({entry.source})"))
    if package is not None:
        claims += [
            (str(item.get("sha256")), str(package.index))
            for item in plugin.declarations(package)
            if item.get("name") == name
        ]
    for declared, where in claims:
        if declared != sha256:
            raise ArgumentError(
                f"weights '{name}' are already declared by {where} with sha256 "
                f"{declared[:12]}…, not this file's {sha256[:12]}…: a name stands for one "
                f"file; choose another --name (such as {name}-v2)"
            )


ALWAYS = ("dataset", "optimizer", "lr", "epochs", "batch_size", "seed", "val_split")


def training_command(checked: ReleasePlan) -> str:
    """``zoo train ...`` that trains these weights again: the recipe's options and every
    other one the run set away from zoo's default (or that the model's recipe sets), spelt as
    their flags."""
    config = checked.training.to_dict()
    recipe = get_model_info(checked.entry.qualified_name).recipe
    named = set(ALWAYS) | set(recipe.values)
    parts = ["zoo", "train", checked.card.model]
    for key, value in config.items():
        item = FIELDS.get(key)
        cli = item.metadata.get("cli") if item is not None else None
        if cli is None or value is None or value is False or value in ({}, []):
            continue
        recorded = item.metadata.get("recorded", True)
        if (not recorded and key != "data_dir") or (
            key not in named and value == field_default(key)
        ):
            continue  # where it ran (not what trained it), or zoo's default
        if value is True:
            parts.append(cli.name)
        elif isinstance(value, dict):
            for name, setting in value.items():
                parts += [cli.name, f"{name}={setting}"]
        elif not isinstance(value, list):
            parts += [cli.name, str(value)]
    return shlex.join(parts)


def trained_on(checked: ReleasePlan) -> str:
    """``1,198 items of the train split of digits (the rest held out ...)``."""
    history = checked.run.history() if checked.run else []
    dataset = checked.card.dataset
    if not history:
        return f"the train split of {dataset}"
    items = history[-1].train_items
    held = history[-1].split == "val"
    return f"{items:,} items of the train split of {dataset}" + (
        " (the rest held out to pick the best epoch)" if held else ""
    )


def kept_text(checked: ReleasePlan) -> str:
    history = checked.run.history() if checked.run else []
    kept = kept_epoch(history)
    if kept is None:
        return f"epoch {checked.card.epoch or '?'}"
    how = "best on the held-out items" if kept.split == "val" else "the last: it validated on test"
    return f"epoch {kept.epoch} of {history[-1].epoch} ({how}), run `{checked.label}`"
