"""Build models, datasets and optimizers from registry names, checking arguments against
signatures: ``zoo.create_model``, ``zoo.create_dataset`` and ``zoo.create_optimizer``.

:func:`build_model` is the one way a model is built, fresh or from a card and its trained
weights; ``create_model`` is its public face (timm's ``create_model``, torchvision's
``get_model``). Nothing here imports torch at module level: ``zoo list`` and ``zoo --help`` stay
light.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from zoo import meta as zoo_meta
from zoo.artifacts.card import ModelCard
from zoo.artifacts.checkpoint import read_weights
from zoo.errors import ArgumentError, PluginError, ZooError, first_line
from zoo.flags import convert, parse_shape
from zoo.registry import Entry, get_dataset_info, get_registry
from zoo.weights import releases

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
logger = logging.getLogger("zoo")


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
    card: ModelCard | None = None,
    tensors: Mapping[str, Any] | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    where: str = "",
    **kwargs: Any,
) -> Any:
    """The one way a registered model is built. With a ``card`` (trained weights): as the card
    says (its model arguments, input shape and class count), the arguments given overriding it;
    with ``tensors`` too, those weights loaded (a different ``num_classes`` gives a new, freshly
    initialised head, logged). ``num_classes``/``in_channels``/``input_shape`` reach the builder
    only if its signature names them; other keyword arguments (or ``name=value`` strings'
    values) are checked against the signature. ``zoo.create_model`` is its public face."""
    import torch

    entry, fn = get_registry().load("model", name)
    trained = len(card.classes) if card is not None else 0
    if card is not None:
        input_shape = tuple(input_shape) if input_shape else card.input_shape
        num_classes = num_classes or trained or None
        kwargs = {**dict(card.model_args), **kwargs}
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
    if card is not None and tensors is not None:
        training = model.training
        probe(model, entry.name, card.input_shape if input_shape is None else input_shape)
        fresh = load_weights(
            model, tensors, card, where or f"the weights of '{card.model}'", num_classes
        )
        if fresh:
            logger.warning(new_head_message(fresh, where, trained, num_classes or 0))
        model.train(training)
    return model


def load_weights(
    model: Any,
    tensors: Mapping[str, Any],
    card: ModelCard,
    where: str,
    num_classes: int | None = None,
) -> tuple[str, ...]:
    """Load ``tensors`` (trained as ``card`` says) into ``model`` (built for ``num_classes``,
    default: the card's); the names of the tensors left freshly initialised because the class
    count differs. Any other misfit is one line."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise ZooError(
            f"{where} does not fit model '{card.model}' as built: "
            f"{len(missing)} missing tensors {missing[:2]}, "
            f"{len(unexpected)} unexpected {unexpected[:2]}"
        )
    trained = len(card.classes)
    new_head = num_classes is not None and trained > 0 and num_classes != trained
    fresh = []
    for key in own:  # the model's order: weight before bias
        value = tensors[key]
        if own[key].shape == value.shape:
            continue
        if new_head and is_head(value.shape, own[key].shape, trained, num_classes):
            fresh.append(key)
            continue
        raise ZooError(
            f"{where} does not fit model '{card.model}': {key} has shape "
            f"{tuple(value.shape)} in the file and {tuple(own[key].shape)} in the model "
            f"(the weights were trained for input {tuple(card.input_shape)})"
        )
    model.load_state_dict({**tensors, **{key: own[key] for key in fresh}})
    return tuple(fresh)


def is_head(trained: Any, built: Any, old: int, new: int | None) -> bool:
    """Whether two shapes differ only in the class count, as an output layer's do."""
    return (
        len(trained) == len(built)
        and (trained[0], built[0]) == (old, new)
        and tuple(trained[1:]) == tuple(built[1:])
    )


def new_head_message(fresh: tuple[str, ...], where: str, trained: int, num_classes: int) -> str:
    return (
        f"new head: {', '.join(fresh)} freshly initialised ({where} have {trained} classes, "
        f"the model {num_classes})"
    )


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    weights: str | None = None,
    **kwargs: Any,
) -> Any:
    """Build a registered model (:func:`build_model`), with trained weights when ``weights``
    names them: a name the model declares, ``"default"`` (the first it declares) or a
    ``.safetensors`` file. The model is then built as the weights' card says (the arguments
    given override it), and a different ``num_classes`` gives a new, freshly initialised head.
    ``name`` may be a release ``zoo publish`` put on the Hub, ``hf://OWNER/REPO[@REVISION]``:
    its weights, for the registered model its card names."""
    shape = tuple(input_shape) if input_shape else None
    if weights is None and not releases.is_hub_spec(name):
        return build_model(
            name, num_classes=num_classes, in_channels=in_channels, input_shape=shape, **kwargs
        )
    located = releases.trained_weights(name, weights)
    return build_model(
        located.model or name,
        card=located.card,
        tensors=read_weights(located.path),
        num_classes=num_classes,
        in_channels=in_channels,
        input_shape=shape,
        where=located.label,
        **kwargs,
    )


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


def seeded_model(
    name: str,
    shape: tuple[int, ...],
    num_classes: int | None,
    model_args: dict[str, Any],
    seed: int,
) -> Any:
    """A model with weights drawn from ``seed`` (a fresh model's, reproducible), without
    touching the global random state; eval mode."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(name, num_classes=num_classes, input_shape=shape, **model_args)
        probe(model, name, shape)  # also materialises lazy layers
    return model.eval()


def class_names(
    model: Any, name: str, shape: tuple[int, ...], names: tuple[str, ...] | None
) -> tuple[str, ...]:
    """The dataset's class (or target) names if they fit the model's output width, else indices."""
    width = probe(model, name, shape).reshape(2, -1).shape[1]
    return tuple(names) if names and len(names) == width else tuple(str(i) for i in range(width))


def torch_version() -> str:
    """The installed PyTorch's version, as cards record it."""
    import torch

    return str(torch.__version__)


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
