"""Build models, datasets and optimizers from registry names, checking arguments against signatures.

Nothing here imports torch at module level: ``zoo list`` and ``zoo --help`` stay light.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from zoo import meta as zoo_meta
from zoo.errors import ArgumentError, PluginError, ZooError, first_line
from zoo.flags import convert, parse_shape
from zoo.registry import Entry, get_registry

# Parameters zoo fills in itself, per kind, with what to do instead of setting them by hand.
RESERVED: dict[str, dict[str, str]] = {
    "model": {
        "num_classes": "set from the dataset's classes",
        "in_channels": "set from the dataset's images",
        "input_shape": "set from the dataset's inputs",
    },
    "dataset": {
        "root": "use --data-dir",
        "train": "zoo picks the split",
        "transform": "zoo prepares the inputs",
        "download": "use --download",
    },
    "optimizer": {
        "params": "the model's parameters",
        "lr": "use --lr",
    },
}
DATA_DIR_ENV = "ZOO_DATA_DIR"


def data_dir() -> Path:
    """Where datasets live: ``$ZOO_DATA_DIR``, else ``$XDG_CACHE_HOME/zoo/data`` (``~/.cache/zoo/data``)."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "zoo" / "data"


def parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    """The parameters of a callable (for a class, of its constructor)."""
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []


def type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    target = fn.__init__ if inspect.isclass(fn) else fn
    try:
        return typing.get_type_hints(target)
    except Exception:  # unresolvable string annotations: fall back to defaults' types
        return {}


def describe_type(param: inspect.Parameter, hints: Mapping[str, Any]) -> str:
    """A readable type for the parameter table of ``zoo info``."""
    hint = hints.get(param.name, param.annotation)
    if hint is inspect.Parameter.empty:
        default = param.default
        return type(default).__name__ if default not in (inspect.Parameter.empty, None) else ""
    if isinstance(hint, type):
        return hint.__name__
    return re.sub(r"\b[a-z_]+(\.[a-z_]+)*\.(?=[A-Za-z])", "", str(hint))  # drop module paths


def bind(
    fn: Callable[..., Any],
    provided: Mapping[str, Any],
    user: Mapping[str, Any],
    what: str,
    kind: str,
) -> dict[str, Any]:
    """Keyword arguments for ``fn`` (an entry of ``kind``): the ``provided`` ones it accepts by
    name, plus the user's, each checked against the signature and converted to its type."""
    reserved = RESERVED[kind]
    params = {p.name: p for p in parameters(fn)}
    hints = type_hints(fn)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in provided.items() if k in params and v is not None}
    for key, value in user.items():
        if key in reserved:
            raise ArgumentError(f"{what}: '{key}' cannot be set by hand: {reserved[key]}")
        param = params.get(key)
        if param is None or param.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            if not takes_any:
                accepted = [
                    n
                    for n, p in params.items()
                    if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                    and n not in provided
                    and n not in reserved
                ]
                raise ArgumentError(
                    f"{what} has no parameter '{key}' (it takes: {', '.join(accepted) or 'none'})"
                )
            kwargs[key] = value
            continue
        try:
            kwargs[key] = convert(value, hints.get(key, param.annotation), param.default, key)
        except ArgumentError as exc:
            raise ArgumentError(f"{what}: {exc}") from None
    return kwargs


def _call(entry: Entry, fn: Callable[..., Any], kwargs: dict[str, Any], *args: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ZooError:
        raise
    except (TypeError, ValueError) as exc:
        raise ArgumentError(
            f"{entry.kind} '{entry.name}' ({entry.source}) rejected its arguments: {exc}"
        ) from exc
    except Exception as exc:
        raise PluginError(
            f"{entry.kind} '{entry.name}' ({entry.source}) failed: {type(exc).__name__}: {exc}"
        ) from exc


def build_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    **kwargs: Any,
) -> Any:
    """Build a registered model with fresh weights. ``num_classes``/``in_channels``/``input_shape``
    reach it only if its signature names them; other keyword arguments (or ``name=value``
    strings' values) are checked against the signature. ``zoo.create_model`` adds trained
    weights on top (:mod:`zoo.pretrained`)."""
    import torch

    entry, fn = get_registry().load("model", name)
    if input_shape is not None and in_channels is None:
        in_channels = input_shape[0]
    provided = {
        "num_classes": num_classes,
        "in_channels": in_channels,
        "input_shape": tuple(input_shape) if input_shape else None,
    }
    call_kwargs = bind(fn, provided, kwargs, f"model '{entry.name}'", "model")
    model = _call(entry, fn, call_kwargs)
    if not isinstance(model, torch.nn.Module):
        raise PluginError(
            f"model '{entry.name}' ({entry.source}) returned {type(model).__name__}, not a torch.nn.Module"
        )
    return model


