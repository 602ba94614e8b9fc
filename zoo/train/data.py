"""Batches for training and evaluation.

Datasets with ``as_tensors()`` are decoded once into one tensor and batched by indexing (a seeded
permutation per epoch, sharded by rank); others go through a DataLoader with workers that turn
each item into a uint8 (or float) tensor. Either way, normalisation and augmentation happen per
batch on the training device (:class:`BatchPipeline`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset

from zoo.artifacts.card import Preprocessing
from zoo.errors import ArgumentError, ZooError
from zoo.factory import complete_info, create_dataset
from zoo.meta import DatasetInfo
from zoo.registry import get_dataset_info, get_model_info
from zoo.train.eval_request import EVAL_BATCH

STATS_SAMPLES = 256  # items read to measure mean/std of a dataset without the fast path
ON_DEVICE_LIMIT = 2 << 30  # in-memory data up to this size moves to the accelerator whole
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # inputs, targets, the items' indices


@dataclass(frozen=True)
class Shard:
    """Which part of the data this process sees: rank ``rank`` of ``world``."""

    rank: int = 0
    world: int = 1


class TensorSplit:
    """A split held as one tensor of inputs and one of targets, batched by indexing."""

    def __init__(
        self,
        inputs: torch.Tensor,
        targets: torch.Tensor,
        batch_size: int,
        device: torch.device,
        shard: Shard,
        seed: int,
        drop_last: bool = False,
    ) -> None:
        self.pinned = device.type == "cuda" and inputs.nbytes > ON_DEVICE_LIMIT
        if device.type != "cpu" and not self.pinned:  # small enough: all of it on the device
            inputs, targets = inputs.to(device), targets.to(device)
        self.inputs, self.targets = inputs, targets
        self.batch_size, self.device, self.shard, self.seed = batch_size, device, shard, seed
        self.drop_last = drop_last

    @property
    def size(self) -> int:
        return len(self.inputs)

    def order(self, epoch: int | None) -> torch.Tensor:
        """This rank's indices: a seeded permutation per epoch (equal counts on every rank), or
        every ``world``-th item in order for evaluation (``epoch`` None)."""
        rank, world = self.shard.rank, self.shard.world
        if epoch is None:
            return torch.arange(rank, self.size, world)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        permutation = torch.randperm(self.size, generator=generator)
        mine = permutation[: self.size - self.size % world][rank::world]
        return mine[: len(mine) - len(mine) % self.batch_size] if self.drop_last else mine

    def steps(self, train: bool) -> int:
        """Batches this rank sees in a training epoch, or in an evaluation pass."""
        rank, world = self.shard.rank, self.shard.world
        items = self.size // world if train else len(range(rank, self.size, world))
        if train and self.drop_last:
            return items // self.batch_size
        return math.ceil(items / self.batch_size)

    def batches(self, epoch: int | None) -> Iterator[Batch]:
        """``(inputs, targets, indices)`` on the device, raw (uint8 images or float rows)."""
        order = self.order(epoch).to(self.inputs.device)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            inputs, targets = self.inputs[index], self.targets[index]
            if self.pinned:
                inputs = inputs.pin_memory().to(self.device, non_blocking=True)
                targets = targets.pin_memory().to(self.device, non_blocking=True)
            yield inputs, targets, index.to(self.device)


class AsTensor:
    """A dataset item's input as a tensor: PIL images to uint8 C×H×W exactly as ``zoo predict``
    prepares them (:meth:`zoo.artifacts.card.Preprocessing.image_to_array`), tensors and arrays as they are."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.preprocessing = Preprocessing(shape)

    def __call__(self, item: Any) -> torch.Tensor:
        if hasattr(item, "getbands"):  # PIL image
            return torch.from_numpy(self.preprocessing.image_to_array(item).copy())
        return torch.as_tensor(item)


