"""torchvision's CIFAR-10, MNIST and Fashion-MNIST classes with ``as_tensors``; imported only
when one is built (importing torchvision takes seconds): the metadata is :mod:`zoo.datasets.vision`."""

from __future__ import annotations

import torch
import torchvision


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
