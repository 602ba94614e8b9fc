"""torchvision's Oxford Flowers-102 with zoo's metadata: its own module because its 102 class names
come from torchvision, which this imports (the transfer-learning model that uses it does too)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torchvision
from PIL import Image

from zoo.datasets.vision import Layout, load
from zoo.meta import dataset_info

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FLOWERS_SIZE = (224, 224)


class Flowers102(torchvision.datasets.Flowers102):
    """torchvision's Flowers-102 with ``train``/test splits and images resized to 224×224."""

    def __init__(
        self,
        root: str | Path,
        train: bool = True,
        transform: Callable[[Any], Any] | None = None,
        download: bool = False,
    ) -> None:
        split = "train" if train else "test"
        super().__init__(root, split=split, transform=transform, download=download)

    @property
    def targets(self) -> list[int]:
        return list(self._labels)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        with Image.open(self._image_files[index]) as file:
            image = file.convert("RGB").resize(FLOWERS_SIZE, Image.Resampling.BILINEAR)
        if self.transform is not None:
            image = self.transform(image)
        return image, self._labels[index]


FLOWERS_LAYOUT = Layout(
    "flowers102",
    "flowers-102",
    "jpg/ (image_00001.jpg ...), imagelabels.mat and setid.mat",
    f"102flowers.tgz and the .mat files at {Flowers102._download_url_prefix}",
)


@dataset_info(
    description="Oxford Flowers-102: 102 flower classes, images resized to 224×224 "
    "(train split 1,020 images, test split 6,149).",
    input_shape=(3, *FLOWERS_SIZE),
    classes=tuple(torchvision.datasets.Flowers102.classes),
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
)
def flowers102(
    root: str | Path,
    train: bool = True,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
) -> Flowers102:
    """Oxford Flowers-102 (torchvision), read from ``root/flowers-102``; loaded image by image."""
    return load(Flowers102, FLOWERS_LAYOUT, root, download, train=train, transform=transform)
