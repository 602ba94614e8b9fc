"""Options as plain data: each declared once, as a field of the request it fills, with its
command-line form, its check and its text parser; one path from given values to a request; and
the parsers of the text forms.

A :class:`Flag` says how an option is spelled on the command line (no Typer here: the CLI turns
flags into Typer options, and the quick ``zoo predict`` path reads them without loading Typer).
:func:`option` declares a dataclass field with its flag, so that :class:`~zoo.artifacts.config.
TrainConfig`, every command's request and the sweep's settings each have one table of options.
:func:`build` (and :func:`given`, for layers of a configuration) turns values into a request
the same way whether they come from the command line, a config file, a sweep's grid or the quick
``zoo predict`` path's words (:func:`read_words`). Shared flags (``--dataset``, ``--data-dir``,
``--json``...) are declared below, once.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ArgumentError

Check = Callable[[Any], bool]
UNIONS = (typing.Union, types.UnionType)
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Flag:
    """A command-line option: its names (the long one first), help, the type its text becomes,
    and settings the CLI passes on (``min``, ``max``, a help panel)."""

    names: tuple[str, ...]
    help: str
    kind: Any = str | None
    settings: Mapping[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()  # old spellings: still read (hidden, with a note), not shown

    @property
    def name(self) -> str:
        """The long name: ``--amp`` for ``--amp/--no-amp``."""
        return self.names[0].split("/")[0]

    @property
    def switch(self) -> bool:
        """A flag that takes no value (``--json``, ``--onnx``)."""
        return self.kind is bool

    @property
    def repeatable(self) -> bool:
        """A flag given several times: its values come as a list."""
        kinds = typing.get_args(self.kind) if typing.get_origin(self.kind) in UNIONS else ()
        return any(typing.get_origin(kind) is list for kind in kinds or (self.kind,))

    def with_help(self, help: str) -> Flag:
        """The same flag, explained for another command."""
        return dataclasses.replace(self, help=help)

    def with_default(self, default: str) -> Flag:
        """The same flag, its help ending with this command's default."""
        return self.with_help(f"{self.help} (default: {default}).")


def flag(
    *names: str, help: str, kind: Any = str | None, aliases: tuple[str, ...] = (), **settings: Any
) -> Flag:
    """A :class:`Flag` of type ``kind`` (a value, or None when not given) under ``names``; its
    ``aliases`` are old spellings still read (see :mod:`zoo.cli.params`)."""
    return Flag(tuple(names), help, kind, settings, aliases)


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


@functools.cache
def fields_of(cls: type) -> dict[str, dataclasses.Field[Any]]:
    return {f.name: f for f in dataclasses.fields(cls)}


@functools.cache
def hints_of(cls: type) -> dict[str, Any]:
    """The fields' types (their annotations are postponed strings)."""
    return typing.get_type_hints(cls)


def value_of(cls: type, key: str, value: Any, where: str = "", text: bool = False) -> Any:
    """One option's value as its field holds it. Text (and a repeated flag's list) goes through
    the field's parser; without one, text that came as text (``text``: a sweep's grid, the quick
    predict path's words) is converted by the field's type. Any other value (a config file's, one
    Typer already typed) is checked against the field's type: ``epochs = "5"`` in a config file
    is as wrong as ``epochs = "many"``."""
    item = fields_of(cls)[key]
    parse, cli = item.metadata.get("parse"), item.metadata.get("cli")
    if value is None:
        return None
    if parse is not None and (
        isinstance(value, str) or (isinstance(value, list) and cli is not None and cli.repeatable)
    ):
        return parse(value)
    if text and isinstance(value, str):
        return convert(value, hints_of(cls)[key], item.default, key)
    return typed(hints_of(cls)[key], value, key, where)


