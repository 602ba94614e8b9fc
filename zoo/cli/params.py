"""Typer options made from :class:`zoo.flags.Flag` declarations: the one bridge between options
declared as plain data (on the dataclasses they fill) and the command line.

A command takes a declared group of options (``zoo train``'s from :class:`TrainConfig`, the
source options of export, bench and verify, the sweep's settings) with :func:`with_options`, which
adds them to its signature, so Typer parses them and the group's dataclass reads them back.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from zoo import flags
from zoo.flags import Flag, choices_of, declared

F = TypeVar("F", bound=Callable[..., Any])


def opt(declaration: Flag, choices: tuple[str, ...] = ()) -> Any:
    """A Typer option annotation for ``declaration`` (a parameter's default is its own);
    ``choices`` (or the flag's own) are shown as its metavar, ``[a|b|c]``, and completed in
    the shell."""
    settings = dict(declaration.settings)
    choices = tuple(settings.pop("choices", ())) or choices
    if choices:
        settings.setdefault("metavar", "[" + "|".join(choices) + "]")
        settings["autocompletion"] = completer(choices)
    return Annotated[
        declaration.kind,
        typer.Option(*declaration.names, help=declaration.help, **settings),
    ]


def completer(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """Shell completion of an option's choices."""

    def complete(incomplete: str) -> list[str]:
        return [choice for choice in choices if choice.startswith(incomplete)]

    return complete


def parameters(cls: type, skip: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    """Keyword parameters for every field of ``cls`` that has a flag, each defaulting to None
    ('not given': the dataclass's default or a lower layer applies), switches to False."""
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
    return result


def with_options(extra: list[inspect.Parameter]) -> Callable[[F], F]:
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
        command.__signature__ = inspect.Signature([*first, *extra, *last])  # type: ignore[attr-defined]
        return command

    return decorate


Json = opt(flags.JSON)
