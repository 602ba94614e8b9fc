"""In-memory image datasets and the seeded stratified split the built-ins share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image


def stratified_split(
    labels: Sequence[int], test_fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Indices of a deterministic per-class split: ``round(n * test_fraction)`` of each class's
    ``n`` items go to test. Both index lists come back in a seeded shuffled order."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    train, test = [], []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        cut = round(len(members) * test_fraction)
        test.extend(members[:cut].tolist())
        train.extend(members[cut:].tolist())
    return rng.permutation(train).tolist(), rng.permutation(test).tolist()


def to_image(image: torch.Tensor) -> Any:
    """A uint8 C×H×W tensor as a PIL image when PIL can hold it (1 or 3 channels), else as a
    float tensor in [0, 1] (what ``ToTensor`` would have made of the image)."""
    if image.ndim == 3 and image.shape[0] == 1:
        return Image.fromarray(image[0].numpy())
    if image.ndim == 3 and image.shape[0] == 3:
        return Image.fromarray(image.permute(1, 2, 0).numpy())
    return image.float().div(255)


class InMemoryImages(torch.utils.data.Dataset):
    """Images held as one uint8 N×C×H×W tensor; items are ``(PIL image, int label)``."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        classes: Sequence[str],
        transform: Callable[[Any], Any] | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or len(images) != len(labels):
            raise ValueError("images must be uint8 and as many as the labels")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.classes = list(classes)
        self.transform = transform
        self.input_shape = tuple(images.shape[1:])

    @property
    def targets(self) -> list[int]:
        return self.labels.tolist()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = to_image(self.images[index])
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])

    def as_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images (uint8 N×C×H×W) and labels (int64 N), without the transform."""
        return self.images, self.labels
