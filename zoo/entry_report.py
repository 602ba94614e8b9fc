"""What ``zoo info`` reports about one entry: description, source, parameters, metadata and,
for a model, its parameter count (JSON-ready; the CLI prints it)."""

from __future__ import annotations

import contextlib
import inspect
from typing import Any

from zoo import meta as zoo_meta
from zoo.errors import ZooError
from zoo.factory import (
    RESERVED,
    default_input,
    describe_type,
    get_dataset_info,
    get_model_info,
    parameters,
    probe,
    type_hints,
)
from zoo.flags import parse_assignments
from zoo.registry import Entry

INVALID_INFO = "has invalid zoo_info: "


def entry_status(entry: Entry) -> tuple[str, str]:
    """Where an entry fails, and why: ``("load", error)`` when it does not import,
    ``("metadata", error)`` when its zoo_info (weights declarations included) is refused,
    ``("", "")`` when it is usable."""
    if entry.error is None:
        with contextlib.suppress(ZooError):  # a failure is recorded in entry.error
            entry.load()
    if entry.error is not None:
        return "load", entry.error
    if entry.kind in ("model", "dataset"):
        read = get_model_info if entry.kind == "model" else get_dataset_info
        try:
            read(entry.qualified_name)
        except ZooError as exc:
            text, rest = str(exc), str(exc).partition(INVALID_INFO)[2]
            return "metadata", f"invalid zoo_info: {rest}" if rest else text
    return "", ""


def entry_report(
    entry: Entry,
    input_shape: str | None = None,
    num_classes: int | None = None,
    model_args: list[str] = (),
) -> dict[str, Any]:
    """A JSON-ready description of ``entry``; for a model, its parameter count for an input."""
    obj = entry.load()
    reserved = RESERVED[entry.kind]
    hints = type_hints(obj)
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
                "set_by_zoo": reserved.get(p.name),
            }
            for p in parameters(obj)
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ],
    }
    if entry.kind == "optimizer":
        report["description"] = zoo_meta.first_paragraph(obj)
        return report
    info = (get_model_info if entry.kind == "model" else get_dataset_info)(entry.qualified_name)
    report.update(zoo_meta.to_json(info))
    if entry.kind == "model":
        report["recipe_declared"] = zoo_meta.declares_recipe(info)
        report["default_weights"] = info.weights[0].name if info.weights else None
        report["size"] = _model_size(entry, info, input_shape, num_classes, model_args)
    return report


def _model_size(
    entry: Entry,
    info: zoo_meta.ModelInfo,
    input_shape: str | None,
    num_classes: int | None,
    model_args: list[str],
) -> dict[str, Any]:
    from zoo.factory import build_model

    shape, classes = default_input(info, input_shape, num_classes)
    args = parse_assignments(model_args, "--model-arg")
    if "pretrained" in {p.name for p in parameters(entry.load())}:
        args.setdefault("pretrained", "false")  # counting parameters needs no downloaded weights
    model = build_model(entry.qualified_name, num_classes=classes, input_shape=shape, **args)
    probe(model, entry.name, shape)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {
        "input_shape": list(shape),
        "num_classes": classes,
        "parameters": total,
        "trainable": trainable,
    }