def given(
    cls: type, values: Mapping[str, Any], where: str = "", text: bool = False
) -> dict[str, Any]:
    """The options of ``cls`` that ``values`` give, each as its field holds it
    (:func:`value_of`): a layer of a configuration. None, or an unset switch, is not given;
    keys that are not fields of ``cls`` are left out."""
    layer = {}
    for key, value in values.items():
        item = fields_of(cls).get(key)
        cli = item.metadata.get("cli") if item is not None else None
        if item is None or value is None or (cli is not None and cli.switch and value is False):
            continue
        layer[key] = value_of(cls, key, value, where, text)
    return layer


def build(
    cls: type, values: dict[str, Any], where: str = "", text: bool = False, **fixed: Any
) -> Any:
    """A request from given ``values`` (its options taken out of the dict: a command's values
    may fill several requests): a value not given leaves the field's default, each value goes
    through :func:`value_of`; then every field's check. ``fixed`` are fields the caller fills
    itself (a command's arguments, a nested request)."""
    picked = {name: values.pop(name) for name in declared(cls) if name in values}
    built = cls(**given(cls, picked, where, text), **fixed)
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


def read_words(cls: type, words: list[str]) -> tuple[dict[str, Any], list[str]] | None:
    """Command-line words as the options of ``cls`` (values still text, for :func:`build` with
    ``text=True``) and the other words, in order; None when a word looks like an option ``cls``
    does not have, or an option lacks its value (the full command line judges those)."""
    by_name = {name: key for key, item in declared(cls).items() for name in names_of(item)}
    values: dict[str, Any] = {}
    rest: list[str] = []
    words_left = iter(words)
    for word in words_left:
        name, equals, value = word.partition("=")
        key = by_name.get(name)
        if key is None:
            if word.startswith("-") and not number_row(word):
                return None
            rest.append(word)
        elif declared(cls)[key].metadata["cli"].switch:
            if equals:
                return None
            values[key] = True
        else:
            value = value if equals else next(words_left, "")
            if not value or value.startswith("-"):
                return None
            values[key] = value
    return values, rest


def names_of(item: dataclasses.Field[Any]) -> tuple[str, ...]:
    cli: Flag = item.metadata["cli"]
    return tuple(name for names in cli.names for name in names.split("/")) + cli.aliases


def number_row(word: str) -> bool:
    """A table model's input row may start with a minus sign: ``-1.5,2,0.3``."""
    try:
        [float(value) for value in word.split(",")]
    except ValueError:
        return False
    return True


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


def assignments(what: str) -> Callable[[Any], dict[str, str]]:
    """The parser of a repeatable ``name=value`` flag (``--model-arg``)."""
    return lambda items: parse_assignments(items, what)


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


# -- values of a type ----------------------------------------------------------------------------


def convert(value: Any, hint: Any, default: Any, name: str) -> Any:
    """Text converted to a type (an option's, an entry parameter's): numbers, booleans, lists,
    unions, paths; other values checked loosely."""
    if hint is inspect.Parameter.empty or hint is Any:
        hint = type(default) if default not in (inspect.Parameter.empty, None) else None
    origin = typing.get_origin(hint)
    if origin in UNIONS:
        return convert_union(value, hint, name)
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        for choice in choices:
            if value == choice or (isinstance(value, str) and value == str(choice)):
                return choice
        raise ArgumentError(
            f"'{name}' must be one of {', '.join(map(str, choices))}, not '{value}'"
        )
    if origin in (tuple, list) or hint in (tuple, list):
        return convert_list(value, hint, name)
    if hint in (bool, int, float):
        return convert_scalar(value, hint, name)
    if hint is str or hint is None or not isinstance(value, str):
        if hint is None and isinstance(value, str):
            try:  # untyped parameter: accept Python literals (numbers, booleans, tuples), else text
                return ast.literal_eval(value)
            except (ValueError, SyntaxError):
                return value
        return value
    if isinstance(hint, type) and issubclass(hint, (Path, os.PathLike)):
        return hint(value)
    return value


