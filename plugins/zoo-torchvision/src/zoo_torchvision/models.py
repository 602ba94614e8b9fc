"""Builders for torchvision architectures, adapted to the dataset's classes, channels and size."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from zoo import Recipe, model_info

IMAGENET_CLASSES = 1000
RECIPE = Recipe(
    optimizer="sgd",
    lr=0.05,
    batch_size=128,
    epochs=30,
    opt_args={"momentum": 0.9, "weight_decay": 5e-4},
)


def build(
    arch: str,
    num_classes: int,
    in_channels: int,
    input_shape: tuple[int, ...],
    weights: str | None,
    **kwargs: object,
) -> nn.Module:
    """torchvision's ``arch``, optionally from a local ImageNet weights file, then adapted."""
    if len(input_shape) != 3:
        raise ValueError(f"{arch} takes images (C, H, W), not inputs of shape {tuple(input_shape)}")
    model = getattr(torchvision.models, arch)(
        weights=None, num_classes=IMAGENET_CLASSES if weights else num_classes, **kwargs
    )
    if weights:
        model.load_state_dict(load_state_dict(Path(weights).expanduser()))
        replace_classifier(model, num_classes)
    if in_channels != 3:
        replace_first_conv(model, in_channels)
    return model


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Weights from a local file without unpickling code."""
    if not path.is_file():
        raise ValueError(f"weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def replace_classifier(model: nn.Module, num_classes: int) -> None:
    """Swap the last Linear layer for one with ``num_classes`` outputs."""
    parent, name, old = _last(model, nn.Linear)
    setattr(parent, name, nn.Linear(old.in_features, num_classes))


def replace_first_conv(model: nn.Module, in_channels: int) -> None:
    """Swap the first convolution for one that takes ``in_channels`` channels."""
    parent, name, old = _first(model, nn.Conv2d)
    setattr(
        parent,
        name,
        nn.Conv2d(
            in_channels,
            old.out_channels,
            old.kernel_size,
            old.stride,
            old.padding,
            bias=old.bias is not None,
        ),
    )


def _first(model: nn.Module, kind: type) -> tuple[nn.Module, str, nn.Module]:
    return next(_matches(model, kind))


def _last(model: nn.Module, kind: type) -> tuple[nn.Module, str, nn.Module]:
    return list(_matches(model, kind))[-1]


def _matches(model: nn.Module, kind: type):
    for path, module in model.named_modules():
        if isinstance(module, kind):
            parent_path, _, name = path.rpartition(".")
            yield model.get_submodule(parent_path), name, module


@model_info(
    description="ResNet-18 (He et al., 2015) from torchvision.",
    default_dataset="cifar10",
    recipe=RECIPE,
)
def resnet18(
    num_classes: int = 1000,
    in_channels: int = 3,
    input_shape: tuple[int, ...] = (3, 224, 224),
    weights: str | None = None,
) -> nn.Module:
    """ResNet-18 (He et al., 2015) from torchvision."""
    return build("resnet18", num_classes, in_channels, input_shape, weights)


@model_info(
    description="ResNet-50 (He et al., 2015) from torchvision.",
    default_dataset="cifar10",
    recipe=RECIPE,
)
def resnet50(
    num_classes: int = 1000,
    in_channels: int = 3,
    input_shape: tuple[int, ...] = (3, 224, 224),
    weights: str | None = None,
) -> nn.Module:
    """ResNet-50 (He et al., 2015) from torchvision."""
    return build("resnet50", num_classes, in_channels, input_shape, weights)


@model_info(
    description="MobileNetV3-Small (Howard et al., 2019) from torchvision.",
    default_dataset="cifar10",
    recipe=RECIPE,
)
def mobilenet_v3_small(
    num_classes: int = 1000,
    in_channels: int = 3,
    input_shape: tuple[int, ...] = (3, 224, 224),
    weights: str | None = None,
) -> nn.Module:
    """MobileNetV3-Small (Howard et al., 2019) from torchvision."""
    return build("mobilenet_v3_small", num_classes, in_channels, input_shape, weights)


@model_info(
    description="EfficientNet-B0 (Tan & Le, 2019) from torchvision.",
    default_dataset="cifar10",
    recipe=RECIPE,
)
def efficientnet_b0(
    num_classes: int = 1000,
    in_channels: int = 3,
    input_shape: tuple[int, ...] = (3, 224, 224),
    weights: str | None = None,
) -> nn.Module:
    """EfficientNet-B0 (Tan & Le, 2019) from torchvision."""
    return build("efficientnet_b0", num_classes, in_channels, input_shape, weights)


@model_info(
    description="ViT-B/16 (Dosovitskiy et al., 2020) from torchvision; image size must be a multiple of 16.",
    default_dataset="cifar10",
    recipe=Recipe(
        optimizer="adamw", lr=3e-4, batch_size=64, epochs=30, opt_args={"weight_decay": 0.05}
    ),
)
def vit_b_16(
    num_classes: int = 1000,
    in_channels: int = 3,
    input_shape: tuple[int, ...] = (3, 224, 224),
    weights: str | None = None,
) -> nn.Module:
    """ViT-B/16 (Dosovitskiy et al., 2020) from torchvision."""
    height, width = input_shape[-2:]
    if height != width or height % 16:
        raise ValueError(
            f"vit_b_16 needs square images whose side is a multiple of 16, not {height}x{width}"
        )
    if weights and height != 224:
        raise ValueError(
            "vit_b_16's ImageNet weights are for 224x224 images; resize the dataset or drop weights"
        )
    return build("vit_b_16", num_classes, in_channels, input_shape, weights, image_size=height)
