"""Command-line options that several commands share, each declared once, and the parsers of their
text forms. No torch here: every command imports this module.

An option is a Typer ``Annotated`` type; a command uses it as a parameter's annotation. ``zoo train``
builds its own options from the fields of :class:`zoo.train.config.TrainConfig`, which refer to the
shared ones below where they mean the same thing.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from zoo.errors import ArgumentError

F = TypeVar("F", bound=Callable[..., Any])


def flag(*names: str, help: str, kind: Any = str | None, **settings: Any) -> Any:
    """An option of type ``kind`` (a value, or None when not given) under ``names``."""
    return Annotated[kind, typer.Option(*names, help=help, **settings)]


def flag_name(option: Any) -> str:
    """The long name of an option made by :func:`flag` (``--amp`` for ``--amp/--no-amp``)."""
    info = typing.get_args(option)[1]
    names = [info.default, *info.param_decls]  # with Annotated, Typer takes the first as a name
    long = next(n for n in names if isinstance(n, str) and n.startswith("--"))
    return long.split("/")[0]


def with_options(parameters: list[inspect.Parameter]) -> Callable[[F], F]:
    """Give a command taking ``**values`` these keyword options too, between its own positional
    arguments and its own keyword-only options (Typer reads the signature)."""

    def decorate(command: F) -> F:
        hints = typing.get_type_hints(command, include_extras=True)  # postponed annotations
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(command).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        first = [p for p in own if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        last = [p for p in own if p.kind is inspect.Parameter.KEYWORD_ONLY]
        command.__signature__ = inspect.Signature([*first, *parameters, *last])  # type: ignore[attr-defined]
        return command

    return decorate


# -- what to work on -----------------------------------------------------------------------------
Dataset = flag("--dataset", "-d", help="Dataset: a registered name (see 'zoo list datasets').")
DatasetArg = flag(
    "--dataset-arg",
    help="Dataset argument name=value (repeatable); see 'zoo info DATASET'.",
    kind=list[str] | None,
)
DataDir = flag(
    "--data-dir", help="Where datasets live (default: $ZOO_DATA_DIR or ~/.cache/zoo/data)."
)
ModelArg = flag(
    "--model-arg",
    "-m",
    help="Model hyper-parameter name=value (repeatable); see 'zoo info MODEL'.",
    kind=list[str] | None,
)
Weights = flag(
    "--weights",
    help="Trained weights: a name the model declares, 'default', or a .safetensors file.",
)
InputShape = flag("--input-shape", help="C,H,W of an image input (or F features of a table row).")
NumClasses = flag(
    "--num-classes", help="How many classes (outputs) the model has.", kind=int | None
)
Seed = flag("--seed", help="Random seed (default: 0).", kind=int | None)
Device = flag("--device", help="auto, cpu, cuda (or cuda:N) or mps (default: auto).")
Runs = flag("--runs", help="The folder of runs to take the newest from (default: runs).")

# -- output -------------------------------------------------------------------------------------
Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


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
    values = parse_list(text, what)
    if not all(value.isdigit() and int(value) > 0 for value in values):
        raise ArgumentError(f"{what} takes comma-separated positive integers, not '{text}'")
    return tuple(int(value) for value in values)


def existing_folder(path: str | Path, what: str) -> Path:
    """``path`` as a folder that exists."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ArgumentError(f"{what} '{path}' is not a folder")
    return folder
