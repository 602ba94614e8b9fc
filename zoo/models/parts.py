"""Pieces the built-in models share: input shapes, conv/pool size arithmetic, the CNN layout."""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict

from torch import nn


def format_shape(shape: tuple[int, ...]) -> str:
    """``(1, 28, 28)`` -> ``"1×28×28"``."""
    return "×".join(str(d) for d in shape)


def image_shape(
    input_shape: tuple[int, ...] | None, in_channels: int | None, default: tuple[int, int, int]
) -> tuple[int, int, int]:
    """The (C, H, W) to build for: ``input_shape``, else ``default`` with ``in_channels``."""
    if input_shape is None:
        return (in_channels or default[0], default[1], default[2])
    if len(input_shape) != 3:
        raise ValueError(
            f"needs images of shape (C, H, W), not input of shape {tuple(input_shape)}"
        )
    if in_channels is not None and in_channels != input_shape[0]:
        raise ValueError(f"in_channels={in_channels} contradicts input_shape {input_shape}")
    channels, height, width = (int(d) for d in input_shape)
    return channels, height, width


def flat_size(
    input_shape: tuple[int, ...] | None, in_channels: int | None, default: tuple[int, int, int]
) -> int:
    """How many values an input flattens to (C·H·W, or the feature count of a table row)."""
    if input_shape is None:
        return math.prod(image_shape(None, in_channels, default))
    return math.prod(int(d) for d in input_shape)


def _pair(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else (value, value)


def _shrink(size: int, layer: nn.Conv2d | nn.MaxPool2d, axis: int) -> int:
    kernel, stride, padding, dilation = (
        _pair(getattr(layer, name))[axis]
        for name in ("kernel_size", "stride", "padding", "dilation")
    )
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def feature_map_size(features: nn.Module, height: int, width: int) -> tuple[int, int]:
    """Height and width after the Conv2d and MaxPool2d layers of ``features``, in order;
    ``(0, 0)`` when the input is too small for them."""
    for layer in features.modules():
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            height, width = _shrink(height, layer, 0), _shrink(width, layer, 1)
            if height < 1 or width < 1:
                return 0, 0
    return height, width


def flattened_size(features: nn.Module, shape: tuple[int, int, int]) -> int:
    """How many values ``features`` yields per image of ``shape``; a ValueError naming the
    smallest image size that fits when ``shape`` is too small for the conv/pool stack."""
    height, width = feature_map_size(features, shape[1], shape[2])
    if height == 0:
        smallest = next(n for n in itertools.count(1) if feature_map_size(features, n, n)[0])
        raise ValueError(
            f"input {format_shape(shape)} is too small for the conv/pool stack: "
            f"it needs images of at least {smallest}×{smallest}"
        )
    channels = [layer.out_channels for layer in features.modules() if isinstance(layer, nn.Conv2d)]
    return channels[-1] * height * width


def conv_classifier(features: nn.Sequential, classifier: nn.Sequential) -> nn.Sequential:
    """``features`` -> flatten -> ``classifier``, with those names when printed."""
    return nn.Sequential(
        OrderedDict(features=features, flatten=nn.Flatten(), classifier=classifier)
    )
