"""torchvision's CIFAR-10, MNIST and Fashion-MNIST, with zoo's metadata, an in-memory
``as_tensors`` fast path and a one-line message saying where the files go when they are missing.

The metadata here is plain data: torchvision (whose import takes seconds, ``torch._dynamo``
included) is imported only when a dataset is built (:mod:`zoo.datasets.torchvision_sets`), so
``zoo info`` and the registry read these entries without it. Flowers-102, whose 102 class names
only torchvision holds, is :mod:`zoo.datasets.flowers`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ZooError
from zoo.meta import dataset_info

if TYPE_CHECKING:
    from zoo.datasets.torchvision_sets import CIFAR10, MNIST, FashionMNIST

MNIST_CLASSES = tuple(
    f"{digit} - {name}"
    for digit, name in enumerate(
        ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
    )
)
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
    "Ankle boot",
)  # fmt: skip
MNIST_FILES = (
    "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
    "t10k-labels-idx1-ubyte"
)


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


def load(cls: type, layout: Layout, root: str | Path, download: bool, **kwargs: Any) -> Any:
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


# torchvision's folders and sources, checked against torchvision's by tests/test_datasets.py
CIFAR10_LAYOUT = Layout(
    "cifar10",
    "cifar-10-batches-py",
    "data_batch_1..5, test_batch and batches.meta",
    "cifar-10-python.tar.gz, https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
)
MNIST_LAYOUT = Layout(
    "mnist",
    "MNIST/raw",
    MNIST_FILES,
    "their .gz files at https://ossci-datasets.s3.amazonaws.com/mnist/, unpacked",
)
FASHION_LAYOUT = Layout(
    "fashion-mnist",
    "FashionMNIST/raw",
    MNIST_FILES,
    "their .gz files at http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/, unpacked",
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
    from zoo.datasets.torchvision_sets import CIFAR10

    return load(CIFAR10, CIFAR10_LAYOUT, root, download, train=train, transform=transform)


@dataset_info(
    description="MNIST: 70,000 28×28 handwritten digits (60,000 train, 10,000 test).",
    input_shape=(1, 28, 28),
    classes=MNIST_CLASSES,
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
    from zoo.datasets.torchvision_sets import MNIST

    return load(MNIST, MNIST_LAYOUT, root, download, train=train, transform=transform)


@dataset_info(
    description="Fashion-MNIST: 70,000 28×28 grayscale clothing images in 10 classes.",
    input_shape=(1, 28, 28),
    classes=FASHION_CLASSES,
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
    from zoo.datasets.torchvision_sets import FashionMNIST

    return load(FashionMNIST, FASHION_LAYOUT, root, download, train=train, transform=transform)
