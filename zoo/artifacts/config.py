"""A run's configuration: :class:`TrainConfig`, the one table of training options, and its two
files in a run directory, ``config.json`` and ``config.toml`` (which ``--config`` reads back).

Each field is declared once with :func:`zoo.flags.option`: its type and default, its command-line
flag, the check its value must pass, and what it is to the rest of zoo: ``resume`` (``--resume``
may change it), ``recorded`` (a model card records it among the options that trained its
weights: everything but where and how the run ran), ``swept`` (``zoo sweep`` may vary it) and
``hparam`` (TensorBoard's HParams view compares it). Resolving a configuration from a recipe and
checking it against the registry is training's work (:mod:`zoo.train.config`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from zoo import flags
from zoo.artifacts.card import TTA_MODES
from zoo.errors import ArgumentError, ZooError
from zoo.flags import flag, option

DEVICES = ("auto", "cpu", "cuda", "mps")
SCHEDULERS = ("none", "cosine", "linear", "onecycle")
FLIPS = ("none", "random", "alternate")
PADDINGS = ("zero", "reflect")
AUTOCAST = ("auto", "fp32", "bf16")  # what training and eval compute in (torch.autocast)
GROUP_KEYS = ("lr_scale", "decay_scale", "epochs")
TABLES = {"model_args": "model", "opt_args": "optimizer", "dataset_args": "dataset"}
PREFIXES = {"model_args": "model", "opt_args": "opt", "dataset_args": "dataset"}  # model.NAME
CONFIG_JSON, CONFIG_TOML = "config.json", "config.toml"


def parse_val_split(value: str | float | int) -> float | int:
    """``"0.1"`` -> 0.1 (a fraction), ``"5000"`` -> 5000 (a count)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise ArgumentError(f"val_split must be a fraction or a count, not '{value}'") from None


def parse_group(items: list[str] | str) -> dict[str, dict[str, float]]:
    """``["*norm*.bias:lr_scale=64,decay_scale=0.015625"]`` -> ``{"*norm*.bias": {...}}``."""
    groups: dict[str, dict[str, float]] = {}
    for item in [items] if isinstance(items, str) else items:
        pattern, sep, settings = item.rpartition(":")
        values = flags.parse_assignments(settings.split(","), "--param-group")
        unknown = sorted(set(values) - set(GROUP_KEYS))
        if not sep or not pattern or unknown or not values:
            raise ArgumentError(
                f"--param-group '{item}' is not PATTERN:lr_scale=X,decay_scale=Y,epochs=N (a "
                "parameter-name pattern such as '*norm*.bias', then one or more of those)"
            )
        try:
            groups[pattern] = {key: float(value) for key, value in values.items()}
        except ValueError:
            raise ArgumentError(f"--param-group '{item}': scales are numbers") from None
    return groups


def groups_valid(groups: dict[str, Any]) -> bool:
    return all(
        isinstance(scales, dict)
        and set(scales) <= set(GROUP_KEYS)
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
            for v in scales.values()
        )
        for scales in groups.values()
    )


def is_device(value: str) -> bool:
    return value in DEVICES or (value.startswith("cuda:") and value[5:].isdigit())


TTA = flag(
    "--tta",
    help="Test-time augmentation (outputs averaged over the views)",
)
PRECISION = flag(
    "--precision",
    help="bf16 autocasts; auto: bf16 where native",
)


def tta_option(default: str | None, cli: flags.Flag = TTA, **facts: Any) -> Any:
    """A ``--tta`` option: :data:`TTA` (explained for its command), one check for every one."""
    return option(default, cli, check=flags.one_of(TTA_MODES), **facts)


def precision_option(default: str, cli: flags.Flag, **facts: Any) -> Any:
    """A ``--precision`` option: :data:`PRECISION` with its command's default, one check."""
    return option(default, cli, check=flags.one_of(AUTOCAST), **facts)


