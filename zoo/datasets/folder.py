"""Your own images: a ``root/<class>/<image>`` tree, with ``train/`` and ``test/`` or split for you.

``as_tensors`` decodes every image once and caches the result next to the data in
``root/.zoo-cache/<split>-<hash>.safetensors``; the hash covers the file list, sizes and
modification times, so a changed folder is decoded again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from rich.console import Console
from rich.progress import track
from safetensors.torch import load_file, save_file

from zoo.artifacts.card import prepare_image
from zoo.datasets.memory import stratified_split
from zoo.errors import ArgumentError, ZooError, first_line
from zoo.files import atomic_write
from zoo.meta import dataset_info

# torchvision.datasets.folder.IMG_EXTENSIONS (tests check it), without importing torchvision
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
CACHE_FOLDER = ".zoo-cache"
CACHE_FORMAT = 2  # bumped when decoding changes (2: 16-bit images scaled, not clipped)
PROGRESS_FROM = 1000  # show a progress bar when decoding at least this many images
LAYOUT = "<class>/<image> folders, or train/<class>/<image> and test/<class>/<image>"


def image_files(folder: Path) -> list[Path]:
    """The images directly inside ``folder``, sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
    )


def class_folders(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` that name classes (hidden ones, like the cache, excluded)."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def holds_class_folders(root: Path) -> bool:
    """Whether ``root`` looks like an image-folder dataset: class folders of images, directly
    or under train/ (a cheap look at the first class folder, for hints)."""
    base = root / "train" if (root / "train").is_dir() else root
    if not base.is_dir():
        return False
    folders = class_folders(base)
    return bool(folders) and bool(image_files(folders[0]))


def scan(
    root: Path, train: bool, test_fraction: float, seed: int
) -> tuple[list[str], list[tuple[Path, int]], Path]:
    """Class names, the split's ``(path, label)`` samples, and the image that sets the channel
    count and size of both splits (the first of the train images, in name order)."""
    if root.is_file():
        raise ZooError(f"image folder {root} is a file: name the folder with {LAYOUT} in it")
    if not root.is_dir():
        raise ZooError(
            f"image folder {root} does not exist: pass --data-dir DIR (or set ZOO_DATA_DIR) "
            f"where {LAYOUT} are"
        )
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes = [p.name for p in class_folders(root / "train")]
        folders = class_folders(root / ("train" if train else "test"))
        unknown = [p.name for p in folders if p.name not in classes]
        if unknown:
            raise ZooError(
                f"{root}/test has classes missing from {root}/train: {', '.join(unknown)}"
            )
        samples = [(f, classes.index(d.name)) for d in folders for f in image_files(d)]
        first = [f for d in class_folders(root / "train") for f in image_files(d)][:1]
    else:
        if not 0 < test_fraction < 1:
            raise ArgumentError(f"test_fraction must be between 0 and 1, not {test_fraction}")
        folders = class_folders(root)
        classes = [p.name for p in folders]
        every = [(f, label) for label, d in enumerate(folders) for f in image_files(d)]
        train_index, test_index = stratified_split([s[1] for s in every], test_fraction, seed)
        samples = [every[i] for i in (train_index if train else test_index)]
        first = [path for path, _ in every[:1]]
    if not first:
        raise ZooError(f"no images found in {root}: expected {LAYOUT}")
    if not samples:
        split = "train" if train else "test"
        raise ZooError(f"the {split} split of {root} is empty: add images or change test_fraction")
    return classes, samples, first[0]


def parse_size(image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """``32`` -> (32, 32); ``(24, 32)`` stays; sizes must be positive."""
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
    if len(size) != 2 or min(size) < 1:
        raise ArgumentError(f"image_size must be H,W or one positive size, not {image_size}")
    return size


class ImageFolderDataset(torch.utils.data.Dataset):
    """Images from a folder tree; all of one size (the first image's, or ``image_size``)."""

    def __init__(
        self,
        root: str | Path,
        train: bool = True,
        transform: Callable[[Any], Any] | None = None,
        test_fraction: float = 0.2,
        image_size: int | tuple[int, int] | None = None,
        seed: int = 0,
    ) -> None:
        self.root, self.transform = str(Path(root).expanduser()), transform
        self.split = "train" if train else "test"
        self.classes, self.samples, reference = scan(Path(self.root), train, test_fraction, seed)
        self.reference = reference
        self.class_to_idx = {name: index for index, name in enumerate(self.classes)}
        self.targets = [label for _, label in self.samples]
        with Image.open(reference) as first:
            gray = len(first.getbands()) <= 2 and first.mode != "P"
            self.resize = parse_size(image_size)
            height, width = self.resize or (first.height, first.width)
        self.input_shape = (1 if gray else 3, height, width)

    def __len__(self) -> int:
        return len(self.samples)

    def load(self, path: Path) -> Image.Image:
        """One image in the dataset's mode and size, converted and resized exactly as ``zoo
        predict`` does (:func:`zoo.artifacts.card.prepare_image`); another size is an error unless resizing."""
        channels, height, width = self.input_shape
        try:
            with Image.open(path) as file:
                if self.resize is None and (file.height, file.width) != (height, width):
                    raise ZooError(
                        f"{path} is {file.height}x{file.width} but {self.reference} is "
                        f"{height}x{width}: pass --dataset-arg image_size=H,W to resize all images"
                    )
                return prepare_image(file, channels, (height, width))
        except (UnidentifiedImageError, OSError) as exc:
            raise ZooError(f"cannot read image {path}: {first_line(exc)}") from None

    def __getitem__(self, index: int) -> tuple[Any, int]:
        path, label = self.samples[index]
        image = self.load(path)
        if self.transform is not None:
            image = self.transform(image)
        return image, label

    def cache_path(self) -> Path:
        """``root/.zoo-cache/<split>-<hash>.safetensors`` for the current files and settings."""
        digest = hashlib.sha256()
        digest.update(json.dumps([CACHE_FORMAT, self.input_shape, self.resize]).encode())
        for path, label in self.samples:
            stat = path.stat()
            entry = [str(path.relative_to(self.root)), label, stat.st_size, stat.st_mtime_ns]
            digest.update(json.dumps(entry).encode())
        return (
            Path(self.root) / CACHE_FOLDER / f"{self.split}-{digest.hexdigest()[:16]}.safetensors"
        )

    def as_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images (uint8 N×C×H×W) and labels (int64 N), without the transform; decoded once
        and cached next to the data."""
        path = self.cache_path()
        if path.is_file():
            try:
                cached = load_file(path)
                if len(cached["labels"]) == len(self) and cached["labels"].tolist() == self.targets:
                    return cached["images"], cached["labels"]
            except Exception:  # a damaged cache file is rebuilt
                pass
        images = self.decode_all()
        labels = torch.tensor(self.targets, dtype=torch.int64)
        write_cache(path, {"images": images, "labels": labels})
        return images, labels

    def decode_all(self) -> torch.Tensor:
        """Every image, decoded in a few threads (PIL releases the GIL while decoding)."""
        channels, height, width = self.input_shape
        images = np.empty((len(self), height, width, channels), dtype=np.uint8)
        paths = [path for path, _ in self.samples]
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            decoded = pool.map(self.load, paths)
            progress = track(
                decoded,
                total=len(paths),
                description=f"decoding {len(paths):,} images",
                disable=len(paths) < PROGRESS_FROM,
                console=Console(stderr=True),
                transient=True,
            )
            try:
                for index, image in enumerate(progress):
                    images[index] = np.asarray(image).reshape(height, width, channels)
            except BaseException:  # a bad image or Ctrl-C: do not decode the rest first
                pool.shutdown(cancel_futures=True)
                raise
        return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def write_cache(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """Write atomically and drop the split's stale cache files; a read-only data folder is simply
    not cached."""
    split = path.name.split("-")[0]
    try:
        atomic_write(path, lambda temporary: save_file(tensors, temporary))
        for stale in path.parent.glob(f"{split}-*.safetensors"):
            if stale != path:
                stale.unlink()
    except OSError:
        return


@dataset_info(
    description="Your own images: root/<class>/<image>, with train/ and test/ sub-folders or a "
    "seeded stratified split made for you; classes are the sorted folder names.",
)
def imagefolder(
    root: str | Path,
    train: bool = True,
    transform: Callable[[Any], Any] | None = None,
    download: bool = False,
    test_fraction: float = 0.2,
    image_size: int | tuple[int, int] | None = None,
    seed: int = 0,
) -> ImageFolderDataset:
    """Images in ``root/<class>/`` (or ``root/train/<class>/`` and ``root/test/<class>/``).

    Without train/ and test/, ``test_fraction`` of each class (seeded by ``seed``) is the test
    split. Images must share a size unless ``image_size`` (H,W or one size) resizes them.
    ``download`` is accepted for the contract; there is nothing to download.
    """
    return ImageFolderDataset(root, train, transform, test_fraction, image_size, seed)
