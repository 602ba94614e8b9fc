"""A sweep's plan: what varies (axes), what every run shares (any ``zoo train`` option), how runs
are chosen (a grid, or Optuna's random or TPE sampler) and which metric ranks them. Everything is
checked here, before any run starts: each axis value goes through the same conversion and checks
as ``zoo train`` (:mod:`zoo.train.config`), and every grid combination is resolved in full.

Runs are ranked by the metric of the weights each keeps, measured on items held out of the train
split: a sweep holds out 10 % (``--val-split 0.1``) unless the recipe, the config file or the
flags say otherwise. With ``--val-split 0`` the runs validate on the test split; the sweep then
ranks by the test metric, labelled so, and warns that choosing by it makes it optimistic. No torch
here.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import flags
from zoo.artifacts import config as config_table
from zoo.artifacts.config import TrainConfig
from zoo.artifacts.run import METRICS, metric_text
from zoo.errors import ArgumentError, ZooError
from zoo.flags import flag, option
from zoo.train import config as train_config

SEARCHES = ("grid", "random", "tpe")
PRUNERS = ("median", "none")
PREFIXES = {prefix: table for table, prefix in config_table.PREFIXES.items()}
DEFAULT_VAL_SPLIT = 0.1
RANGE = re.compile(r"^(?P<low>[^.][^,]*?)\.\.(?P<high>[^,:]+?)(?P<log>:log)?$")
NAME_LIMIT = 60  # characters of parameters in a run directory's name
COMBINATIONS_CHECKED = 1000  # a search's combinations resolved before it starts, at most


@dataclass(frozen=True)
class Axis:
    """One swept option: a list of values (a grid axis, or Optuna's categorical choices), or a
    range ``low..high`` (Optuna only; ``log`` samples on a log scale). ``key`` is a training
    option (``lr``) or a model, optimizer or dataset argument (``model.width``, ``opt.momentum``,
    ``dataset.size``)."""

    key: str
    values: tuple[Any, ...] = ()
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False

    @property
    def is_range(self) -> bool:
        return self.low is not None

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)

    def text(self) -> str:
        if self.is_range:
            return f"{self.key} from {self.low:g} to {self.high:g}{' (log)' if self.log else ''}"
        return f"{self.key} in {', '.join(map(str, self.values))}"

    def to_json(self) -> dict[str, Any]:
        if self.is_range:
            return {"key": self.key, "low": self.low, "high": self.high, "log": self.log}
        return {"key": self.key, "values": list(self.values)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Axis:
        return cls(
            key=data["key"],
            values=tuple(data.get("values", ())),
            low=data.get("low"),
            high=data.get("high"),
            log=bool(data.get("log", False)),
        )


PANEL = {"rich_help_panel": "Sweep options"}


def sweep_flag(*names: str, help: str, kind: object = str | None, **settings: object) -> flags.Flag:
    return flag(*names, help=help, kind=kind, **PANEL, **settings)


@dataclass(frozen=True)
class Settings:
    """How the sweep runs; each a ``zoo sweep`` option and a key of the ``[sweep]`` table,
    declared once, here. ``search_only``: for random and tpe, not a grid."""

    search: str = option(
        "grid",
        sweep_flag("--search", help="Every combination, or Optuna's sampler (default: grid)."),
        check=flags.one_of(SEARCHES),
    )
    trials: int = option(
        20,
        sweep_flag(
            "--trials",
            help="Runs to sample with --search random|tpe (default: 20).",
            kind=int | None,
        ),
        check=flags.at_least(1),
        search_only=True,
    )
    max_runs: int = option(
        100,
        sweep_flag(
            "--max-runs",
            help="Refuse a sweep of more runs than this (default: 100).",
            kind=int | None,
        ),
        check=flags.at_least(1),
    )
    jobs: int = option(
        1,
        sweep_flag(
            "--jobs",
            "-j",
            help="Runs at a time, in fresh processes that divide the CPU cores (default: 1).",
            kind=int | None,
        ),
        check=flags.at_least(1),
    )
    storage: str | None = option(
        None,
        sweep_flag(
            "--storage",
            help="Optuna storage URL every worker naming it shares (default: study.db).",
            metavar="URL",
        ),
        search_only=True,
    )
    study: str | None = option(
        None,
        sweep_flag("--study", help="Optuna study name in the storage (default: MODEL-DATASET)."),
        search_only=True,
    )
    pruner: str = option(
        "median",
        sweep_flag(
            "--pruner",
            help="median stops runs whose epoch metric lags (default: median).",
        ),
        check=flags.one_of(PRUNERS),
        search_only=True,
    )
    startup_trials: int = option(
        5,
        sweep_flag(
            "--startup-trials",
            help="Trials that finish before the pruner stops any (default: 5).",
            kind=int | None,
        ),
        check=flags.at_least(0),
        search_only=True,
    )
    warmup_epochs: int = option(
        0,
        sweep_flag(
            "--warmup-epochs",
            help="Epochs of each trial the pruner never stops (default: 0).",
            kind=int | None,
        ),
        check=flags.at_least(0),
        search_only=True,
    )

    def check(self) -> Settings:
        flags.check_fields(self)
        return self


@dataclass(frozen=True)
class SweepRequest:
    """``zoo sweep``: a model, the ``zoo train`` options every run shares, the sweep's settings,
    what to sweep (``--grid``, a config file's ``[sweep]`` table); or a sweep to finish."""

    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)  # zoo train's, given: a layer
    settings: dict[str, Any] = field(default_factory=dict)  # Settings' fields, given
    grid: tuple[str, ...] = option(
        (),
        sweep_flag(
            "--grid",
            help="Values to sweep (repeatable: a grid is their product); --search: LOW..HIGH[:log].",
            metavar="KEY=V1,V2,...",
            kind=list[str] | None,
        ),
    )
    config: Path | None = option(
        None,
        flag(
            "--config",
            help="A TOML file of training options and a [sweep] table of values to sweep.",
            kind=Path | None,
            metavar="FILE",
        ),
    )
    resume: Path | None = option(
        None,
        flag(
            "--resume",
            help="Finish a sweep directory: unfinished runs continue from their checkpoint.",
            kind=Path | None,
            metavar="SWEEP_DIR",
        ),
    )


SETTINGS = {f.name: f for f in dataclasses.fields(Settings)}
SEARCH_ONLY = tuple(name for name, f in SETTINGS.items() if f.metadata.get("search_only"))


@dataclass(frozen=True)
class SweepPlan:
    """Everything a sweep needs to make each run's :class:`TrainConfig`, saved in sweep.json."""

    model: str
    dataset: str
    base: dict[str, Any]  # the layer of configuration every run shares: defaults, file, flags
    axes: tuple[Axis, ...]
    settings: Settings
    metric: str  # what ranks the runs: val_accuracy, val_mae, test_accuracy or test_mae
    direction: str  # "maximize" (accuracy) or "minimize" (MAE)
    shared: TrainConfig  # ``base`` resolved and checked: the options every run shares, typed

    @property
    def held_out(self) -> bool:
        return self.metric.startswith("val_")

    @property
    def runs(self) -> int:
        """How many runs the sweep makes."""
        if self.settings.search != "grid":
            return self.settings.trials
        return math.prod(len(axis.values) for axis in self.axes)

    def combinations(self) -> list[dict[str, Any]]:
        """The grid's parameter sets, the first axis varying slowest."""
        keys = [axis.key for axis in self.axes]
        return [
            dict(zip(keys, values, strict=True))
            for values in itertools.product(*(a.values for a in self.axes))
        ]

    def config(self, params: dict[str, Any], out: Path | str | None = None) -> TrainConfig:
        """The checked configuration of the run with these parameters."""
        layers = [self.base, layer(params)] + ([{"out": str(out)}] if out else [])
        return train_config.resolve(self.model, train_config.merge(layers))

    def better(self, value: float, than: float) -> bool:
        return value > than if self.direction == "maximize" else value < than

    def metric_label(self) -> str:
        """``val accuracy`` / ``test accuracy (test split)``."""
        split, name = self.metric.split("_", 1)
        return f"{split} {name}" + ("" if self.held_out else " (test split)")

    def metric_text(self, value: float | None) -> str:
        """``val accuracy 91.20 %`` / ``val mae 0.4120``; ``–`` when there is none."""
        if value is None or math.isnan(value):
            return "–"
        name = self.metric.split("_", 1)[1]
        shown = METRICS[name].value_text(value) if name in METRICS else metric_text(name, value)
        return f"{self.metric_label()} {shown}"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": self.dataset,
            "base": self.base,
            "axes": [axis.to_json() for axis in self.axes],
            "settings": dataclasses.asdict(self.settings),
            "metric": self.metric,
            "direction": self.direction,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepPlan:
        return cls(
            model=data["model"],
            dataset=data["dataset"],
            base=data["base"],
            axes=tuple(Axis.from_json(axis) for axis in data["axes"]),
            settings=flags.build(Settings, dict(data["settings"])),
            metric=data["metric"],
            direction=data["direction"],
            shared=train_config.resolve(data["model"], data["base"]),
        )


def layer(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as configuration keys: ``opt.momentum`` goes into ``opt_args``."""
    result: dict[str, Any] = {}
    for key, value in params.items():
        prefix, _, name = key.partition(".")
        if name:
            result.setdefault(PREFIXES[prefix], {})[name] = value
        else:
            result[key] = value
    return result


def value_in(config: TrainConfig, key: str) -> Any:
    """The value ``config`` holds for an axis key."""
    prefix, _, name = key.partition(".")
    return getattr(config, PREFIXES[prefix])[name] if name else getattr(config, key)


def axis_key(text: str, where: str) -> str:
    """A checked axis key: a sweepable training option or ``model.``/``opt.``/``dataset.NAME``."""
    key = text.strip().replace("-", "_")
    prefix, dot, name = key.partition(".")
    if dot:
        if prefix not in PREFIXES or not name.isidentifier():
            raise ArgumentError(
                f"{where}: '{text}' is not an option; model, optimizer and dataset arguments are "
                "swept as model.NAME, opt.NAME and dataset.NAME"
            )
        return f"{prefix}.{name}"
    sweepable = sorted(config_table.SWEPT)
    if key in config_table.FIELDS and key not in sweepable:
        raise ArgumentError(f"{where}: '{key}' is fixed for a sweep (give it as an option)")
    if key not in sweepable:
        raise ArgumentError(
            f"{where}: unknown option '{text}'; sweepable: {', '.join(sweepable)}, "
            "model.NAME, opt.NAME, dataset.NAME"
        )
    return key


def parse_grid(spec: str) -> tuple[str, list[str] | tuple[str, str, bool]]:
    """``lr=0.1,0.01`` -> ("lr", ["0.1", "0.01"]); ``lr=1e-4..0.1:log`` -> ("lr", (low, high,
    log)). Values are still text."""
    where = f"--grid '{spec}'"
    key, sep, text = spec.partition("=")
    if not sep or not key.strip():
        raise ArgumentError(f"{where} is not of the form KEY=V1,V2 (or KEY=LOW..HIGH)")
    key = axis_key(key, where)
    match = RANGE.match(text.strip())
    if match:
        return key, (match["low"].strip(), match["high"].strip(), bool(match["log"]))
    values = [value.strip() for value in text.split(",")]
    if not text.strip() or any(value == "" for value in values):
        raise ArgumentError(f"{where}: empty value; give KEY=V1,V2,...")
    return key, values


def typed_value(key: str, value: Any, base: dict[str, Any], model: str, where: str) -> Any:
    """An axis value converted and checked as ``zoo train`` would (the entry's signature for
    arguments): text or a config file's value in, the typed value the run will use out."""
    if "." not in key:
        if isinstance(value, str):
            value = train_config.parse_text(key, value)
        else:
            value = flags.value_of(TrainConfig, key, value, where)
    try:
        resolved = train_config.resolve(model, train_config.merge([base, layer({key: value})]))
    except ZooError as exc:
        raise type(exc)(f"{where}: {exc}") from None
    return value_in(resolved, key)


def make_axis(key: str, spec: Any, base: dict[str, Any], model: str, where: str) -> Axis:
    """An :class:`Axis` from text (``--grid``) or a config file's list or ``{low, high, log}``."""
    if isinstance(spec, (tuple, dict)):
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - {"low", "high", "log"})
            if unknown or "low" not in spec or "high" not in spec:
                raise ArgumentError(f"{where}: a range is {{low = ..., high = ..., log = true}}")
            low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
        else:
            low, high, log = spec
        low = typed_value(key, low, base, model, where)
        high = typed_value(key, high, base, model, where)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
        if not numbers:
            raise ArgumentError(f"{where}: a range needs numbers, not {low!r}..{high!r}")
        if not low < high or (log and low <= 0):
            rule = "0 < low < high for a log range" if log else "low < high"
            raise ArgumentError(f"{where}: a range needs {rule}, not {low}..{high}")
        return Axis(key, low=low, high=high, log=log)
    if not isinstance(spec, list) or not spec:
        raise ArgumentError(f"{where}: give a list of values or a {{low, high}} range")
    values = tuple(typed_value(key, value, base, model, where) for value in spec)
    if len(set(map(repr, values))) < len(values):
        raise ArgumentError(f"{where}: a value is repeated")
    return Axis(key, values=values)


def table_axes(table: dict[str, Any], base: dict[str, Any], model: str, where: str) -> list[Axis]:
    """The axes of a config file's ``[sweep]`` table (settings taken out): ``lr = [..]``,
    ``opt.momentum = [..]`` (a nested table) or ``lr = {low = .., high = .., log = true}``."""
    axes = []
    for name, spec in table.items():
        if name in PREFIXES and isinstance(spec, dict) and not {"low", "high"} & set(spec):
            for arg, arg_spec in spec.items():
                key = axis_key(f"{name}.{arg}", where)
                axes.append(make_axis(key, arg_spec, base, model, f"{where} {key}"))
        else:
            key = axis_key(name, where)
            axes.append(make_axis(key, spec, base, model, f"{where} {key}"))
    return axes


def sweep_defaults(model: str, given: dict[str, Any], tensorboard: bool) -> dict[str, Any]:
    """What a sweep changes from ``zoo train``'s defaults, where not given: hold 10 % of the
    train split out when the recipe validates on the test split; TensorBoard on when installed."""
    defaults: dict[str, Any] = {}
    recipe = train_config.recipe_layer(model, given.get("optimizer"))
    if "val_split" not in given and not recipe.get("val_split"):
        defaults["val_split"] = DEFAULT_VAL_SPLIT
    if "tensorboard" not in given:
        defaults["tensorboard"] = tensorboard
    return defaults


def read_settings(table: dict[str, Any], where: str) -> dict[str, Any]:
    """The settings keys of a ``[sweep]`` table, type-checked; they leave the table."""
    keys = [key for key in table if key.replace("-", "_") in SETTINGS]
    return flags.given(Settings, {key.replace("-", "_"): table.pop(key) for key in keys}, where)


def make_plan(
    model: str | None,
    options: dict[str, Any],
    grid: list[str],
    config_file: Path | None,
    settings: dict[str, Any],
    tensorboard: bool,
) -> SweepPlan:
    """The checked plan from the command line (``options``: ``zoo train``'s options, None where not
    given; ``settings``: the sweep's own, None where not given) and the config file."""
    from_file = config_table.read_toml(config_file, table="sweep") if config_file else {}
    where = f"config file {config_file} [sweep]"
    table = from_file.pop("sweep", {})
    if not isinstance(table, dict):
        raise ArgumentError(f"{where} must be a table")
    given = read_settings(table, where) | {k: v for k, v in settings.items() if v is not None}
    chosen = flags.build(Settings, dict(given))
    misplaced = [key for key in given if key in SEARCH_ONLY and chosen.search == "grid"]
    if misplaced:
        names = ", ".join(f"--{key.replace('_', '-')}" for key in misplaced)
        raise ArgumentError(f"{names}: for --search random or tpe, not a grid")
    model = model or from_file.get("model")
    if not model:
        raise ArgumentError("name a model: zoo sweep MODEL (or set 'model' in --config)")
    given = train_config.merge([from_file, train_config.flags_layer(options)])
    base = train_config.merge([sweep_defaults(model, given, tensorboard), given])
    first = train_config.resolve(model, base)  # the shared options on their own, checked
    axes = [make_axis(*parse_grid(spec), base, model, f"--grid '{spec}'") for spec in grid]
    axes += table_axes(table, base, model, where)
    if not axes:
        raise ArgumentError(
            "nothing to sweep: give --grid KEY=V1,V2 (repeatable) or a [sweep] table in --config"
        )
    repeated = sorted({a.key for a in axes if [b.key for b in axes].count(a.key) > 1})
    if repeated:
        raise ArgumentError(f"{', '.join(repeated)} swept twice: give each key once")
    from zoo.registry import get_dataset_info

    regression = get_dataset_info(first.dataset).task == "regression"
    split = "val" if first.val_split else "test"
    plan = SweepPlan(
        model=model,
        dataset=first.dataset,
        base=base,
        axes=tuple(axes),
        settings=chosen,
        metric=f"{split}_{'mae' if regression else 'accuracy'}",
        direction="minimize" if regression else "maximize",
        shared=first,
    )
    check_size(plan)
    for params in checked_combinations(plan):  # every run's configuration, before any starts
        try:
            plan.config(params)
        except ZooError as exc:
            raise type(exc)(f"the run {params_label(params)}: {exc}") from None
    return plan


def checked_combinations(plan: SweepPlan) -> list[dict[str, Any]]:
    """The parameter sets to resolve before a sweep starts: a grid's every run; for a search,
    every combination of its lists with each range at both ends (up to COMBINATIONS_CHECKED;
    beyond, each value was still checked on its own)."""
    if plan.settings.search == "grid":
        return plan.combinations()
    choices = [axis.values if not axis.is_range else (axis.low, axis.high) for axis in plan.axes]
    if math.prod(len(c) for c in choices) > COMBINATIONS_CHECKED:
        return []
    keys = [axis.key for axis in plan.axes]
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*choices)]