def convert_union(value: Any, hint: Any, name: str) -> Any:
    """The first of a union's types that takes the value (``none`` for an optional one)."""
    options = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = len(options) < len(typing.get_args(hint))
    if isinstance(value, str) and value.lower() in ("none", "null") and optional:
        return None
    errors = []
    for option in options:
        try:
            return convert(value, option, inspect.Parameter.empty, name)
        except ArgumentError as exc:
            errors.append(str(exc))
    raise ArgumentError(errors[0] if errors else f"invalid value for '{name}'")


def convert_list(value: Any, hint: Any, name: str) -> Any:
    """A comma-separated text (or a list) as a list or tuple of the item type."""
    origin = typing.get_origin(hint)
    item_type = (typing.get_args(hint) or (None,))[0]
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise ArgumentError(f"'{name}' must be a list, not '{value}'")
    converted = [
        convert(v.strip() if isinstance(v, str) else v, item_type, inspect.Parameter.empty, name)
        for v in items
        if v != ""
    ]
    return tuple(converted) if (origin or hint) is tuple else converted


def convert_scalar(value: Any, hint: type, name: str) -> Any:
    """A boolean, integer or float from text (a bool is not a number, a float not an int)."""
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in TRUE | FALSE:
            return value.lower() in TRUE
        raise ArgumentError(f"'{name}' must be true or false, not '{value}'")
    if isinstance(value, bool) or (hint is int and isinstance(value, float)):
        raise ArgumentError(f"'{name}' must be {hint.__name__}, not '{value}'")
    try:
        return hint(value)
    except (TypeError, ValueError):
        raise ArgumentError(
            f"'{name}' must be {'an integer' if hint is int else 'a number'}, not '{value}'"
        ) from None


def typed(hint: Any, value: Any, key: str, where: str = "") -> Any:
    """``value`` checked against ``hint`` as a config file gives it, without text conversion:
    a value of one of its types as it is, an integer where a float goes as a float, a list where
    a tuple goes as a tuple."""
    allowed = list(typing.get_args(hint)) if typing.get_origin(hint) in UNIONS else [hint]
    if value is None and type(None) in allowed:
        return None
    for kind in allowed:  # a type of its own first: 5000 stays an int in ``float | int``
        if typing.get_origin(kind) is None and isinstance(kind, type):
            own = type(value) is kind if kind in (bool, int, float) else isinstance(value, kind)
            if own:
                return value
    for kind in allowed:
        origin = typing.get_origin(kind) or kind
        if origin is Any or (origin is dict and isinstance(value, dict)):
            return value
        if origin is float and is_number(value):
            return float(value)
        if origin in (list, tuple) and isinstance(value, (list, tuple)):
            item = (typing.get_args(kind) or (Any,))[0]
            items = [typed_item(key, v, item, where) for v in value]
            return tuple(items) if origin is tuple else items
        if isinstance(origin, type) and issubclass(origin, Path) and isinstance(value, str):
            return origin(value)
    expected = " or ".join(kind_name(k) for k in allowed if k is not type(None))
    raise ArgumentError(f"{where + ': ' if where else ''}'{key}' must be {expected}, not {value!r}")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def typed_item(key: str, value: Any, kind: Any, where: str) -> Any:
    if kind is float and is_number(value):
        return float(value)
    if (
        kind is Any
        or kind is Ellipsis
        or (isinstance(value, kind) and not (kind is int and isinstance(value, bool)))
    ):
        return value
    plural = {float: "numbers", int: "integers", str: "strings", bool: "booleans"}.get(
        kind, "values"
    )
    raise ArgumentError(
        f"{where + ': ' if where else ''}'{key}' must be a list of {plural}, not {value!r}"
    )


def kind_name(kind: Any) -> str:
    origin = typing.get_origin(kind) or kind
    names = {float: "a number", int: "an integer", bool: "true or false", str: "a string"}
    names |= {dict: "a table", list: "a list", tuple: "a list"}
    return names.get(origin, str(kind))


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