def machine(default: Any, cli: flags.Flag | None = None, **facts: Any) -> Any:
    """An option that says where or how a run runs, not what trained its weights: not recorded
    in model cards, not swept, not a recipe's."""
    return option(default, cli, recorded=False, swept=False, machine=True, **facts)


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as config.json and config.toml."""

    model: str = machine("")  # the command's argument (a card names its model on its own)
    dataset: str = option("", flags.DATASET, swept=False)
    optimizer: str = option(
        "adam", flag("--optimizer", "-o", help="Optimizer (default: the recipe's)."), hparam=True
    )
    lr: float = option(
        1e-3,
        flag("--lr", help="Learning rate (default: the recipe's).", kind=float | None),
        check=(lambda v: v > 0, "> 0"),
        hparam=True,
    )
    epochs: int = option(
        10,
        flag("--epochs", "-e", help="Epochs (default: the recipe's).", kind=int | None),
        check=flags.at_least(1),
        resume=True,
        hparam=True,
    )
    batch_size: int = option(
        64,
        flag(
            "--batch-size",
            "-b",
            help="Batch size per process (default: the recipe's).",
            kind=int | None,
        ),
        check=flags.at_least(1),
        hparam=True,
    )
    device: str = machine(
        "auto", flags.DEVICE, check=(is_device, "auto, cpu, cuda, cuda:N or mps"), resume=True
    )
    seed: int = option(0, flags.SEED, hparam=True)
    val_split: float | int = option(
        0,
        flag(
            "--val-split",
            help="Validate on a share (0.1) or count of the train split; 0: on the test split.",
            metavar="SHARE|COUNT",
        ),
        check=(
            lambda v: v >= 0 and (isinstance(v, int) or v < 1),
            "a fraction below 1 or a whole count, >= 0",
        ),
        parse=parse_val_split,
        swept=False,
        hparam=True,
    )
    scheduler: str = option(
        "none",
        flag(
            "--scheduler",
            help="Learning-rate schedule (default: none).",
        ),
        check=flags.one_of(SCHEDULERS),
        hparam=True,
    )
    warmup: float = option(
        0.0,
        flag(
            "--warmup",
            help="Share of the steps a per-step schedule warms up over (default: 0).",
            kind=float | None,
        ),
        check=(lambda v: 0 <= v < 1, "a share of the steps, 0 to below 1"),
        hparam=True,
    )
    lr_start: float = option(
        1.0,
        flag(
            "--lr-start",
            help="A per-step schedule's first rate, as a share of --lr (default: 1).",
            kind=float | None,
        ),
        check=(lambda v: v > 0, "> 0"),
    )
    lr_end: float = option(
        0.0,
        flag(
            "--lr-end",
            help="A per-step schedule's last rate, as a share of --lr (default: 0).",
            kind=float | None,
        ),
        check=flags.at_least(0),
    )
    param_groups: dict[str, dict[str, float]] = option(
        {},
        flag(
            "--param-group",
            help="Parameters matching PATTERN get their own rate, decay or epochs (repeatable).",
            kind=list[str] | None,
            metavar="PATTERN:KEY=X,...",
        ),
        check=(groups_valid, "pattern -> {lr_scale, decay_scale, epochs} with numbers >= 0"),
        parse=parse_group,
    )
    drop_last: bool = option(
        False,
        flag(
            "--drop-last/--keep-last",
            help="Leave out each epoch's last, smaller batch (default: keep it).",
            kind=bool | None,
        ),
        hparam=True,
    )
    label_smoothing: float = option(
        0.0,
        flag(
            "--label-smoothing",
            help="Smooth the cross-entropy's targets by this much (default: 0).",
            kind=float | None,
        ),
        check=(lambda v: 0 <= v < 1, "from 0 to below 1"),
        hparam=True,
    )
    ema: float = option(
        0.0,
        flag(
            "--ema",
            help="Keep a moving average of the weights with this decay; 0: off (default: 0).",
            kind=float | None,
        ),
        check=(lambda v: 0 <= v < 1, "from 0 to below 1"),
        hparam=True,
    )
    ema_every: int = option(
        1,
        flag(
            "--ema-every",
            help="Steps between updates of the average (default: 1).",
            kind=int | None,
        ),
        check=flags.at_least(1),
    )
    lookahead: bool = option(
        False,
        flag(
            "--lookahead/--no-lookahead",
            help="The weights jump to the average after each update of it (default: off).",
            kind=bool | None,
        ),
    )
    flip: str = option(
        "none",
        flag(
            "--flip",
            help="Horizontal flips of training images (default: none).",
        ),
        check=flags.one_of(FLIPS),
        hparam=True,
    )
    translate: int = option(
        0,
        flag(
            "--translate",
            help="Shift training images by up to this many pixels (default: 0).",
            kind=int | None,
        ),
        check=flags.at_least(0),
        hparam=True,
    )
    padding: str = option(
        "zero",
        flag(
            "--padding",
            help="What a shift brings in at the border (default: zero).",
        ),
        check=flags.one_of(PADDINGS),
    )
    precision: str = precision_option(
        "fp32", PRECISION.with_default("the recipe's, else fp32"), hparam=True
    )
    tta: str = tta_option(
        "none",
        TTA.with_help("At the end, evaluate the kept weights with test-time augmentation too."),
        recorded=False,
        swept=False,
        resume=True,
    )
    compile: bool = option(
        False,
        flag(
            "--compile/--no-compile",
            help="torch.compile the model (default: off).",
            kind=bool | None,
        ),
        recorded=False,
    )
    workers: int = machine(
        2,
        flag(
            "--workers",
            help="DataLoader workers for datasets not held in memory (default: 2).",
            kind=int | None,
        ),
        check=flags.at_least(0),
        resume=True,
    )
    weights: str | None = option(
        None,
        flag(
            "--weights",
            help="Fine-tune: start from weights the model declares, 'default' or a FILE.",
            metavar="NAME|FILE",
        ),
        hparam=True,
    )
    tensorboard: bool = machine(
        False,
        flag(
            "--tensorboard/--no-tensorboard",
            help="Write TensorBoard events into the run directory (default: off; sweeps: on).",
            kind=bool | None,
        ),
        resume=True,
    )
    data_dir: str | None = machine(None, flags.DATA_DIR, resume=True, parse=flags.existing_folder)
    out: str = machine(
        "runs",
        flag("--out", help="Where runs go; each gets its own sub-directory (default: runs)."),
    )
    mean: list[float] | None = option(None)  # input normalisation; None: the dataset's, or measured
    std: list[float] | None = option(None)
    model_args: dict[str, Any] = option(
        {}, flags.MODEL_ARG, parse=flags.assignments(flags.MODEL_ARG.name)
    )
    opt_args: dict[str, Any] = option(
        {},
        flag(
            "--opt-arg",
            help="Optimizer argument name=value (repeatable); see 'zoo info OPTIMIZER'.",
            kind=list[str] | None,
        ),
        parse=flags.assignments("--opt-arg"),
    )
    dataset_args: dict[str, Any] = option(
        {}, flags.DATASET_ARG, parse=flags.assignments(flags.DATASET_ARG.name)
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> TrainConfig:
        """A configuration as config.json or a model card's ``training`` holds it (keys of
        older versions upgraded, unknown ones left out, every value type-checked)."""
        return cls(**flags.given(cls, upgrade(data), where))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_toml(self) -> str:
        """TOML that ``--config`` reads back to the same configuration (None values left out)."""
        data = self.to_dict()
        lines = [
            f"{key} = {toml_value(value)}"
            for key, value in data.items()
            if value is not None and key not in MERGED
        ]
        for table in TABLES:
            lines += ["", f"[{table}]"]
            lines += [f"{key} = {toml_value(value)}" for key, value in data[table].items()]
        for pattern, scales in data["param_groups"].items():
            lines += ["", f"[param_groups.{json.dumps(pattern)}]"]
            lines += [f"{key} = {toml_value(value)}" for key, value in scales.items()]
        return "\n".join(lines) + "\n"

    def training_options(self) -> dict[str, Any]:
        """What a model card records of how its weights were trained (no paths, no devices)."""
        return {
            key: value
            for key, value in self.to_dict().items()
            if FIELDS[key].metadata.get("recorded", True)
        }

    def hparams(self) -> dict[str, Any]:
        """The hyper-parameters TensorBoard compares runs by: the options marked so, and every
        model, optimizer and dataset argument as ``model.NAME``, ``opt.NAME``, ``dataset.NAME``."""
        values = {key: getattr(self, key) for key in HPARAMS}
        for table, prefix in PREFIXES.items():
            values |= {f"{prefix}.{key}": value for key, value in getattr(self, table).items()}
        return values


FIELDS = {f.name: f for f in fields(TrainConfig)}
MERGED = (*TABLES, "param_groups")  # tables that merge key by key, layer over layer
RESUMABLE = tuple(name for name, f in FIELDS.items() if f.metadata.get("resume"))
HPARAMS = tuple(name for name, f in FIELDS.items() if f.metadata.get("hparam"))
SWEPT = tuple(
    name
    for name, f in FIELDS.items()
    if f.metadata["cli"] is not None and f.metadata.get("swept", True) and name not in MERGED
)


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
    return flags.spelling(FIELDS[key])


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Keys of configurations written before they were replaced: ``amp`` (now ``precision``)
    and ``augment`` (now ``flip``, ``translate`` and ``padding``)."""
    data = dict(data)
    amp = data.pop("amp", None)
    if amp is not None and not isinstance(amp, bool):
        raise ArgumentError(f"'amp' must be true or false, not {amp!r} (now: precision = \"bf16\")")
    if amp is not None and "precision" not in data:
        data["precision"] = "bf16" if amp else "fp32"
    augment = data.pop("augment", None)
    if augment not in (None, "none", "flip", "crop-flip"):
        raise ArgumentError(
            f"'augment' must be none, flip or crop-flip, not {augment!r} (now: flip and translate)"
        )
    if augment in ("flip", "crop-flip") and "flip" not in data:
        data["flip"] = "random"
    if augment == "crop-flip" and "translate" not in data:
        data["translate"] = 4
    return data


