"""A third-party zoo plugin written only against the public contract (it never imports zoo)."""

import torch
from torch import nn


def tiny_net(num_classes: int = 10, input_shape: tuple = (3, 8, 8), width: int = 16) -> nn.Module:
    """A two-layer perceptron for small images."""
    features = 1
    for size in input_shape:
        features *= size
    return nn.Sequential(
        nn.Flatten(), nn.Linear(features, width), nn.ReLU(), nn.Linear(width, num_classes)
    )


tiny_net.zoo_info = {"description": "Tiny MLP from a plugin.", "default_dataset": "tiny-blobs"}


class TinyBlobs(torch.utils.data.Dataset):
    """Sixty-four 3x8x8 images in two classes."""

    classes = ["dark", "light"]  # noqa: RUF012 (torchvision convention: a plain list)

    def __init__(self, root, train=True, transform=None, download=False):
        generator = torch.Generator().manual_seed(0 if train else 1)
        self.labels = torch.randint(0, 2, (64,), generator=generator)
        self.images = (
            torch.rand(64, 3, 8, 8, generator=generator) * 0.5 + self.labels.view(-1, 1, 1, 1) * 0.5
        )
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        image = self.images[index]
        return (self.transform(image) if self.transform else image), int(self.labels[index])


def plain_sgd(params, lr=0.1, momentum: float = 0.0):
    """Plain stochastic gradient descent."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum)
