"""Options as plain data: each declared once, as a field of the dataclass it fills, with its
command-line form, its check and its text parser; and the parsers of the text forms.

A :class:`Flag` says how an option is spelled on the command line (no Typer here: the CLI turns
flags into Typer options, and the quick ``zoo predict`` path reads them without loading Typer).
:func:`option` declares a dataclass field with its flag, so that :class:`~zoo.artifacts.config.
TrainConfig`, the sweep's settings, the source of an export or a bench and ``zoo predict``'s
request each have one table of options, read by the CLI, by config files and by the engine alike.
Shared flags (``--dataset``, ``--data-dir``, ``--json``...) are declared below, once.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import ArgumentError

Check = Callable[[Any], bool]


@dataclass(frozen=True)
class Flag:
    """A command-line option: its names (the long one first), help, the type its text becomes,
    and settings the CLI passes on (``min``, ``max``, a help panel)."""

    names: tuple[str, ...]
    help: str
    kind: Any = str | None
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The long name: ``--amp`` for ``--amp/--no-amp``."""
        return self.names[0].split("/")[0]

    @property
    def switch(self) -> bool:
        """A flag that takes no value (``--json``, ``--onnx``)."""
        return self.kind is bool

    def with_help(self, help: str) -> Flag:
        """The same flag, explained for another command."""
        return dataclasses.replace(self, help=help)


def flag(*names: str, help: str, kind: Any = str | None, **settings: Any) -> Flag:
    """A :class:`Flag` of type ``kind`` (a value, or None when not given) under ``names``."""
    return Flag(tuple(names), help, kind, settings)


