"""The training configuration: one table of options, resolved from recipe, file and flags, checked.

:class:`TrainConfig` is the single declaration of every training option: its type and default,
its command-line form (``zoo train`` builds its options from these fields), the check its value
must pass, and whether ``--resume`` may change it. Config files, flags, sweeps and resumed runs all
go through the same conversion and checks.

Precedence, lowest first: zoo's defaults, the model's published recipe, ``--config FILE.toml``,
then command-line flags. A recipe's optimizer arguments belong to the recipe's optimizer: choosing
another optimizer drops them. Nothing here imports torch.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from zoo import options
from zoo.errors import ArgumentError, ZooError
from zoo.factory import convert

DEVICES = ("auto", "cpu", "cuda", "mps")
SCHEDULERS = ("none", "cosine")
AUGMENTATIONS = ("none", "flip", "crop-flip")
TABLES = {"model_args": "model", "opt_args": "optimizer", "dataset_args": "dataset"}
Check = Callable[[Any], bool]


def option(
    default: Any,
    cli: Any = None,
    *,
    check: tuple[Check, str] | None = None,
    parse: Callable[[str], Any] | None = None,
    resume: bool = False,
) -> Any:
    """A :class:`TrainConfig` field: ``cli`` is its command-line option (None: config files
    only), ``check`` a test and the rule it enforces, ``parse`` turns its text into a value
    (default: by the field's type), ``resume`` whether ``--resume`` may change it."""
    metadata = {"cli": cli, "check": check, "parse": parse, "resume": resume}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=dict, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def parse_val_split(value: str | float | int) -> float | int:
    """``"0.1"`` -> 0.1 (a fraction), ``"5000"`` -> 5000 (a count)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise ArgumentError(f"val_split must be a fraction or a count, not '{value}'") from None


def one_of(choices: tuple[str, ...]) -> tuple[Check, str]:
    return (lambda value: value in choices, f"one of {', '.join(choices)}")


def _device(value: str) -> bool:
    return value in DEVICES or (value.startswith("cuda:") and value[5:].isdigit())


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as config.json and config.toml."""

    model: str = option("")  # the command's argument
    dataset: str = option("", options.Dataset)
    optimizer: str = option(
        "adam", options.flag("--optimizer", "-o", help="Optimizer (default: the recipe's).")
    )
    lr: float = option(
        1e-3,
        options.flag("--lr", help="Learning rate (default: the recipe's).", kind=float | None),
        check=(lambda v: v > 0, "> 0"),
    )
    epochs: int = option(
        10,
        options.flag("--epochs", "-e", help="Epochs (default: the recipe's).", kind=int | None),
        check=(lambda v: v >= 1, "at least 1"),
        resume=True,
    )
    batch_size: int = option(
        64,
        options.flag(
            "--batch-size",
            "-b",
            help="Batch size per process (default: the recipe's).",
            kind=int | None,
        ),
        check=(lambda v: v >= 1, "at least 1"),
    )
    device: str = option(
        "auto", options.Device, check=(_device, "auto, cpu, cuda, cuda:N or mps"), resume=True
    )
    seed: int = option(0, options.Seed)
    val_split: float | int = option(
        0,
        options.flag(
            "--val-split",
            help="Hold out this fraction (0.1) or count (5000) of the train split for validation "
            "and keep the best epoch's weights; 0 validates on the test split and keeps the last "
            "epoch's (default: the recipe's).",
        ),
        check=(
            lambda v: v >= 0 and (isinstance(v, int) or v < 1),
            "a fraction below 1 or a whole count, >= 0",
        ),
        parse=parse_val_split,
    )
    scheduler: str = option(
        "none",
        options.flag("--scheduler", help="Learning-rate schedule: none or cosine (default: none)."),
        check=one_of(SCHEDULERS),
    )
    augment: str = option(
        "none",
        options.flag(
            "--augment", help="Per-batch augmentation: none, flip or crop-flip (default: none)."
        ),
        check=one_of(AUGMENTATIONS),
    )
    amp: bool = option(
        False,
        options.flag("--amp/--no-amp", help="bfloat16 autocast (default: off).", kind=bool | None),
    )
    compile: bool = option(
        False,
        options.flag(
            "--compile/--no-compile",
            help="torch.compile the model (default: off).",
            kind=bool | None,
        ),
    )
    workers: int = option(
        2,
        options.flag(
            "--workers",
            help="DataLoader workers for datasets not held in memory (default: 2).",
            kind=int | None,
        ),
        check=(lambda v: v >= 0, "0 or more"),
        resume=True,
    )
    weights: str | None = option(
        None,
        options.flag(
            "--weights",
            help="Start from trained weights (fine-tuning): a name the model declares, 'default' "
            "or a .safetensors file; a new head where the class count differs.",
        ),
    )
    tensorboard: bool = option(
        False,
        options.flag(
            "--tensorboard/--no-tensorboard",
            help="Write TensorBoard event files into the run directory (default: off; on for "
            "zoo sweep when the tensorboard package is installed).",
            kind=bool | None,
        ),
        resume=True,
    )
    data_dir: str | None = option(None, options.DataDir, resume=True)
    out: str = option(
        "runs",
        options.flag(
            "--out", help="Where runs go; each gets its own sub-directory (default: runs)."
        ),
    )
    mean: list[float] | None = option(
        None
    )  # input normalisation; None: the dataset's, else measured
    std: list[float] | None = option(None)
    model_args: dict[str, Any] = option({}, options.ModelArg)
    opt_args: dict[str, Any] = option(
        {},
        options.flag(
            "--opt-arg",
            help="Optimizer argument name=value (repeatable); see 'zoo info OPTIMIZER'.",
            kind=list[str] | None,
        ),
    )
    dataset_args: dict[str, Any] = option({}, options.DatasetArg)

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

    def training_options(self) -> dict[str, Any]:
        """What a model card records of how its weights were trained (no paths, no devices)."""
        machine = {"model", "device", "workers", "data_dir", "out", "compile", "tensorboard"}
        return {key: value for key, value in self.to_dict().items() if key not in machine}


FIELDS = {f.name: f for f in fields(TrainConfig)}
HINTS = typing.get_type_hints(TrainConfig)


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


def option_name(key: str) -> str:
    """How users name a field: its flag if it has one, else its config key."""
    cli = FIELDS[key].metadata["cli"]
    if cli is None:
        return f"'{key}'"
    return options.flag_name(cli)


def parse_text(key: str, text: str) -> Any:
    """A field's value from text (a sweep grid, a flag): by its own parser, else by its type."""
    if key not in FIELDS:
        raise ArgumentError(f"unknown training option '{key}'; known: {', '.join(sorted(FIELDS))}")
    parse = FIELDS[key].metadata["parse"]
    if parse is not None:
        return parse(text)
    return convert(text, HINTS[key], FIELDS[key].default, key)


def typed(key: str, value: Any, where: str) -> Any:
    """``value`` checked against field ``key``'s type, as a config file gives it (no text
    conversion: ``epochs = "5"`` is as wrong as ``epochs = "many"``)."""
    hint = HINTS[key]
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    allowed = list(typing.get_args(hint)) if union else [hint]
    if value is None and type(None) in allowed:
        return None
    if FIELDS[key].metadata["parse"] is not None and isinstance(value, (int, float, str)):
        return FIELDS[key].metadata["parse"](value)
    for kind in allowed:
        origin = typing.get_origin(kind) or kind
        if origin is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if origin in (bool, str, dict) and isinstance(value, origin):
            return value
        if origin is list and isinstance(value, list):
            item = (typing.get_args(kind) or (Any,))[0]
            return [typed_item(key, v, item, where) for v in value]
    expected = " or ".join(_kind_name(k) for k in allowed if k is not type(None))
    raise ArgumentError(f"{where}: '{key}' must be {expected}, not {value!r}")


def typed_item(key: str, value: Any, kind: Any, where: str) -> Any:
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is Any or isinstance(value, kind):
        return value
    plural = {float: "numbers", int: "integers", str: "strings", bool: "booleans"}.get(
        kind, "values"
    )
    raise ArgumentError(f"{where}: '{key}' must be a list of {plural}, not {value!r}")


def _kind_name(kind: Any) -> str:
    origin = typing.get_origin(kind) or kind
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}
    names |= {dict: "a table", list: "a list"}
    return names.get(origin, str(kind))


