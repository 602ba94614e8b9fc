"""What ``zoo info`` reports about one entry: description, source, parameters, metadata."""

from __future__ import annotations

import inspect
from typing import Any

from rich.console import Console
from rich.table import Table

from zoo import meta as zoo_meta
from zoo.errors import ArgumentError, ZooError
from zoo.factory import (
    MODEL_CONTEXT,
    _type_hints,
    describe_type,
    known_dataset_info,
    parameters,
    parse_assignments,
)
from zoo.registry import Entry, first_line

DATASET_CONTEXT = ("root", "train", "transform", "download")


def parse_shape(text: str) -> tuple[int, ...]:
    """``"3,32,32"`` -> ``(3, 32, 32)``."""
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise ArgumentError(f"input shape '{text}' is not a list of positive integers like 3,32,32")
    return shape


def describe(
    entry: Entry,
    input_shape: str | None = None,
    num_classes: int | None = None,
    model_args: list[str] = (),
) -> dict[str, Any]:
    """A JSON-ready description of ``entry``; for a model, its parameter count for an input."""
    obj = entry.load()
    context = {"model": MODEL_CONTEXT, "dataset": DATASET_CONTEXT, "optimizer": ("params",)}[
        entry.kind
    ]
    hints = _type_hints(obj)
    report: dict[str, Any] = {
        "name": entry.name,
        "kind": entry.kind,
        "source": entry.dist,
        "version": entry.version,
        "target": entry.target,
        "parameters": [
            {
                "name": p.name,
                "type": describe_type(p, hints),
                "default": None if p.default is inspect.Parameter.empty else repr(p.default),
                "required": p.default is inspect.Parameter.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD),
                "set_by_zoo": p.name in context,
            }
            for p in parameters(obj)
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ],
    }
    if entry.kind == "optimizer":
        report["description"] = zoo_meta.summary(obj)
        return report
    info = zoo_meta.read(obj, zoo_meta.ModelInfo if entry.kind == "model" else zoo_meta.DatasetInfo)
    report.update(zoo_meta.to_json(info))
    if entry.kind == "model":
        report["size"] = _model_size(entry, info, input_shape, num_classes, model_args)
    return report


def _model_size(
    entry: Entry,
    info: zoo_meta.ModelInfo,
    input_shape: str | None,
    num_classes: int | None,
    model_args: list[str],
) -> dict[str, Any]:
    from zoo.factory import create_model

    shape, classes = default_input(info, input_shape, num_classes)
    args = parse_assignments(model_args, "--model-arg")
    if "pretrained" in {p.name for p in parameters(entry.load())}:
        args.setdefault("pretrained", "false")  # counting parameters needs no downloaded weights
    model = create_model(entry.qualified_name, num_classes=classes, input_shape=shape, **args)
    check_forward(model, entry.name, shape)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "input_shape": list(shape),
        "num_classes": classes,
        "parameters": total,
        "trainable": trainable,
    }


def default_input(
    info: zoo_meta.ModelInfo, input_shape: str | None, num_classes: int | None
) -> tuple[tuple[int, ...], int]:
    """The input shape and output count to build a model with: given, else its default dataset's,
    else 3x32x32 images and 10 classes."""
    shape: tuple[int, ...] | None = parse_shape(input_shape) if input_shape else None
    classes = num_classes
    if info.default_dataset and (shape is None or classes is None):
        try:
            data = known_dataset_info(info.default_dataset)
        except ZooError:  # not registered: fall back to a generic shape
            data = None
        if data is not None:
            shape = shape or data.input_shape
            outputs = (
                len(data.targets or ()) if data.task == "regression" else len(data.classes or ())
            )
            classes = classes or outputs or None
    return shape or (3, 32, 32), classes or 10


def check_forward(model: Any, name: str, shape: tuple[int, ...]) -> None:
    """Run one zero batch through ``model`` (which also materialises lazy layers)."""
    import torch

    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(2, *shape))
    except Exception as exc:
        raise ArgumentError(
            f"model '{name}' does not accept input {'x'.join(map(str, shape))}: {first_line(exc)}"
        ) from None


def render(report: dict[str, Any], console: Console) -> None:
    """Print a report from :func:`describe` for people."""
    console.print(
        f"[bold]{report['name']}[/bold] ({report['kind']}): {report.get('description') or '[dim]no description[/dim]'}"
    )
    console.print(
        f"  source: {report['source']} {report['version']}  [dim]{report['target']}[/dim]"
    )
    for key in ("default_dataset", "output", "task", "input_shape", "mean", "std"):
        if report.get(key) not in (None, "", []):
            console.print(f"  {key.replace('_', ' ')}: {_plain(report[key])}")
    if report.get("classes"):
        classes = report["classes"]
        console.print(
            f"  classes ({len(classes)}): {', '.join(classes[:12])}{' ...' if len(classes) > 12 else ''}"
        )
    if report.get("targets"):
        console.print(f"  targets: {', '.join(report['targets'])}")
    if report.get("recipe") and report["kind"] == "model":
        recipe = {k: v for k, v in report["recipe"].items() if v not in (None, {}, 0)}
        console.print(
            "  recipe: "
            + ", ".join(f"{k.replace('_', ' ')} {_plain(v)}" for k, v in recipe.items())
        )
    for dataset, result in (report.get("reference") or {}).items():
        console.print(f"  reported: {result} on {dataset}")
    if report.get("size"):
        size = report["size"]
        shape = "x".join(map(str, size["input_shape"]))
        console.print(
            f"  parameters: {size['parameters']:,} ({size['trainable']:,} trainable) "
            f"for input {shape} and {size['num_classes']} outputs"
        )
    if report["parameters"]:
        table = Table(box=None, header_style="bold", padding=(0, 2, 0, 2))
        for column in ("Parameter", "Type", "Default", ""):
            table.add_column(column)
        for p in report["parameters"]:
            note = "set by zoo" if p["set_by_zoo"] else ("required" if p["required"] else "")
            table.add_row(p["name"], p["type"], p["default"] or "", f"[dim]{note}[/dim]")
        console.print(table)


def _plain(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_plain(v) for v in value) + ")"
    return str(value)
