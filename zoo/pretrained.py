"""Models from trained weights: ``zoo.create_model(name, weights=...)``, fine-tuning, and the
one way a model is rebuilt from a card (:func:`model_from_card`).

The weights' card says how to build the model (its arguments, input shape and classes). Asking
for another class count gives a new head, as timm and transfer learning do: every tensor is
loaded except those whose shape differs only in the class count, which keep their fresh
initialisation, and zoo says which they are. Any other misfit is one clear line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from zoo.artifacts.card import ModelCard
from zoo.artifacts.checkpoint import Checkpoint
from zoo.errors import ZooError, first_line
from zoo.factory import build_model, probe
from zoo.files import sha256_file
from zoo.meta import DEFAULT_WEIGHTS
from zoo.weights import releases
from zoo.weights.declared import Located, locate
from zoo.weights.releases import is_hub_spec

logger = logging.getLogger("zoo")


@dataclass(frozen=True)
class Pretrained:
    """Verified weights: where they are, their card (hash set) and their tensors."""

    located: Located
    card: ModelCard
    tensors: dict[str, torch.Tensor]

    @property
    def origin(self) -> str:
        """What a fine-tuned card records as ``initialised_from`` (no paths)."""
        return f"{self.located.label} (sha256 {self.card.weights_sha256[:12]})"


def open_weights(model: str | None, spec: str) -> Pretrained:
    """``NAME``, ``default`` or ``FILE.safetensors`` for ``model``: located, checked, read."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    located = locate(model, spec)
    try:
        tensors = load_file(str(located.path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ZooError(f"weights file '{located.path}' is corrupt or truncated: {exc}") from None
    card = located.card.with_(weights_sha256=sha256_file(located.path))
    return Pretrained(located, card, tensors)


def load_into(
    model: torch.nn.Module, pretrained: Pretrained, num_classes: int | None = None
) -> tuple[str, ...]:
    """Load the weights into ``model`` (built for ``num_classes``, default: the weights' own);
    the names of the tensors left freshly initialised because the class count differs."""
    where = pretrained.located.label
    own = model.state_dict()
    tensors = pretrained.tensors
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    if missing or unexpected:
        raise ZooError(
            f"{where} does not fit model '{pretrained.card.model}' as built: "
            f"{len(missing)} missing tensors {missing[:2]}, "
            f"{len(unexpected)} unexpected {unexpected[:2]}"
        )
    trained = len(pretrained.card.classes)
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
            f"{where} does not fit model '{pretrained.card.model}': {key} has shape "
            f"{tuple(value.shape)} in the file and {tuple(own[key].shape)} in the model "
            f"(the weights were trained for input {tuple(pretrained.card.input_shape)})"
        )
    model.load_state_dict({**tensors, **{key: own[key] for key in fresh}})
    return tuple(fresh)


def is_head(trained: torch.Size, built: torch.Size, old: int, new: int | None) -> bool:
    """Whether two shapes differ only in the class count, as an output layer's do."""
    return (
        len(trained) == len(built)
        and (trained[0], built[0]) == (old, new)
        and tuple(trained[1:]) == tuple(built[1:])
    )


def new_head_message(fresh: tuple[str, ...], pretrained: Pretrained, num_classes: int) -> str:
    return (
        f"new head: {', '.join(fresh)} freshly initialised ({pretrained.located.label} have "
        f"{len(pretrained.card.classes)} classes, the model {num_classes})"
    )


def create_model(
    name: str,
    *,
    num_classes: int | None = None,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    weights: str | None = None,
    **kwargs: Any,
) -> torch.nn.Module:
    """Build a registered model (see :func:`zoo.factory.build_model`), with trained weights when
    ``weights`` names them: a name the model declares, ``"default"`` (the first it declares) or
    a ``.safetensors`` file. The model is then built as the weights' card says (the arguments
    given override it), and a different ``num_classes`` gives a new, freshly initialised head.
    ``name`` may be a release ``zoo publish`` put on the Hub, ``hf://OWNER/REPO[@REVISION]``:
    its weights, for the registered model its card names."""
    if is_hub_spec(name):
        name, weights = hub_weights(name, weights)
    if weights is None:
        return build_model(
            name,
            num_classes=num_classes,
            in_channels=in_channels,
            input_shape=input_shape,
            **kwargs,
        )
    pretrained = open_weights(name, weights)
    card = pretrained.card
    shape = tuple(input_shape) if input_shape else card.input_shape
    classes = num_classes or len(card.classes) or None
    model = build_model(
        name,
        num_classes=classes,
        in_channels=in_channels,
        input_shape=shape,
        **{**dict(card.model_args), **kwargs},
    )
    training = model.training
    probe(model, name, shape)  # materialises lazy layers
    fresh = load_into(model, pretrained, classes)
    if fresh:
        logger.warning(new_head_message(fresh, pretrained, classes or 0))
    return model.train(training)


def hub_weights(spec: str, weights: str | None) -> tuple[str, str]:
    """The registered model and the local weights file of a Hub release (downloaded once)."""
    if weights not in (None, DEFAULT_WEIGHTS):
        raise ZooError(f"{spec} publishes one set of weights: leave out weights='{weights}'")
    located = releases.locate(spec)
    return located.model, str(located.path)


def model_from_card(
    card: ModelCard, tensors: dict[str, torch.Tensor], where: str
) -> torch.nn.Module:
    """Build ``card``'s model for its input shape and outputs, load ``tensors``: eval mode."""
    model = build_model(
        card.model,
        num_classes=len(card.classes) or None,
        input_shape=card.input_shape,
        **dict(card.model_args),
    )
    probe(model, card.model, card.input_shape)  # materialises lazy layers
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:  # the first line is a header; the next ones name the tensors
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = next((line for line in lines[1:] if line), first_line(exc))
        raise ZooError(f"{where} does not fit model '{card.model}': {detail}") from None
    return model.eval()


def model_from_checkpoint(checkpoint: Checkpoint) -> torch.nn.Module:
    """A checkpoint's model, rebuilt and loaded, in eval mode."""
    return model_from_card(checkpoint.card, checkpoint.weights, str(checkpoint.path))