def check_size(plan: SweepPlan) -> None:
    """Refuse ranges in a grid, choices Optuna cannot store, and more runs than --max-runs."""
    settings = plan.settings
    if settings.search == "grid":
        ranges = [axis.key for axis in plan.axes if axis.is_range]
        if ranges:
            raise ArgumentError(
                f"{', '.join(ranges)}: a range LOW..HIGH needs --search random or tpe; a grid "
                "takes a list of values"
            )
    else:
        odd = [
            axis.key
            for axis in plan.axes
            if any(not isinstance(v, (bool, int, float, str)) for v in axis.values)
        ]
        if odd:
            raise ArgumentError(
                f"{', '.join(odd)}: Optuna chooses among numbers, strings and booleans; "
                "sweep other values with a grid"
            )
    if plan.runs > settings.max_runs:
        what = "the grid makes" if settings.search == "grid" else "--trials asks for"
        raise ArgumentError(
            f"{what} {plan.runs} runs, more than --max-runs {settings.max_runs} "
            "(raise --max-runs if that is what you want)"
        )


def params_label(params: dict[str, Any]) -> str:
    """``lr=0.01 batch_size=100``."""
    return " ".join(f"{key}={format_value(value)}" for key, value in params.items())


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run_name(number: int, params: dict[str, Any], width: int = 2) -> str:
    """A run directory's name: its number and parameters, e.g. ``03-lr0.01-batch_size100``."""
    text = "-".join(f"{key}{format_value(value)}" for key, value in params.items())
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:NAME_LIMIT].strip("-_")
    return f"{number:0{width}d}-{text}" if text else f"{number:0{width}d}"
