"""The resolved training configuration: recipe defaults, a TOML file and flags, checked up front.

Precedence, lowest first: zoo's defaults, the model's published recipe, ``--config FILE.toml``,
then command-line flags. Nothing here imports torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from zoo.errors import ArgumentError, ZooError

DEVICES = ("auto", "cpu", "cuda", "mps")
SCHEDULERS = ("none", "cosine")
AUGMENTATIONS = ("none", "flip", "crop-flip")
TABLES = ("model_args", "opt_args", "dataset_args")
RESUME_OVERRIDES = ("epochs", "device")  # what --resume lets a user change


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as config.json and config.toml."""

    model: str
    dataset: str
    optimizer: str = "adam"
    lr: float = 1e-3
    epochs: int = 10
    batch_size: int = 64
    device: str = "auto"
    seed: int = 0
    val_split: float | int = 0  # fraction or count of the train split held out; 0: use test
    scheduler: str = "none"
    augment: str = "none"
    amp: bool = False
    compile: bool = False
    workers: int = 2  # DataLoader workers, for datasets without the in-memory fast path
    data_dir: str | None = None
    out: str = "runs"
    mean: list[float] | None = None  # input normalisation; None: the dataset's, else measured
    std: list[float] | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    opt_args: dict[str, Any] = field(default_factory=dict)
    dataset_args: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_toml(self) -> str:
        """TOML that ``--config`` reads back to the same configuration (None values left out)."""
        data = self.to_dict()
        lines = [
            f"{key} = {toml_value(value)}"
            for key, value in data.items()
            if value is not None and key not in TABLES
        ]
        for table in TABLES:
            lines += ["", f"[{table}]"]
            lines += [f"{key} = {toml_value(value)}" for key, value in data[table].items()]
        return "\n".join(lines) + "\n"


FIELDS = {f.name for f in fields(TrainConfig)}


def toml_value(value: Any) -> str:
    """One TOML value: strings, numbers, booleans and lists of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    raise ArgumentError(f"cannot write {value!r} to TOML")


def read_toml(path: Path) -> dict[str, Any]:
    """A config file's keys, checked against the known ones."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ZooError("reading --config needs Python 3.11+ or the tomli package") from None
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ZooError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ZooError(f"config file {path} is not valid TOML: {exc}") from None
    data = {key.replace("-", "_"): value for key, value in data.items()}
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise ArgumentError(
            f"config file {path} has unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(FIELDS))}"
        )
    for table in TABLES:
        if not isinstance(data.get(table, {}), dict):
            raise ArgumentError(f"config file {path}: '{table}' must be a table")
    return data


def parse_val_split(value: str | float | int) -> float | int:
    """``"0.1"`` -> 0.1 (a fraction), ``"5000"`` -> 5000 (a count)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise ArgumentError(f"--val-split must be a fraction or a count, not '{value}'") from None


def recipe_defaults(model: str) -> dict[str, Any]:
    """The model's published recipe and default dataset, as configuration keys."""
    from zoo.factory import get_model_info

    info = get_model_info(model)
    recipe = info.recipe
    defaults: dict[str, Any] = {
        "optimizer": recipe.optimizer,
        "lr": recipe.lr,
        "batch_size": recipe.batch_size,
        "epochs": recipe.epochs,
        "val_split": recipe.val_split,
        "opt_args": dict(recipe.opt_args),
        "mean": list(recipe.mean) if recipe.mean else None,
        "std": list(recipe.std) if recipe.std else None,
    }
    if info.default_dataset:
        defaults["dataset"] = info.default_dataset
    return defaults


def merge(layers: list[Mapping[str, Any]]) -> dict[str, Any]:
    """Later layers win; the argument tables merge key by key; None means 'not given'."""
    merged: dict[str, Any] = {table: {} for table in TABLES}
    for layer in layers:
        for key, value in layer.items():
            if key in TABLES:
                merged[key].update(value or {})
            elif value is not None:
                merged[key] = value
    return merged


