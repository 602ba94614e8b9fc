"""What ``zoo info`` reports about one entry: description, source, parameters, metadata and,
for a model, its parameter count (an :class:`EntryReport`; the CLI prints it)."""

from __future__ import annotations

import contextlib
import inspect
from dataclasses import asdict, dataclass
from typing import Any

from zoo import meta as zoo_meta
from zoo.artifacts.card import ModelCard
from zoo.errors import ZooError
from zoo.factory import RESERVED, default_input, describe_type, parameters, probe, type_hints
from zoo.flags import parse_assignments
from zoo.registry import Entry, get_dataset_info, get_model_info, get_registry
from zoo.weights.declared import local_card

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


@dataclass(frozen=True)
class PluginEntry:
    """One registered entry as ``zoo plugins`` lists it: where it comes from, and whether it
    loads and its metadata is valid."""

    distribution: str
    version: str
    kind: str
    name: str
    target: str
    failed_at: str  # "load", "metadata", or "" when it is usable
    error: str

    @property
    def failed(self) -> bool:
        return bool(self.failed_at)

    def to_json(self) -> dict[str, Any]:
        """``zoo plugins --json``: one entry."""
        return {
            "distribution": self.distribution,
            "version": self.version,
            "kind": self.kind,
            "name": self.name,
            "target": self.target,
            "status": "failed" if self.failed else "ok",
            "failed_at": self.failed_at or None,
            "error": self.error or None,
        }


def plugin_entries() -> list[PluginEntry]:
    """Every registered entry (those refused at registration too), zoo's own first, then by
    distribution, kind and name; each checked (its module imported)."""
    registry = get_registry()
    found = []
    for entry in sorted(
        registry.entries() + registry.invalid,
        key=lambda e: (not e.builtin, e.dist.lower(), e.kind, e.name),
    ):
        where = (entry.dist, entry.version, entry.kind, entry.name, entry.target)
        found.append(PluginEntry(*where, *entry_status(entry)))
    return found


@dataclass(frozen=True)
class Parameter:
    """One parameter of an entry's builder, as ``zoo info`` lists it."""

    name: str
    type: str
    default: str | None  # its repr, None when it has none
    required: bool
    set_by_zoo: str | None  # what zoo passes it (num_classes, input_shape...), None: the user


@dataclass(frozen=True)
class ModelSize:
    """A model's parameter count for one input shape and class count."""

    input_shape: tuple[int, ...]
    num_classes: int
    parameters: int
    trainable: int


@dataclass(frozen=True)
class EntryReport:
    """What ``zoo info`` says of one entry: where it comes from, its builder's parameters, its
    metadata (None for an optimizer) and, for a model, its size."""

    name: str
    kind: str
    source: str
    version: str
    target: str
    parameters: tuple[Parameter, ...]
    description: str
    info: zoo_meta.ModelInfo | zoo_meta.DatasetInfo | None = None
    size: ModelSize | None = None
    weight_cards: tuple[ModelCard | None, ...] = ()  # a model's weights' cards, where here

    @property
    def model(self) -> zoo_meta.ModelInfo | None:
        return self.info if isinstance(self.info, zoo_meta.ModelInfo) else None

    @property
    def dataset(self) -> zoo_meta.DatasetInfo | None:
        return self.info if isinstance(self.info, zoo_meta.DatasetInfo) else None

    def to_json(self) -> dict[str, Any]:
        """``zoo info --json``: the entry's facts, then its metadata's fields, then a model's
        ``recipe_declared``, ``default_weights`` and ``size``."""
        data: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "version": self.version,
            "target": self.target,
            "parameters": [asdict(p) for p in self.parameters],
        }
        if self.info is None:
            return data | {"description": self.description}
        data |= zoo_meta.to_json(self.info)
        model = self.model
        if model is not None:
            data["recipe_declared"] = zoo_meta.declares_recipe(model)
            data["default_weights"] = model.weights[0].name if model.weights else None
            data["size"] = asdict(self.size) if self.size else None
            data["weight_cards"] = [c.to_json() if c else None for c in self.weight_cards]
        return data


def entry_report(
    entry: Entry,
    input_shape: str | None = None,
    num_classes: int | None = None,
    model_args: list[str] = (),
) -> EntryReport:
    """What ``entry`` is; for a model, its parameter count for an input."""
    obj = entry.load()
    reserved = RESERVED[entry.kind]
    hints = type_hints(obj)
    found = tuple(
        Parameter(
            name=p.name,
            type=describe_type(p, hints),
            default=None if p.default is inspect.Parameter.empty else repr(p.default),
            required=p.default is inspect.Parameter.empty
            and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD),
            set_by_zoo=reserved.get(p.name),
        )
        for p in parameters(obj)
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )
    facts = (entry.name, entry.kind, entry.dist, entry.version, entry.target, found)
    if entry.kind == "optimizer":
        return EntryReport(*facts, zoo_meta.first_paragraph(obj))
    info = (get_model_info if entry.kind == "model" else get_dataset_info)(entry.qualified_name)
    if entry.kind != "model":
        return EntryReport(*facts, info.description, info)
    size = _model_size(entry, info, input_shape, num_classes, model_args)
    cards = tuple(local_card(entry, weights) for weights in info.weights)
    return EntryReport(*facts, info.description, info, size, cards)


def _model_size(
    entry: Entry,
    info: zoo_meta.ModelInfo,
    input_shape: str | None,
    num_classes: int | None,
    model_args: list[str],
) -> ModelSize:
    from zoo.factory import build_model

    shape, classes = default_input(info, input_shape, num_classes)
    args = parse_assignments(model_args, "--model-arg")
    if "pretrained" in {p.name for p in parameters(entry.load())}:
        args.setdefault("pretrained", "false")  # counting parameters needs no downloaded weights
    model = build_model(entry.qualified_name, num_classes=classes, input_shape=shape, **args)
    probe(model, entry.name, shape)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return ModelSize(tuple(shape), classes, total, trainable)
