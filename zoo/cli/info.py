"""``zoo info``: one model, dataset or optimizer: what it is, its source, its parameters, its
trained weights (the report is :mod:`zoo.entry_report`'s)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from zoo import flags
from zoo.artifacts.manifest import Manifest, is_export_dir
from zoo.cli.list import KIND_ALIASES
from zoo.cli.output import console, print_json, say, show_table
from zoo.cli.params import Json, opt
from zoo.errors import ZooError
from zoo.registry import KINDS, get_registry

if TYPE_CHECKING:
    from zoo.artifacts.card import ModelCard
    from zoo.entry_report import EntryReport
    from zoo.meta import ModelInfo


CORE_RECIPE = ("optimizer", "lr", "batch_size", "epochs")  # shown even when zoo's defaults


def info(
    name: Annotated[
        str,
        typer.Argument(help="A registered name, distribution:name, or an export directory."),
    ],
    kind: Annotated[
        str | None, typer.Option(help="model, dataset or optimizer, when the name is ambiguous.")
    ] = None,
    input_shape: opt(flags.INPUT_SHAPE) = None,
    num_classes: opt(flags.NUM_CLASSES) = None,
    model_arg: opt(flags.MODEL_ARG) = None,
    as_json: Json = False,
) -> None:
    """Describe a model, dataset or optimizer: what it is, its source and its parameters; or an
    export directory: its files, and `zoo optimize`'s decision where it made one.

    For a model, its parameter count for an input (default: its default dataset's).

    Example: `zoo info cifar10-cnn --input-shape 3,64,64`
    """
    from zoo.entry_report import entry_report

    if is_export_dir(Path(name)):
        render_export(Manifest.read(Path(name)), Path(name), as_json)
        return
    registry = get_registry()
    kinds = [KIND_ALIASES[kind]] if kind in KIND_ALIASES else None
    if kind is not None and kinds is None:
        raise ZooError(f"unknown kind '{kind}': use model, dataset or optimizer")
    bare = name.rpartition(":")[2]
    candidates = kinds or [k for k in KINDS if registry.names(k, bare)]
    if not candidates:
        raise registry.unknown(None, bare)
    reports = [
        entry_report(
            registry.resolve(k, name),
            input_shape=input_shape,
            num_classes=num_classes,
            model_args=model_arg or [],
        )
        for k in candidates
    ]
    if as_json:
        shown = [report.to_json() for report in reports]
        print_json(shown[0] if len(shown) == 1 else shown)
        return
    for report in reports:
        render(report)


def render_export(manifest: Manifest, directory: Path, as_json: bool) -> None:
    """An export directory: the model, each file, and the decision that chose it."""
    if as_json:
        print_json(manifest.to_json())
        return
    say(
        console,
        f"[bold]{manifest.card.model}[/bold] (export {directory}, {manifest.created}), "
        f"verified on {manifest.inputs}",
    )
    for entry in manifest.files:
        say(
            console,
            f"  {entry.label}: {entry.path}, {entry.total_bytes / 1e6:.2f} MB, "
            f"{entry.facts.quantisation}",
        )
    if manifest.decision is None:
        return
    for line in manifest.decision.lines():
        say(console, f"  decision: {line}")
    for candidate in manifest.decision.candidates:
        outcome = candidate.reason or candidate.status
        say(console, f"    {candidate.name}: {outcome}")


def render(report: EntryReport) -> None:
    """Print a report from :func:`zoo.entry_report.entry_report` for people."""
    description = report.description or "[dim]no description[/dim]"
    say(console, f"[bold]{report.name}[/bold] ({report.kind}): {description}")
    say(
        console,
        f"  source: {report.source} {report.version}  [dim]{report.target}[/dim]",
    )
    model, dataset = report.model, report.dataset
    facts = {
        "default_dataset": model.default_dataset if model else None,
        "output": model.output if model else None,
        "task": dataset.task if dataset else None,
        "input_shape": dataset.input_shape if dataset else None,
        "mean": dataset.mean if dataset else None,
        "std": dataset.std if dataset else None,
    }
    for key, value in facts.items():
        if value not in (None, "", (), []):
            say(console, f"  {key.replace('_', ' ')}: {plain(value)}")
    if dataset and dataset.classes:
        more = " ..." if len(dataset.classes) > 12 else ""
        shown = ", ".join(dataset.classes[:12])
        say(console, f"  classes ({len(dataset.classes)}): {shown}{more}")
    if dataset and dataset.targets:
        say(console, f"  targets: {', '.join(dataset.targets)}")
    if model is not None:
        render_model(report, model)
    if report.parameters:
        cells = [
            [
                escape(p.name),
                escape(p.type),
                escape(p.default or ""),
                f"[dim]{escape(p.set_by_zoo or ('required' if p.required else ''))}[/dim]",
            ]
            for p in report.parameters
        ]
        show_table(["Parameter", "Type", "Default", "Note"], cells, wrap=("Type", "Note"))


def render_model(report: EntryReport, model: ModelInfo) -> None:
    """A model's recipe, reported results, trained weights and size."""
    from zoo.meta import declares_recipe

    shown = {key: getattr(model.recipe, key) for key in CORE_RECIPE} | model.recipe.values
    recipe = {k: v for k, v in shown.items() if v not in (None, {}, 0, "")}
    note = model.recipe.note
    say(
        console,
        (
            "  recipe: "
            if declares_recipe(model)
            else "  recipe (none declared by the plugin: zoo's defaults): "
        )
        + ", ".join(f"{k.replace('_', ' ')} {plain(v)}" for k, v in recipe.items()),
    )
    if note:
        say(console, f"  recipe note: {note}")
    for dataset, result in model.reference.items():
        say(console, f"  reported: {result} on {dataset}")
    render_weights(model, report.weight_cards)
    if report.size:
        size = report.size
        shape = "x".join(map(str, size.input_shape))
        say(
            console,
            f"  parameters: {size.parameters:,} ({size.trainable:,} trainable) "
            f"for input {shape} and {size.num_classes} outputs",
        )


def render_weights(model: ModelInfo, cards: tuple[ModelCard | None, ...]) -> None:
    """A model's trained weights with what their cards say, or why it has none."""
    from zoo.weights.declared import metrics_text, stated_text

    if not model.weights:
        why = model.no_weights or "none declared"
        say(console, f"  trained weights: none ({why})")
        return
    say(console, "  trained weights (--weights NAME, or default):")
    for position, (weights, card) in enumerate(zip(model.weights, cards, strict=True)):
        default = " (default)" if position == 0 else ""
        said = metrics_text(card) if card else stated_text(weights)
        say(console, f"    [bold]{weights.name}[/bold]{default}: {escape(said)}")
        say(console, f"      {escape(weights.location)}")
        say(console, f"      sha256 {weights.sha256}")
        if card is not None and card.zoo_version:
            say(console, f"      made with zoo {card.zoo_version}")
        if weights.note:
            say(console, f"      note: {weights.note}")


def plain(value: Any) -> str:
    """A value as a reader wants it: floats to 6 significant digits (1.5, not
    1.5000000000000002), tables as ``key value`` pairs."""
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(plain(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} {plain(v)}" for k, v in value.items()) + "}"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