def create_dataset(
    name: str,
    root: str | Path | None = None,
    train: bool = True,
    transform: Callable[..., Any] | None = None,
    download: bool = False,
    **kwargs: Any,
) -> Any:
    """Build a registered dataset (torchvision's convention); ``root`` defaults to :func:`data_dir`."""
    entry, fn = get_registry().load("dataset", name)
    provided = {
        "root": str(root or data_dir()),
        "train": train,
        "transform": transform,
        "download": download,
    }
    call_kwargs = bind(fn, provided, kwargs, f"dataset '{entry.name}'", "dataset")
    try:
        return _call(entry, fn, call_kwargs)
    except PluginError as exc:
        if isinstance(exc.__cause__, (FileNotFoundError, RuntimeError)) and not download:
            raise ZooError(
                f"dataset '{entry.name}' is not in {provided['root']} ({exc.__cause__}); "
                f"download it (online) or put its files there, or pass --data-dir"
            ) from exc
        raise


def create_optimizer(
    name: str, params: Iterable[Any], lr: float | None = None, **kwargs: Any
) -> Any:
    """Build a registered optimizer over ``params``; extra keyword arguments are checked."""
    entry, fn = get_registry().load("optimizer", name)
    if lr is not None and not lr > 0:
        raise ArgumentError(f"learning rate must be > 0, not {lr}")
    call_kwargs = bind(fn, {"lr": lr}, kwargs, f"optimizer '{entry.name}'", "optimizer")
    return _call(entry, fn, call_kwargs, params)


def get_model_info(name: str) -> zoo_meta.ModelInfo:
    """The metadata of a registered model (its docstring's first line if it has none)."""
    entry, fn = get_registry().load("model", name)
    return _read(entry, fn, zoo_meta.ModelInfo)


def get_dataset_info(name: str) -> zoo_meta.DatasetInfo:
    """The metadata of a registered dataset."""
    entry, fn = get_registry().load("dataset", name)
    return _read(entry, fn, zoo_meta.DatasetInfo)


def _read(entry: Entry, fn: Any, cls: type) -> Any:
    try:
        return zoo_meta.read(fn, cls)
    except TypeError as exc:
        raise PluginError(
            f"{entry.kind} '{entry.name}' ({entry.source}) has invalid zoo_info: {exc}"
        ) from None


def complete_info(dataset: Any, info: zoo_meta.DatasetInfo) -> zoo_meta.DatasetInfo:
    """Fill what static metadata lacks from a dataset instance: its ``classes`` and ``input_shape``
    attributes, else the shape of its first item (a PIL image or a tensor)."""
    classes = info.classes if info.classes is not None else getattr(dataset, "classes", None)
    shape = info.input_shape or getattr(dataset, "input_shape", None)
    if shape is None and len(dataset):
        sample = dataset[0][0]
        if hasattr(sample, "getbands"):  # PIL image
            shape = (len(sample.getbands()), sample.height, sample.width)
        elif hasattr(sample, "shape"):
            shape = tuple(sample.shape) if len(sample.shape) != 2 else (1, *sample.shape)
    return dataclasses.replace(
        info,
        classes=tuple(str(c) for c in classes) if classes is not None else None,
        input_shape=tuple(int(d) for d in shape) if shape is not None else None,
    )


def known_dataset_info(
    name: str, root: str | Path | None = None, **dataset_args: Any
) -> zoo_meta.DatasetInfo:
    """A dataset's shape, classes and statistics: declared, else read from its test split when its
    data is here, else only what is declared."""
    info = get_dataset_info(name)
    if info.input_shape and (info.classes or info.targets):
        return info
    try:
        return complete_info(create_dataset(name, root=root, train=False, **dataset_args), info)
    except ZooError:
        return info


def probe(model: Any, name: str, shape: tuple[int, ...]) -> Any:
    """``model``'s output for a zero batch of two ``shape`` inputs, in eval mode (this also
    materialises lazy layers); a model that cannot take the input is a one-line error."""
    import torch

    model.eval()
    try:
        with torch.no_grad():
            return model(torch.zeros(2, *shape))
    except Exception as exc:
        dims = "×".join(map(str, shape))
        raise ArgumentError(
            f"model '{name}' does not accept input {dims}: {first_line(exc)}"
        ) from None


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
