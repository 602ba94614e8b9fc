"""Typer options made from :class:`zoo.flags.Flag` declarations: the one bridge between options
declared as plain data (on the dataclasses they fill) and the command line.

A command takes a declared group of options (``zoo train``'s from :class:`TrainConfig`, the
source options of export, bench and verify, the sweep's settings) with :func:`with_options`, which
adds them to its signature, so Typer parses them and the group's dataclass reads them back.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from zoo import flags
from zoo.errors import ArgumentError
from zoo.flags import Flag, choices_of, declared

F = TypeVar("F", bound=Callable[..., Any])


def opt(declaration: Flag, choices: tuple[str, ...] = (), **extra: Any) -> Any:
    """A Typer option annotation for ``declaration`` (a parameter's default is its own);
    ``choices`` (or the flag's own) are shown as its metavar, ``[a|b|c]``, and completed in
    the shell; ``extra``: more of Typer's settings (``hidden``)."""
    settings = dict(declaration.settings)
    choices = tuple(settings.pop("choices", ())) or choices
    if choices:
        settings.setdefault("metavar", "[" + "|".join(choices) + "]")
        settings["autocompletion"] = completer(choices)
    return Annotated[
        declaration.kind,
        typer.Option(*declaration.names, help=declaration.help, **settings, **extra),
    ]


def completer(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """Shell completion of an option's choices."""

    def complete(incomplete: str) -> list[str]:
        return [choice for choice in choices if choice.startswith(incomplete)]

    return complete


def parameters(cls: type, skip: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    """Keyword parameters for every field of ``cls`` that has a flag, each defaulting to None
    ('not given': the dataclass's default or a lower layer applies), switches to False; and a
    hidden one for each old spelling of a flag (``NAME__as__N``), which :func:`with_options`
    folds into its field with a note."""
    result = []
    for name, item in declared(cls).items():
        if name in skip:
            continue
        cli: Flag = item.metadata["cli"]
        default = False if cli.kind is bool else None
        annotation = opt(cli, choices_of(item))
        result.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )
        for number, alias in enumerate(cli.aliases):
            hidden = dataclasses.replace(cli, names=(alias,), aliases=())
            result.append(
                inspect.Parameter(
                    f"{name}{ALIAS}{number}",
                    inspect.Parameter.KEYWORD_ONLY,
                    default=default,
                    annotation=opt(hidden, choices_of(item), hidden=True),
                )
            )
    return result


def with_options(extra: list[inspect.Parameter]) -> Callable[[F], F]:
    """Give a command taking ``**values`` these keyword options too, between its own positional
    arguments and its own keyword-only options (Typer reads the signature); an old spelling's
    value reaches the command as its field's, with a note on stderr."""

    def decorate(command: F) -> F:
        hints = typing.get_type_hints(command, include_extras=True)  # postponed annotations
        own = [
            p.replace(annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(command).parameters.values()
            if p.kind is not inspect.Parameter.VAR_KEYWORD
        ]
        first = [p for p in own if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        last = [p for p in own if p.kind is inspect.Parameter.KEYWORD_ONLY]

        @functools.wraps(command)
        def run(*args: Any, **values: Any) -> Any:
            return command(*args, **fold_aliases(values, extra))

        run.__signature__ = inspect.Signature([*first, *extra, *last])  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return decorate


def fold_aliases(values: dict[str, Any], extra: list[inspect.Parameter]) -> dict[str, Any]:
    """Values given under an old spelling, moved to their field (given twice: an error)."""
    from zoo.cli.output import error_console

    for key in [key for key in values if ALIAS in key]:
        value, field = values.pop(key), key.partition(ALIAS)[0]
        if value is None or value is False:
            continue
        new, old = (option_names(p) for p in extra if p.name in (field, key))
        if values.get(field) not in (None, False):
            raise ArgumentError(f"{new} and {old} are the same option: give it once")
        error_console.print(f"note: {old} is now {new}", highlight=False, soft_wrap=True)
        values[field] = value
    return values


def option_names(parameter: inspect.Parameter) -> str:
    """The first name of a parameter's option, as users spell it (in an ``Annotated`` option,
    Typer keeps the first name where a default would go)."""
    info = typing.get_args(parameter.annotation)[1]
    return next(n for n in (info.default, *info.param_decls) if str(n).startswith("-"))


Json = opt(flags.JSON)
ALIAS = "__as__"
