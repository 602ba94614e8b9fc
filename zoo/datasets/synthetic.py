"""Generated data: learnable random images for smoke tests, and the crop-yields regression table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from zoo.datasets.memory import InMemoryImages
from zoo.errors import ArgumentError
from zoo.meta import dataset_info

FEATURE_NAMES = ("temperature", "rainfall", "humidity")
TARGET_NAMES = ("apples", "oranges")
# yield = TRUE_WEIGHT @ (temperature, rainfall, humidity) + TRUE_BIAS + noise: close to the least-
# squares fit of the five rows of PyTorch's "linear regression from scratch" tutorial.
TRUE_WEIGHT = ((-0.4, 0.85, 0.7), (-0.3, 0.8, 0.9))
TRUE_BIAS = (-1.5, -2.0)
FEATURE_RANGES = ((65.0, 105.0), (40.0, 140.0), (35.0, 75.0))  # the tutorial's, widened a little
NOISE_STD = 1.0
CROP_SIZES = {True: 1000, False: 200}
CROP_SEEDS = {True: 0, False: 1}


@dataset_info(
    description="Random learnable images (a class-dependent pattern plus noise) of any shape and "
    "class count, for smoke tests; classes and shape come from its arguments.",
)
def synthetic(
    root: str | Path,
    train: bool = True,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
    num_classes: int = 10,
    image_shape: tuple[int, ...] = (3, 32, 32),
    size: int = 512,
    seed: int = 0,
) -> InMemoryImages:
    """``size`` train images (test: ``size // 4``) of ``image_shape``; ``root`` is not used."""
    if num_classes < 1 or size < 1 or not image_shape or min(image_shape) < 1:
        raise ArgumentError(
            "synthetic needs num_classes >= 1, size >= 1 and positive image_shape sizes"
        )
    patterns = torch.empty(num_classes, *image_shape).uniform_(
        48, 208, generator=torch.Generator().manual_seed(seed)
    )
    generator = torch.Generator().manual_seed(2 * seed + (1 if train else 2))
    count = size if train else max(1, size // 4)
    labels = (torch.arange(count) % num_classes)[torch.randperm(count, generator=generator)]
    noise = torch.randn(count, *image_shape, generator=generator) * 40
    images = (patterns[labels] + noise).round().clamp(0, 255).to(torch.uint8)
    classes = [f"class {index}" for index in range(num_classes)]
    return InMemoryImages(images, labels, classes, transform)


class CropYields(torch.utils.data.Dataset):
    """Rows of (temperature, rainfall, humidity) -> (apples, oranges) yields, as float tensors."""

    def __init__(self, train: bool, transform: Callable[[Any], Any] | None = None) -> None:
        generator = torch.Generator().manual_seed(CROP_SEEDS[train])
        count = CROP_SIZES[train]
        low, high = torch.tensor(FEATURE_RANGES).T
        self.features = low + (high - low) * torch.rand(count, 3, generator=generator)
        noise = NOISE_STD * torch.randn(count, 2, generator=generator)
        weight, bias = torch.tensor(TRUE_WEIGHT), torch.tensor(TRUE_BIAS)
        self.targets = self.features @ weight.T + bias + noise
        self.transform = transform
        self.input_shape = (3,)
        self.classes: list[str] = []  # a regression table has no classes
        self.feature_names = list(FEATURE_NAMES)
        self.target_names = list(TARGET_NAMES)

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, index: int) -> tuple[Any, torch.Tensor]:
        features = self.features[index]
        if self.transform is not None:
            features = self.transform(features)
        return features, self.targets[index]

    def as_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All features (float32 N×3) and targets (float32 N×2), without the transform."""
        return self.features, self.targets


@dataset_info(
    description="Crop yields: temperature, rainfall, humidity -> apples, oranges; a linear "
    "relation plus noise (1,000 train rows, 200 test rows).",
    input_shape=(3,),
    classes=(),
    task="regression",
    targets=TARGET_NAMES,
)
def crop_yields(
    root: str | Path,
    train: bool = True,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
) -> CropYields:
    """The crop-yields regression table (generated, fixed seeds); ``root`` is not used."""
    return CropYields(train, transform)