def option(
    default: Any,
    cli: Flag | None = None,
    *,
    check: tuple[Check, str] | None = None,
    parse: Callable[[str], Any] | None = None,
    **facts: Any,
) -> Any:
    """A dataclass field that is an option: ``cli`` its command-line form (None: config files
    only), ``check`` a test and the rule it enforces, ``parse`` turns its text into a value
    (default: by the field's type); ``facts`` are what its dataclass says of its options (for a
    training option: whether ``--resume`` may change it, whether a model card records it...)."""
    metadata = {"cli": cli, "check": check, "parse": parse, **facts}
    if isinstance(default, (dict, list)):
        factory = type(default)
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def declared(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """The fields of an options dataclass that have a command-line form, in order."""
    return {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("cli") is not None}


def build(cls: type, values: dict[str, Any], **fixed: Any) -> Any:
    """An options dataclass from command-line ``values`` (taken out of the dict): a value not
    given (None, an unset switch) leaves the field's default, text goes through the field's
    parser; then every field's check. ``fixed`` are fields the command fills itself."""
    picked: dict[str, Any] = {}
    for name, item in declared(cls).items():
        value = values.pop(name, None)
        if value is None or (item.metadata["cli"].switch and value is False):
            continue
        parse = item.metadata.get("parse")
        picked[name] = (
            parse(value) if parse is not None and isinstance(value, (str, list)) else value
        )
    built = cls(**picked, **fixed)
    check_fields(built)
    return built


def check_fields(values: Any) -> None:
    """Every field's ``check`` on an options dataclass instance: the first broken rule is one
    line naming the option as users spell it."""
    for item in dataclasses.fields(values):
        rule = item.metadata.get("check")
        value = getattr(values, item.name)
        if rule is not None and value is not None and not rule[0](value):
            raise ArgumentError(f"{spelling(item)} must be {rule[1]}, not {value!r}")


def spelling(item: dataclasses.Field[Any]) -> str:
    """How users name an option: its flag if it has one, else its key in quotes."""
    cli = item.metadata.get("cli")
    return cli.name if cli is not None else f"'{item.name}'"


@dataclass(frozen=True)
class OneOf:
    """A check that a value is one of ``choices``: the command line shows them and completes
    them in the shell."""

    choices: tuple[str, ...]

    def __call__(self, value: Any) -> bool:
        return value in self.choices


def one_of(choices: tuple[str, ...]) -> tuple[Check, str]:
    return (OneOf(tuple(choices)), f"one of {', '.join(choices)}")


def choices_of(item: dataclasses.Field[Any]) -> tuple[str, ...]:
    """The values an option's check allows, when it is a list of choices (else ())."""
    rule = item.metadata.get("check")
    return rule[0].choices if rule is not None and isinstance(rule[0], OneOf) else ()


def at_least(low: float) -> tuple[Check, str]:
    return (lambda value: value >= low, f"at least {low:g}")


# -- text forms ----------------------------------------------------------------------------------


def parse_assignments(items: list[str] | None, what: str) -> dict[str, str]:
    """``["width=256", "pretrained=false"]`` -> ``{"width": "256", ...}``, values still text."""
    parsed: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise ArgumentError(f"{what} '{item}' is not of the form name=value")
        parsed[key] = value.strip()
    return parsed


def parse_shape(text: str, what: str = "--input-shape") -> tuple[int, ...]:
    """``"3,32,32"`` (or ``3x32x32``) -> ``(3, 32, 32)``."""
    parts = [part.strip() for part in re.split(r"[,x×]", text)]
    shape = tuple(int(part) for part in parts) if all(p.isdigit() for p in parts) else ()
    if not shape or any(d <= 0 for d in shape):
        raise ArgumentError(f"{what} '{text}' is not a list of positive integers like 3,32,32")
    return shape


def parse_list(text: str, what: str, choices: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """``"a,b"`` -> ``("a", "b")``, each one of ``choices`` when given."""
    items = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [item for item in items if choices and item not in choices]
    if not items or unknown:
        raise ArgumentError(
            f"{what} takes a comma-separated list of {', '.join(choices or ('values',))}, "
            f"not '{text}'"
        )
    return items


def parse_counts(text: str, what: str) -> tuple[int, ...]:
    """``"1,32"`` -> ``(1, 32)``: positive integers only."""
    values = tuple(part.strip() for part in text.split(","))
    if not all(value.isdigit() and int(value) > 0 for value in values):
        raise ArgumentError(f"{what} takes comma-separated positive integers, not '{text}'")
    return tuple(int(value) for value in values)


def existing_folder(text: str) -> str:
    """A ``--data-dir`` the user named: it must be a folder that exists (a named folder that is
    missing is a mistake, not a reason to go on with random inputs)."""
    from pathlib import Path

    path = Path(text).expanduser()
    if path.is_file():
        raise ArgumentError(
            f"--data-dir {text} is a file: name the folder a dataset's files are in"
        )
    if not path.is_dir():
        raise ArgumentError(f"--data-dir {text} does not exist")
    return text


# -- flags several commands share ----------------------------------------------------------------
DATASET = flag(
    "--dataset", "-d", help="Dataset: a registered name (see 'zoo list datasets').", metavar="NAME"
)
DATASET_ARG = flag(
    "--dataset-arg",
    help="Dataset argument name=value (repeatable); see 'zoo info DATASET'.",
    kind=list[str] | None,
    metavar="NAME=VALUE",
)
DATA_DIR = flag(
    "--data-dir",
    help="Where datasets live (default: $ZOO_DATA_DIR or ~/.cache/zoo/data).",
    metavar="DIR",
)
MODEL_ARG = flag(
    "--model-arg",
    "-m",
    help="Model hyper-parameter name=value (repeatable); see 'zoo info MODEL'.",
    kind=list[str] | None,
    metavar="NAME=VALUE",
)
WEIGHTS = flag(
    "--weights",
    help="Trained weights: a name the model declares, 'default', or a .safetensors file.",
    metavar="NAME|FILE",
)
INPUT_SHAPE = flag(
    "--input-shape", help="C,H,W of an image input (or F features of a table row).", metavar="C,H,W"
)
NUM_CLASSES = flag(
    "--num-classes", help="How many classes (outputs) the model has.", kind=int | None
)
SEED = flag("--seed", help="Random seed (default: 0).", kind=int | None)
DEVICE = flag(
    "--device",
    help="Where to run: cuda:N picks one GPU (default: auto).",
    choices=("auto", "cpu", "cuda", "mps"),
    metavar="[auto|cpu|cuda|mps]",
)
RUNS = flag(
    "--runs", help="The folder of runs to take the newest from (default: runs).", metavar="DIR"
)
JSON = flag("--json", help="Print JSON for scripts.", kind=bool)