def read_toml(path: Path, table: str | None = None) -> dict[str, Any]:
    """A config file's training keys (typed and checked), and its ``[table]`` if asked for."""
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
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ZooError(f"config file {path} is not valid TOML: {exc}") from None
    data = {key.replace("-", "_"): value for key, value in data.items()}
    extra = {table: data.pop(table)} if table and table in data else {}
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ArgumentError(
            f"config file {path} has unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(FIELDS))}"
        )
    where = f"config file {path}"
    return {key: typed(key, value, where) for key, value in data.items()} | extra


def recipe_layer(model: str, optimizer: str | None) -> dict[str, Any]:
    """The model's published recipe and default dataset as configuration keys; its optimizer
    arguments only when the run keeps its optimizer."""
    from zoo.factory import get_model_info

    info = get_model_info(model)
    recipe = info.recipe
    same_optimizer = optimizer is None or optimizer == recipe.optimizer
    layer: dict[str, Any] = {
        "optimizer": recipe.optimizer,
        "lr": recipe.lr,
        "batch_size": recipe.batch_size,
        "epochs": recipe.epochs,
        "val_split": recipe.val_split,
        "opt_args": dict(recipe.opt_args) if same_optimizer else {},
        "mean": list(recipe.mean) if recipe.mean else None,
        "std": list(recipe.std) if recipe.std else None,
    }
    if info.default_dataset:
        layer["dataset"] = info.default_dataset
    return layer