def resolve(
    model: str | None, flags: Mapping[str, Any], config_file: Path | None = None
) -> TrainConfig:
    """The run's configuration from the recipe of ``model``, a TOML file and the flags; checked."""
    from_file = read_toml(config_file) if config_file else {}
    model = model or from_file.get("model")
    if not model:
        raise ArgumentError("name a model: zoo train MODEL (or set 'model' in --config)")
    merged = merge([recipe_defaults(model), from_file, flags, {"model": model}])
    if not merged.get("dataset"):
        raise ArgumentError(f"model '{model}' has no default dataset: pass --dataset")
    config = TrainConfig(**merged)
    validate(config)
    return config


def validate(config: TrainConfig) -> None:
    """Refuse bad values and unknown names or arguments before any work starts."""
    from zoo import factory
    from zoo.registry import get_registry

    config.val_split = parse_val_split(config.val_split)
    checks = [
        (config.lr > 0, f"--lr must be > 0, not {config.lr}"),
        (config.epochs >= 1, f"--epochs must be at least 1, not {config.epochs}"),
        (config.batch_size >= 1, f"--batch-size must be at least 1, not {config.batch_size}"),
        (config.workers >= 0, f"--workers must be 0 or more, not {config.workers}"),
        (config.val_split >= 0, f"--val-split must be >= 0, not {config.val_split}"),
        (
            isinstance(config.val_split, int) or config.val_split < 1,
            f"--val-split must be a fraction below 1 or a whole count, not {config.val_split}",
        ),
        (
            config.device in DEVICES or config.device.startswith("cuda:"),
            f"--device must be one of {', '.join(DEVICES)}, not '{config.device}'",
        ),
        (
            config.scheduler in SCHEDULERS,
            f"--scheduler must be one of {', '.join(SCHEDULERS)}, not '{config.scheduler}'",
        ),
        (
            config.augment in AUGMENTATIONS,
            f"--augment must be one of {', '.join(AUGMENTATIONS)}, not '{config.augment}'",
        ),
        (
            (config.mean is None) == (config.std is None),
            "mean and std must be given together",
        ),
        (not config.std or min(config.std) > 0, "std values must be > 0"),
    ]
    for passed, message in checks:
        if not passed:
            raise ArgumentError(message)
    registry = get_registry()
    model_entry, model_fn = registry.load("model", config.model)
    dataset_entry, dataset_fn = registry.load("dataset", config.dataset)
    optimizer_entry, optimizer_fn = registry.load("optimizer", config.optimizer)
    factory.bind(
        model_fn,
        {},
        config.model_args,
        f"model '{model_entry.name}'",
        reserved=factory.MODEL_CONTEXT,
    )
    factory.bind(
        dataset_fn,
        {},
        config.dataset_args,
        f"dataset '{dataset_entry.name}'",
        reserved=("root", "train", "transform", "download"),
    )
    factory.bind(
        optimizer_fn,
        {},
        config.opt_args,
        f"optimizer '{optimizer_entry.name}'",
        reserved=("params", "lr"),
    )
    model_output = factory.get_model_info(config.model).output
    task = factory.get_dataset_info(config.dataset).task
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


def load_run_config(run_dir: Path) -> TrainConfig:
    """The configuration a run was started with (its config.json)."""
    path = run_dir / "config.json"
    if not path.is_file():
        raise ZooError(f"'{run_dir}' is not a run directory: it has no config.json")
    try:
        data = json.loads(path.read_text())
        return TrainConfig(**{key: value for key, value in data.items() if key in FIELDS})
    except (ValueError, TypeError) as exc:
        raise ZooError(f"{path} is damaged: {exc}") from None


def resume_config(run_dir: Path, flags: Mapping[str, Any]) -> TrainConfig:
    """A run's saved configuration with the few flags --resume accepts applied."""
    refused = sorted(
        key
        for key, value in flags.items()
        if value not in (None, {}, []) and key not in RESUME_OVERRIDES
    )
    if refused:
        names = ", ".join("--" + key.replace("_", "-") for key in refused)
        raise ArgumentError(
            f"--resume continues with the run's saved configuration; {names} cannot change "
            "(only --epochs and --device can)"
        )
    config = load_run_config(run_dir)
    for key in RESUME_OVERRIDES:
        if flags.get(key) is not None:
            setattr(config, key, flags[key])
    validate(config)
    return config
