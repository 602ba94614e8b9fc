"""torchvision's dataset classes with zoo's additions; imported only when a dataset is built
(importing torchvision takes seconds), the metadata lives in :mod:`zoo.datasets.vision`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torchvision
from PIL import Image


class CIFAR10(torchvision.datasets.CIFAR10):
    """torchvision's CIFAR-10 with :meth:`as_tensors`."""

    def as_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images (uint8 N×3×32×32) and labels (int64 N), without the transform."""
        images = torch.from_numpy(self.data).permute(0, 3, 1, 2).contiguous()
        return images, torch.tensor(self.targets, dtype=torch.int64)


class MNIST(torchvision.datasets.MNIST):
    """torchvision's MNIST with :meth:`as_tensors`."""

    def as_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images (uint8 N×1×28×28) and labels (int64 N), without the transform."""
        return self.data.unsqueeze(1), self.targets.to(torch.int64)


class FashionMNIST(torchvision.datasets.FashionMNIST):
    """torchvision's Fashion-MNIST with :meth:`as_tensors`."""

    def as_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images (uint8 N×1×28×28) and labels (int64 N), without the transform."""
        return self.data.unsqueeze(1), self.targets.to(torch.int64)


class Flowers102(torchvision.datasets.Flowers102):
    """torchvision's Flowers-102 with ``train``/test splits, its images resized to ``size``."""

    def __init__(
        self,
        root: str | Path,
        train: bool = True,
        transform: Callable[[Any], Any] | None = None,
        download: bool = False,
        size: tuple[int, int] = (224, 224),
    ) -> None:
        self.size = size
        split = "train" if train else "test"
        super().__init__(root, split=split, transform=transform, download=download)

    @property
    def targets(self) -> list[int]:
        return list(self._labels)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        with Image.open(self._image_files[index]) as file:
            image = file.convert("RGB").resize(self.size, Image.Resampling.BILINEAR)
        if self.transform is not None:
            image = self.transform(image)
        return image, self._labels[index]