def field_default(key: str) -> Any:
    """A training option's own default (what a recipe that leaves it out trains with)."""
    item = FIELDS[key]
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return item.default


def partial(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Some of TrainConfig's fields (a model's recipe), each typed and checked by its own field
    as a config file's are (:func:`zoo.flags.value_of`); keys written before a field was renamed
    are upgraded. Where a run runs (device, out, ...) is not a recipe's to say."""
    data = upgrade({key: list(v) if isinstance(v, tuple) else v for key, v in values.items()})
    unknown = sorted(
        key for key in data if key not in FIELDS or FIELDS[key].metadata.get("machine")
    )
    if unknown:
        raise ArgumentError(
            f"{where} sets {', '.join(map(repr, unknown))}, which a recipe cannot: it sets "
            "training options (TrainConfig's fields)"
        )
    checked = {key: flags.value_of(TrainConfig, key, value, where) for key, value in data.items()}
    for key, value in checked.items():
        rule = FIELDS[key].metadata.get("check")
        if rule is not None and value is not None and not rule[0](value):
            raise ArgumentError(f"{where}: {option_name(key)} must be {rule[1]}, not {value!r}")
    return checked


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
    data = upgrade({key.replace("-", "_"): value for key, value in data.items()})
    extra = {table: data.pop(table)} if table and table in data else {}
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ArgumentError(
            f"config file {path} has unknown key(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(FIELDS))}"
        )
    where = f"config file {path}"
    return flags.given(TrainConfig, data, where) | extra


def load_run_config(run_dir: Path) -> TrainConfig:
    """The configuration a run was started with (its config.json)."""
    path = run_dir / CONFIG_JSON
    if not run_dir.exists():
        raise ZooError(f"run directory '{run_dir}' does not exist")
    if not path.is_file():
        raise ZooError(f"'{run_dir}' is not a run directory: it has no {CONFIG_JSON}")
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return TrainConfig.from_json(data, str(path))
    except (ValueError, TypeError) as exc:
        raise ZooError(f"{path} is damaged: {exc}") from None