def weights_layer(model: str, weights: str) -> dict[str, Any]:
    """The normalisation and model arguments that trained weights were made with, for a run
    that starts from them (the file is fetched and checked here)."""
    from zoo.weights import locate

    card = locate(model, weights).card
    preprocessing = card.preprocessing
    return {
        "mean": list(preprocessing.mean) if preprocessing.mean else None,
        "std": list(preprocessing.std) if preprocessing.std else None,
        "model_args": dict(card.model_args),
    }


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


def flags_layer(values: Mapping[str, Any]) -> dict[str, Any]:
    """Command-line values (None: not given) as configuration keys: name=value lists parsed,
    text parsed by each field's parser."""
    layer: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if key in TABLES:
            layer[key] = options.parse_assignments(value, option_name(key))
        elif FIELDS[key].metadata["parse"] is not None and isinstance(value, str):
            layer[key] = FIELDS[key].metadata["parse"](value)
        else:
            layer[key] = value
    return layer


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
    from zoo.registry import get_registry

    for item in fields(config):
        check = item.metadata["check"]
        value = getattr(config, item.name)
        if check is not None and not check[0](value):
            raise ArgumentError(f"{option_name(item.name)} must be {check[1]}, not {value!r}")
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
    return dataclasses.replace(config, **bound)


def load_run_config(run_dir: Path) -> TrainConfig:
    """The configuration a run was started with (its config.json)."""
    path = run_dir / "config.json"
    if not path.is_file():
        raise ZooError(f"'{run_dir}' is not a run directory: it has no config.json")
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        where = str(path)
        return TrainConfig(
            **{key: typed(key, value, where) for key, value in data.items() if key in FIELDS}
        )
    except (ValueError, TypeError) as exc:
        raise ZooError(f"{path} is damaged: {exc}") from None


def resume_config(run_dir: Path, flags: Mapping[str, Any]) -> TrainConfig:
    """A run's saved configuration with the few flags --resume accepts applied."""
    layer = flags_layer(flags)
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


RESUMABLE = tuple(f.name for f in fields(TrainConfig) if f.metadata["resume"])


def cli_parameters() -> list[inspect.Parameter]:
    """The command-line options of every field that has one, all defaulting to 'not given'."""
    return [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=cli)
        for f in fields(TrainConfig)
        if (cli := f.metadata["cli"]) is not None
    ]