class Converted(Dataset):
    """A dataset whose inputs pass through :class:`AsTensor` (picklable, for DataLoader workers)."""

    def __init__(self, dataset: Any, shape: tuple[int, ...]) -> None:
        self.dataset, self.convert = dataset, AsTensor(shape)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, Any, int]:
        item, target = self.dataset[index]
        return self.convert(item), target, index


def ignore_interrupt(_worker: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process, which stops cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LoaderSplit:
    """A split read item by item through a DataLoader with workers."""

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int,
        device: torch.device,
        shard: Shard,
        seed: int,
        workers: int,
        drop_last: bool = False,
    ) -> None:
        self.dataset, self.batch_size, self.device, self.shard = dataset, batch_size, device, shard
        self.sampler = DistributedSampler(
            dataset, num_replicas=shard.world, rank=shard.rank, shuffle=True, seed=seed
        )
        options = {
            "num_workers": workers,
            "pin_memory": device.type == "cuda",
            "worker_init_fn": ignore_interrupt if workers else None,
            "persistent_workers": workers > 0,
        }
        self.train_loader = DataLoader(
            dataset, batch_size, sampler=self.sampler, drop_last=drop_last, **options
        )
        ordered = Subset(dataset, range(shard.rank, len(dataset), shard.world))
        self.eval_loader = DataLoader(ordered, batch_size, shuffle=False, **options)

    @property
    def size(self) -> int:
        return len(self.dataset)

    def steps(self, train: bool) -> int:
        """Batches this rank sees in a training epoch, or in an evaluation pass."""
        return len(self.train_loader if train else self.eval_loader)

    def batches(self, epoch: int | None) -> Iterator[Batch]:
        """``(inputs, targets, indices)`` on the device; a new order each epoch."""
        if epoch is not None:
            self.sampler.set_epoch(epoch)  # without it, every epoch would see the same order
        for inputs, targets, index in self.train_loader if epoch is not None else self.eval_loader:
            yield (
                inputs.to(self.device, non_blocking=True),
                torch.as_tensor(targets).to(self.device, non_blocking=True),
                torch.as_tensor(index).to(self.device),
            )


Split = TensorSplit | LoaderSplit


@dataclass(frozen=True)
class Augmentation:
    """What training does to its images, batch by batch on the device (never at evaluation):
    random-crop translation by up to ``translate`` pixels (``padding``: zero or reflect), and
    horizontal flips, ``random`` or ``alternate`` (each image flipped on every other epoch, from
    a start seeded per image)."""

    flip: str = "none"
    translate: int = 0
    padding: str = "zero"

    @property
    def active(self) -> bool:
        return self.flip != "none" or self.translate > 0

    @classmethod
    def of(cls, config: Any) -> Augmentation:
        return cls(config.flip, config.translate, config.padding)


class BatchPipeline:
    """Per-batch work on the device: augmentation (images, training only), then the scaling and
    normalisation of :class:`zoo.artifacts.card.Preprocessing` (the same affine map ``zoo
    predict`` uses)."""

    def __init__(
        self,
        preprocessing: Preprocessing,
        device: torch.device,
        channels_last: bool = False,
        augmentation: Augmentation = Augmentation(),
        seed: int = 0,
    ) -> None:
        image = preprocessing.image
        shape = (1, -1, 1, 1) if image else (1, -1)
        multiplier, offset = preprocessing.affine()
        self.multiplier = torch.tensor(multiplier, dtype=torch.float32, device=device).view(shape)
        self.offset = torch.tensor(offset, dtype=torch.float32, device=device).view(shape)
        self.image, self.channels_last, self.augmentation = image, channels_last, augmentation
        self.seed, self.generator, self.epoch = seed, torch.Generator(), 0

    def start_epoch(self, epoch: int, rank: int) -> None:
        """Reseed augmentation, so an epoch's random choices do not depend on earlier epochs."""
        self.epoch = epoch
        self.generator.manual_seed((self.seed * 1_000_003 + epoch) * 64 + rank + 1)

    def __call__(
        self, inputs: torch.Tensor, indices: torch.Tensor | None = None, train: bool = False
    ) -> torch.Tensor:
        if train and self.augmentation.active:
            inputs = augment(
                inputs, indices, self.augmentation, self.generator, self.epoch, self.seed
            )
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        if self.image and inputs.dtype != torch.uint8:  # float images already in [0, 1]
            return (inputs.float() * 255 * self.multiplier).add_(self.offset)
        return (inputs.float() * self.multiplier).add_(self.offset)


