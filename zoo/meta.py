"""Optional metadata that models and datasets attach to themselves.

A plugin attaches metadata with :func:`model_info` / :func:`dataset_info`, or, without importing
zoo at all, with a plain dict in an attribute named ``zoo_info``. Everything is optional: an entry
without metadata is described by its docstring's first line.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, TypeVar

ATTRIBUTE = "zoo_info"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Recipe:
    """The training recipe a model was published with; `zoo train` uses it for its defaults."""

    optimizer: str = "adam"
    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 10
    opt_args: dict[str, Any] = field(default_factory=dict)
    val_split: float | int = 0
    mean: tuple[float, ...] | None = None  # input normalisation, overriding the dataset's
    std: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What zoo knows about a model beyond its signature."""

    description: str = ""
    default_dataset: str | None = None
    recipe: Recipe = field(default_factory=Recipe)
    reference: dict[str, str] = field(
        default_factory=dict
    )  # published results, e.g. {"cifar10": "73.58 % top-1"}
    output: str = (
        "logits"  # "logits", "log_probs" (trained with NLL) or "regression" (trained with MSE)
    )


@dataclass(frozen=True)
class DatasetInfo:
    """Shape, labels and statistics of a dataset, known without loading it."""

    description: str = ""
    input_shape: tuple[int, ...] | None = None  # (C, H, W) for images, (features,) for tables
    classes: tuple[str, ...] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    task: str = "classification"  # or "regression"
    targets: tuple[str, ...] | None = None  # names of regression targets


def _attach(obj: F, meta: object) -> F:
    setattr(obj, ATTRIBUTE, meta)
    return obj


def model_info(**kwargs: Any) -> Callable[[F], F]:
    """Decorator attaching :class:`ModelInfo` to a model builder. ``recipe`` may be a dict."""
    meta = coerce(ModelInfo, kwargs)
    return lambda fn: _attach(fn, meta)


def dataset_info(**kwargs: Any) -> Callable[[F], F]:
    """Decorator attaching :class:`DatasetInfo` to a dataset builder."""
    meta = coerce(DatasetInfo, kwargs)
    return lambda fn: _attach(fn, meta)


def coerce(cls: type, value: Any) -> Any:
    """Turn a plain dict (as a plugin without zoo writes it) into ``cls``; unknown keys are an error."""
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise TypeError(f"{ATTRIBUTE} must be a dict or {cls.__name__}, not {type(value).__name__}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise TypeError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    data = dict(value)
    if cls is ModelInfo and isinstance(data.get("recipe"), dict):
        data["recipe"] = coerce(Recipe, data["recipe"])
    for key in ("input_shape", "classes", "mean", "std", "targets"):
        if data.get(key) is not None and key in known:
            data[key] = tuple(data[key])
    return cls(**data)


def read(obj: Any, cls: type) -> Any:
    """The metadata attached to ``obj`` as ``cls``, with the docstring as fallback description."""
    meta = coerce(cls, getattr(obj, ATTRIBUTE, None) or {})
    return meta if meta.description else replace(meta, description=summary(obj))


def summary(obj: Any) -> str:
    """The first paragraph of ``obj``'s docstring, on one line."""
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def to_json(meta: Any) -> dict[str, Any]:
    """Metadata as JSON-ready data."""
    return asdict(meta)
