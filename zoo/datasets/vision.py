"""torchvision's CIFAR-10, MNIST, Fashion-MNIST and Flowers-102, with zoo's metadata, an in-memory
``as_tensors`` fast path and a one-line message saying where the files go when they are missing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision
from PIL import Image

from zoo.errors import ZooError
from zoo.meta import dataset_info

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FLOWERS_SIZE = (224, 224)
MNIST_FILES = (
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
    "t10k-labels-idx1-ubyte"
)


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


@dataclass(frozen=True)
class Layout:
    """Where torchvision expects a dataset's files, for the missing-files message."""

    name: str
    folder: str  # relative to root
    contents: str
    source: str

    def where(self, root: str | Path) -> str:
        folder = Path(root).expanduser() / self.folder
        return f"put {self.contents} in {folder}/ (from {self.source})"


def last_line(exc: BaseException) -> str:
    """The exception's type and last line (torchvision's download errors end with the cause)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1]}" if lines else type(exc).__name__


def load(
    cls: type, layout: Layout, root: str | Path, download: bool, **kwargs: Any
) -> torchvision.datasets.VisionDataset:
    """Build ``cls``; a missing dataset or a failed download becomes a :class:`ZooError`."""
    try:
        return cls(root, download=download, **kwargs)
    except (OSError, RuntimeError) as exc:
        if download:
            raise ZooError(
                f"downloading {layout.name} failed ({last_line(exc)}); {layout.where(root)}"
            ) from exc
        raise ZooError(
            f"{layout.name} is missing or incomplete in {root}: {layout.where(root)}, or run "
            f"'zoo data {layout.name} --data-dir {root} --download' to fetch them when online"
            + image_folder_hint(root)
        ) from exc


def image_folder_hint(root: str | Path) -> str:
    """A folder of class folders of images is another dataset: say which (``-d imagefolder``)."""
    from zoo.datasets.folder import holds_class_folders

    if not holds_class_folders(Path(root).expanduser()):
        return ""
    return f"; {root} holds class folders of images: read them with -d imagefolder"


CIFAR10_LAYOUT = Layout(
    "cifar10",
    CIFAR10.base_folder,
    "data_batch_1..5, test_batch and batches.meta",
    f"{CIFAR10.filename}, {CIFAR10.url}",
)
MNIST_LAYOUT = Layout(
    "mnist", "MNIST/raw", MNIST_FILES, f"their .gz files at {MNIST.mirrors[0]}, unpacked"
)
FASHION_LAYOUT = Layout(
    "fashion-mnist",
    "FashionMNIST/raw",
    MNIST_FILES,
    f"their .gz files at {FashionMNIST.mirrors[0]}, unpacked",
)
FLOWERS_LAYOUT = Layout(
    "flowers102",
    "flowers-102",
    "jpg/ (image_00001.jpg ...), imagelabels.mat and setid.mat",
    f"102flowers.tgz and the .mat files at {Flowers102._download_url_prefix}",
)


@dataset_info(
    description="CIFAR-10: 60,000 32×32 colour images in 10 classes (50,000 train, 10,000 test).",
    input_shape=(3, 32, 32),
    classes=(
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ),
    mean=(0.4914, 0.4822, 0.4465),
    std=(0.2470, 0.2435, 0.2616),
)
def cifar10(
    root: str | Path,
    train: bool = True,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
) -> CIFAR10:
    """CIFAR-10 (torchvision), read from ``root/cifar-10-batches-py``."""
    return load(CIFAR10, CIFAR10_LAYOUT, root, download, train=train, transform=transform)


@dataset_info(
    description="MNIST: 70,000 28×28 handwritten digits (60,000 train, 10,000 test).",
    input_shape=(1, 28, 28),
    classes=tuple(MNIST.classes),
    mean=(0.1307,),
    std=(0.3081,),
)
def mnist(
    root: str | Path,
    train: bool = True,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
) -> MNIST:
    """MNIST (torchvision), read from ``root/MNIST/raw``."""
    return load(MNIST, MNIST_LAYOUT, root, download, train=train, transform=transform)


@dataset_info(
    description="Fashion-MNIST: 70,000 28×28 grayscale clothing images in 10 classes.",
    input_shape=(1, 28, 28),
    classes=tuple(FashionMNIST.classes),
    mean=(0.2860,),
    std=(0.3530,),
)
def fashion_mnist(
    root: str | Path,
    train: bool = True,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
) -> FashionMNIST:
    """Fashion-MNIST (torchvision), read from ``root/FashionMNIST/raw``."""
    return load(FashionMNIST, FASHION_LAYOUT, root, download, train=train, transform=transform)


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