def augment(
    images: torch.Tensor,
    indices: torch.Tensor | None,
    augmentation: Augmentation,
    generator: torch.Generator,
    epoch: int = 1,
    seed: int = 0,
) -> torch.Tensor:
    """Translated (random crops of the padded images), then flipped as ``augmentation`` says."""
    count, device = len(images), images.device
    if augmentation.translate:
        images = translated(images, augmentation.translate, augmentation.padding, generator)
    if augmentation.flip == "random":
        flip = (torch.rand(count, generator=generator) < 0.5).to(device)
    elif augmentation.flip == "alternate":
        if indices is None:
            raise ValueError("alternating flips need each image's index")
        flip = (flip_start(indices, seed) + epoch) % 2 == 1
    else:
        return images
    return torch.where(flip.view(-1, 1, 1, 1), images.flip(3), images)


def flip_start(indices: torch.Tensor, seed: int) -> torch.Tensor:
    """Each image's orientation in epoch 0, 0 or 1, from a hash of its index and the seed: the
    same whatever order, batch or process the image comes in."""
    mixed = (indices.long() * 2_654_435_761 + seed * 40_503 + 12_345) % 4_294_967_296
    return (mixed >> 15) % 2


def translated(
    images: torch.Tensor, pixels: int, padding: str, generator: torch.Generator
) -> torch.Tensor:
    """Each image shifted by up to ``pixels`` in each direction (drawn per image): what comes in
    at the border is zero, or the image reflected."""
    count, _, height, width = images.shape
    device = images.device
    shifts = torch.randint(-pixels, pixels + 1, (2, count), generator=generator).to(device)
    rows = shifts[0, :, None] + torch.arange(height, device=device)  # source row of each row
    cols = shifts[1, :, None] + torch.arange(width, device=device)
    batch = torch.arange(count, device=device)[:, None, None]
    if padding == "reflect":
        rows, cols = reflect(rows, height), reflect(cols, width)
        source = images
    else:  # zero: read from the zero-padded images
        source = F.pad(images, (pixels,) * 4)
        rows, cols = rows + pixels, cols + pixels
    return source[batch, :, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Indices outside ``0..size-1`` mirrored back in (without repeating the edge pixel)."""
    index = index.abs()
    return torch.where(index > size - 1, 2 * (size - 1) - index, index)


_opened: dict[str, Any] | None = None  # the datasets opened inside `reuse_datasets()`


@contextlib.contextmanager
def reuse_datasets() -> Iterator[None]:
    """Inside the block, opening the same dataset split again returns the instance already
    opened: a sweep's runs in one process read and decode their data once, not once per run.
    Training never changes a dataset instance, so sharing one is safe."""
    global _opened
    outer, _opened = _opened, {} if _opened is None else _opened
    try:
        yield
    finally:
        _opened = outer


def open_dataset(name: str, args: dict[str, Any], data_dir: str | None, train: bool) -> Any:
    """One split of a registered dataset, untransformed (reused inside :func:`reuse_datasets`)."""
    if _opened is None:
        return create_dataset(name, root=data_dir, train=train, **args)
    key = json.dumps([name, args, data_dir, train], sort_keys=True, default=repr)
    if key not in _opened:
        _opened[key] = create_dataset(name, root=data_dir, train=train, **args)
    return _opened[key]


def dataset_facts(name: str, dataset: Any) -> DatasetInfo:
    """Task, output names and input shape: declared, else read from the dataset instance (class
    names found nowhere are the label numbers)."""
    info: DatasetInfo = complete_info(dataset, get_dataset_info(name))
    if info.input_shape is None:
        raise ZooError(f"dataset '{name}' is empty: cannot tell its input shape")
    if info.task == "regression":
        names = info.targets or tuple(getattr(dataset, "target_names", None) or ())
        if not names:
            width = targets_of(dataset).reshape(len(dataset), -1).shape[1]
            names = tuple(f"target {index}" for index in range(width))
        return dataclasses.replace(info, targets=tuple(names))
    names = info.classes or ()
    if not names:
        count = int(targets_of(dataset).max()) + 1
        names = tuple(str(index) for index in range(count))
    return dataclasses.replace(info, classes=tuple(names))


def targets_of(dataset: Any) -> torch.Tensor:
    """All targets of a dataset, from the fast path or a ``targets`` attribute."""
    if hasattr(dataset, "as_tensors"):
        return dataset.as_tensors()[1]
    if getattr(dataset, "targets", None) is not None:
        return torch.as_tensor(dataset.targets)
    raise ZooError(
        "cannot tell the classes of the dataset: give it a 'classes' list (or zoo_info classes)"
    )


def held_out(size: int, val_split: float | int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded train and validation indices for holding out ``val_split`` of ``size`` items."""
    count = val_split if isinstance(val_split, int) else round(size * val_split)
    if not 0 < count < size:
        raise ArgumentError(f"--val-split {val_split} leaves no train or no validation items")
    order = torch.randperm(size, generator=torch.Generator().manual_seed(seed))
    return order[count:].sort().values, order[:count].sort().values


def make_split(
    dataset: Any,
    description: DatasetInfo,
    indices: torch.Tensor | None,
    batch_size: int,
    device: torch.device,
    shard: Shard,
    seed: int,
    workers: int,
    drop_last: bool = False,
) -> Split:
    """The fast in-memory split when the dataset has ``as_tensors``, else a DataLoader split;
    ``drop_last``: training epochs leave out the last, smaller batch."""
    if hasattr(dataset, "as_tensors"):
        inputs, targets = dataset.as_tensors()
        inputs, targets = torch.as_tensor(inputs), torch.as_tensor(targets)
        if tuple(inputs.shape[1:]) != tuple(description.input_shape):
            raise ZooError(
                f"the dataset's tensors have shape {tuple(inputs.shape[1:])}, "
                f"not its declared input shape {description.input_shape}"
            )
        if indices is not None:
            inputs, targets = inputs[indices], targets[indices]
        if description.task == "regression":
            targets = targets.float()
        return TensorSplit(inputs, targets, batch_size, device, shard, seed, drop_last)
    converted = Converted(dataset, tuple(description.input_shape))
    if indices is not None:
        converted = Subset(converted, indices.tolist())
    return LoaderSplit(converted, batch_size, device, shard, seed, workers, drop_last)


def sample_inputs(split: Split, picked: torch.Tensor) -> torch.Tensor:
    """Some of a split's raw inputs (uint8 images or rows), by index."""
    if isinstance(split, TensorSplit):
        return split.inputs[picked.to(split.inputs.device)]
    return torch.stack([split.dataset[int(i)][0] for i in picked])


def measure_stats(split: Split) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of a split's images, scaled to [0, 1]."""
    if isinstance(split, TensorSplit):
        chunks = (split.inputs[i : i + 4096] for i in range(0, split.size, 4096))
    else:
        picked = np.linspace(0, split.size - 1, min(STATS_SAMPLES, split.size)).round()
        chunks = iter([torch.stack([split.dataset[int(i)][0] for i in picked])])
    total = squares = torch.zeros((), dtype=torch.float64)
    count = 0
    for chunk in chunks:
        values = chunk.to(torch.float64).transpose(0, 1).reshape(chunk.shape[1], -1).T
        values = values / 255 if chunk.dtype == torch.uint8 else values
        total = total + values.sum(0)
        squares = squares + (values**2).sum(0)
        count += len(values)
    mean = total / count
    std = (squares / count - mean**2).clamp_min(0).sqrt().clamp_min(1e-6)
    return mean.tolist(), std.tolist()


VAL_PER_CLASS = 10  # held-out items per class below which picking the best epoch is noise


@dataclass
class TrainingData:
    """The train and validation splits and what goes with them."""

    description: DatasetInfo  # with the mean and std training normalises with
    train: Split
    val: Split
    val_source: str  # "test split" or "N items held out of train"


def load_training_data(
    config: Any, train_set: Any, description: DatasetInfo, device: torch.device, shard: Shard
) -> TrainingData:
    """Train and validation splits for a :class:`~zoo.train.config.TrainConfig`, with mean and
    std from the config (the recipe), the dataset's metadata, or (images) measured on the train
    split; table rows without declared statistics are not normalised."""
    if Augmentation.of(config).active and not description.image:
        raise ArgumentError("--flip and --translate need images (C,H,W), not table rows")
    build = dict(device=device, shard=shard, seed=config.seed, workers=config.workers)
    eval_batch, drop = max(EVAL_BATCH, config.batch_size), config.drop_last
    if config.val_split:
        size = len(train_set)
        train_index, val_index = held_out(size, config.val_split, config.seed)
        train = make_split(
            train_set, description, train_index, config.batch_size, **build, drop_last=drop
        )
        val = make_split(train_set, description, val_index, eval_batch, **build)
        val_source = f"{len(val_index):,} items held out of the train split"
        classes = len(description.classes or ()) if description.task != "regression" else 1
        if len(val_index) < VAL_PER_CLASS * max(1, classes):
            val_source += f" (too few: under {VAL_PER_CLASS} per class)"
    else:
        test_set = open_dataset(config.dataset, config.dataset_args, config.data_dir, train=False)
        train = make_split(train_set, description, None, config.batch_size, **build, drop_last=drop)
        val = make_split(test_set, description, None, eval_batch, **build)
        val_source = "the test split"
    if not train.steps(train=True):
        raise ArgumentError(
            f"--drop-last leaves no batch: {train.size:,} training items"
            f"{'' if shard.world == 1 else ' over ' + str(shard.world) + ' processes'}, "
            f"batch size {config.batch_size}"
        )
    if config.mean is not None and not recipe_stats_misfit(config, description):
        description = dataclasses.replace(
            description, mean=tuple(config.mean), std=tuple(config.std)
        )
    elif description.mean is None and description.image:  # table rows stay as they are
        mean, std = measure_stats(train)
        description = dataclasses.replace(description, mean=tuple(mean), std=tuple(std))
    check_stats(description)
    return TrainingData(description, train, val, val_source)


def recipe_stats_misfit(config: Any, description: DatasetInfo) -> bool:
    """Whether the configured mean/std are the model's recipe's and have a value per channel of
    another dataset (a CIFAR recipe's three means on MNIST): then the dataset's own statistics
    apply. Statistics set by hand that do not fit stay an error (:func:`check_stats`)."""
    recipe = get_model_info(config.model).recipe
    from_recipe = recipe.mean is not None and list(config.mean or ()) == list(recipe.mean)
    return from_recipe and len(recipe.mean) not in (1, description.input_shape[0])


def check_stats(description: DatasetInfo) -> None:
    """Mean and std need one value, or one per channel (images) or feature (rows)."""
    width = description.input_shape[0]
    for name, values in (("mean", description.mean), ("std", description.std)):
        if values is not None and len(values) not in (1, width):
            raise ArgumentError(
                f"{name} has {len(values)} values; the input has {width} "
                f"{'channels' if description.image else 'features'}"
            )
