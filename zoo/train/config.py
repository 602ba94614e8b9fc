"""Resolving a run's configuration: recipe, config file and flags, checked against the registry.

:class:`~zoo.artifacts.config.TrainConfig` is the one table of training options; this module
gives it values. Precedence, lowest first: zoo's defaults, the model's published recipe,
``--config FILE.toml``, then command-line flags. A recipe's optimizer arguments belong to the
recipe's optimizer: choosing another optimizer drops them. Config files, flags, sweeps and resumed
runs all go through the same conversion and checks. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import flags
from zoo.artifacts.config import (
    FIELDS,
    MERGED,
    RESUMABLE,
    TABLES,
    TrainConfig,
    load_run_config,
    option_name,
    read_toml,
)
from zoo.errors import ArgumentError
from zoo.flags import flag, option


@dataclass(frozen=True)
class TrainRequest:
    """``zoo train``: a model (or a config file naming it) with the options given over its
    recipe, or a run to resume with the few options ``--resume`` may change."""

    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # TrainConfig's, given: the top layer
    config: Path | None = option(
        None,
        flag(
            "--config",
            help="A TOML file holding any of these options (as config.toml).",
            kind=Path | None,
            metavar="FILE",
        ),
    )
    resume: Path | None = option(
        None,
        flag(
            "--resume",
            help="Continue a run directory from its last checkpoint, as configured.",
            kind=Path | None,
            metavar="RUN_DIR",
        ),
    )
    print_config: bool = option(
        False,
        flag("--print-config", help="Print the resolved configuration as TOML, exit.", kind=bool),
    )


def configure(request: TrainRequest) -> TrainConfig:
    """The checked configuration of the run ``request`` asks for, before any work."""
    if request.resume is None:
        return resolve(request.model, request.options, request.config)
    if request.model is not None or request.config is not None:
        raise ArgumentError("--resume takes the run's saved model and configuration alone")
    return resume_config(request.resume, request.options)


def parse_text(key: str, text: str) -> Any:
    """A training option's value from text (a sweep grid's), as a flag's would be."""
    if key not in FIELDS:
        raise ArgumentError(f"unknown training option '{key}'; known: {', '.join(sorted(FIELDS))}")
    return flags.value_of(TrainConfig, key, text, text=True)


def recipe_layer(model: str, optimizer: str | None) -> dict[str, Any]:
    """The model's published recipe (a partial configuration, checked when it was declared) and
    its default dataset; the recipe's optimizer arguments only when the run keeps its optimizer."""
    from zoo.registry import get_model_info

    info = get_model_info(model)
    layer = dict(info.recipe.values)
    if optimizer is not None and optimizer != info.recipe.optimizer:
        layer.pop("opt_args", None)
    if info.default_dataset:
        layer["dataset"] = info.default_dataset
    return layer


def weights_layer(model: str, weights: str) -> dict[str, Any]:
    """The normalisation and model arguments that trained weights were made with, for a run
    that starts from them (the file is fetched and checked here)."""
    from zoo.sources import resolve

    card = resolve(model, weights).card
    preprocessing = card.preprocessing
    return {
        "mean": list(preprocessing.mean) if preprocessing.mean else None,
        "std": list(preprocessing.std) if preprocessing.std else None,
        "model_args": dict(card.model_args),
    }


def merge(layers: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Later layers win; the argument tables merge key by key; None means 'not given'."""
    merged: dict[str, Any] = {table: {} for table in MERGED}
    for layer in layers:
        for key, value in layer.items():
            if key in MERGED:
                merged[key].update(value or {})
            elif value is not None:
                merged[key] = value
    return merged


def flags_layer(values: Mapping[str, Any]) -> dict[str, Any]:
    """Command-line values (None: not given) as configuration keys, the top layer."""
    return flags.given(TrainConfig, values)


def resolve(
    model: str | None, flags: Mapping[str, Any], config_file: Path | None = None
) -> TrainConfig:
    """The run's configuration from the recipe of ``model``, a TOML file and the flags; checked."""
    from_file = read_toml(config_file, table="sweep") if config_file else {}
    from_file.pop("sweep", None)  # zoo sweep's table: zoo train trains the shared options
    model = model or from_file.get("model")
    if not model:
        raise ArgumentError("name a model: zoo train MODEL (or set 'model' in --config)")
    optimizer = flags.get("optimizer") or from_file.get("optimizer")
    layers = [recipe_layer(model, optimizer), from_file, flags, {"model": model}]
    merged = merge(layers)
    if merged.get("weights"):  # fine-tuning: the weights' inputs and arguments, unless given
        layers.insert(1, weights_layer(model, merged["weights"]))
        merged = merge(layers)
    if not merged.get("dataset"):
        raise ArgumentError(f"model '{model}' has no default dataset: pass --dataset")
    return validate(TrainConfig(**merged))


def validate(config: TrainConfig) -> TrainConfig:
    """Refuse bad values and unknown names or arguments before any work starts; the config with
    its argument tables bound to their entries' signatures (typed values, not text)."""
    from zoo import factory
    from zoo.registry import get_dataset_info, get_model_info, get_registry

    flags.check_fields(config)
    if (config.mean is None) != (config.std is None):
        raise ArgumentError("mean and std must be given together")
    if config.std and min(config.std) <= 0:
        raise ArgumentError("std values must be > 0")
    registry = get_registry()
    names = {"model": config.model, "dataset": config.dataset, "optimizer": config.optimizer}
    bound = {}
    for table, kind in TABLES.items():
        entry, builder = registry.load(kind, names[kind])
        what = f"{option_name(table)}: {kind} '{entry.name}'"
        bound[table] = factory.bind(builder, {}, getattr(config, table), what, kind)
    model_output = get_model_info(config.model).output
    task = get_dataset_info(config.dataset).task
    if model_output == "regression" and task != "regression":
        raise ArgumentError(
            f"model '{config.model}' is a regression model; dataset '{config.dataset}' is for "
            "classification"
        )
    if model_output == "log_probs" and task == "regression":
        raise ArgumentError(
            f"model '{config.model}' outputs class log-probabilities; dataset "
            f"'{config.dataset}' is a regression table"
        )
    return dataclasses.replace(config, **bound)


def resume_config(run_dir: Path, layer: Mapping[str, Any]) -> TrainConfig:
    """A run's saved configuration with the few options --resume accepts applied (``layer``:
    the options given, as :func:`flags_layer` reads them)."""
    refused = sorted(
        key for key, value in layer.items() if value not in ({}, []) and key not in RESUMABLE
    )
    if refused:
        names = ", ".join(option_name(key) for key in refused)
        allowed = ", ".join(option_name(key) for key in RESUMABLE)
        raise ArgumentError(
            f"--resume continues with the run's saved configuration; {names} cannot change "
            f"(only {allowed} can)"
        )
    config = load_run_config(run_dir)
    changes = {key: value for key, value in layer.items() if key in RESUMABLE}
    return validate(dataclasses.replace(config, **changes))
