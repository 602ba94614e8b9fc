"""Generated images of circles, squares and triangles, in torchvision's dataset convention."""

from typing import ClassVar

import torch


class Shapes(torch.utils.data.Dataset):
    """Generated 1x28x28 images of circles, squares and triangles (600 train, 150 test)."""

    classes: ClassVar[list[str]] = ["circle", "square", "triangle"]
    zoo_info: ClassVar[dict] = {"input_shape": (1, 28, 28), "mean": (0.2,), "std": (0.4,)}

    def __init__(
        self, root: str, train: bool = True, transform=None, download: bool = False, size: int = 0
    ):
        count = size or (600 if train else 150)
        generator = torch.Generator().manual_seed(0 if train else 1)
        self.labels = torch.arange(count) % len(self.classes)
        centres = torch.randint(9, 19, (count, 2), generator=generator).float()
        radii = torch.randint(4, 9, (count,), generator=generator).float()
        rows, cols = torch.meshgrid(torch.arange(28.0), torch.arange(28.0), indexing="ij")
        dy = rows - centres[:, 0, None, None]
        dx = cols - centres[:, 1, None, None]
        r = radii[:, None, None]
        circle = dx**2 + dy**2 <= r**2
        square = (dx.abs() <= r * 0.8) & (dy.abs() <= r * 0.8)
        triangle = (dy <= r * 0.7) & (dy >= -r) & (dx.abs() <= (dy + r) * 0.6)
        masks = torch.stack([circle, square, triangle], 1)[torch.arange(count), self.labels]
        noise = torch.rand(count, 28, 28, generator=generator) * 0.2
        self.images = ((masks.float() * 0.8 + noise).clamp(0, 1) * 255).to(torch.uint8).unsqueeze(1)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.images[index]
        return (self.transform(image) if self.transform else image), int(self.labels[index])
