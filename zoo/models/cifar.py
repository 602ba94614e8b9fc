"""CNNs written for CIFAR-10 (3×32×32); each adapts its first conv and its first linear layer to
other image shapes."""

from __future__ import annotations

from torch import nn

from zoo.meta import Recipe, model_info, weights_index
from zoo.models.parts import conv_classifier, flattened_size, image_shape

CIFAR10_SHAPE = (3, 32, 32)


@model_info(
    description="CIFAR-10 tutorial CNN: two 5×5 conv blocks with batch norm, then a three-layer "
    "head with dropout 0.2.",
    default_dataset="cifar10",
    recipe=Recipe(
        optimizer="adam",
        lr=1e-3,
        batch_size=25,
        epochs=20,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
    ),
    reference={"cifar10": "73.58 % test accuracy (tutorial)"},
    weights=weights_index(__package__, "cifar10-cnn"),
)
def cifar10_cnn(
    num_classes: int = 10,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> nn.Sequential:
    """Two 5×5 conv / batch-norm / ReLU / max-pool blocks (64, 32 channels) and a 64-32 MLP head."""
    shape = image_shape(input_shape, in_channels, CIFAR10_SHAPE)
    features = nn.Sequential(
        nn.Conv2d(shape[0], 64, kernel_size=5),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 32, kernel_size=5),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )
    classifier = nn.Sequential(
        nn.Linear(flattened_size(features, shape), 64),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(64, 32),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(32, num_classes),
    )
    return conv_classifier(features, classifier)


@model_info(
    description="Small CIFAR-10 CNN: three 3×3 conv / ReLU / max-pool stages (16, 32, 64 "
    "channels) and a 64-unit hidden layer.",
    default_dataset="cifar10",
    recipe=Recipe(optimizer="adam", lr=1e-3, batch_size=32, epochs=4),
    reference={"cifar10": "69.39 % test accuracy (tutorial)"},
    weights=weights_index(__package__, "cifar10-tinycnn"),
)
def cifar10_tinycnn(
    num_classes: int = 10,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> nn.Sequential:
    """Three 3×3 conv / ReLU / max-pool stages (16, 32, 64 channels) and a 64-unit hidden layer."""
    shape = image_shape(input_shape, in_channels, CIFAR10_SHAPE)
    features = nn.Sequential(
        nn.Conv2d(shape[0], 16, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )
    classifier = nn.Sequential(
        nn.Linear(flattened_size(features, shape), 64),
        nn.ReLU(),
        nn.Linear(64, num_classes),
    )
    return conv_classifier(features, classifier)


def _vgg_stage(in_channels: int, mid_channels: int, out_channels: int) -> list[nn.Module]:
    """Two 3×3 conv / ReLU layers (``in -> mid -> out`` channels) and a 2×2 max-pool."""
    return [
        nn.Conv2d(in_channels, mid_channels, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.Conv2d(mid_channels, out_channels, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
    ]


@model_info(
    description='VGG-style CIFAR-10 CNN from Jovian\'s "Deep Learning with PyTorch: Zero to GANs": '
    "three stages of two 3×3 convs and a max-pool (32-64, 128-128, 256-256), then a 1024-512 head.",
    default_dataset="cifar10",
    recipe=Recipe(optimizer="adam", lr=1e-3, batch_size=128, epochs=10),
    no_weights="its 5.9 million parameters make a 23 MB file, too large to ship inside zoo",
)
def cifar10_vgg(
    num_classes: int = 10,
    in_channels: int | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> nn.Sequential:
    """Three stages of two 3×3 conv / ReLU layers and a max-pool, then a 1024-512 MLP head."""
    shape = image_shape(input_shape, in_channels, CIFAR10_SHAPE)
    features = nn.Sequential(
        *_vgg_stage(shape[0], 32, 64),
        *_vgg_stage(64, 128, 128),
        *_vgg_stage(128, 256, 256),
    )
    classifier = nn.Sequential(
        nn.Linear(flattened_size(features, shape), 1024),
        nn.ReLU(),
        nn.Linear(1024, 512),
        nn.ReLU(),
        nn.Linear(512, num_classes),
    )
    return conv_classifier(features, classifier)
