"""The inputs an export is verified on and a bench measures: real samples of a dataset split,
stratified by class and fixed by a seed, else seeded random inputs, and why.

Stratified means every class equally (as far as its items allow), drawn at random with the seed
and interleaved class by class, so that any prefix of the sample is balanced too (the first 16
verify the files, all of them measure top-1). Never a prefix of a class-sorted list: a test split
stored class by class would give one class's accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from zoo.artifacts.card import Preprocessing
from zoo.artifacts.manifest import DatasetRef
from zoo.errors import ZooError
from zoo.factory import create_dataset
from zoo.sources import Source, SourceRequest

STRATIFIED = "stratified by class"
RANDOM_ITEMS = "seeded random items"  # a dataset without a targets list to stratify by
RANDOM_INPUTS = "seeded random inputs"


@dataclass(frozen=True)
class Samples:
    """Inputs as a deployment gets them (``raw``: uint8 N×C×H×W images or float32 feature rows)
    and as the model takes them (``inputs``: normalised float32), with labels when they are real,
    and where they came from."""

    raw: np.ndarray
    inputs: np.ndarray
    origin: str  # "64 real test samples of digits, stratified by class (seed 0)"
    dataset: DatasetRef | None  # None: random inputs
    sampling: str
    seed: int
    labels: np.ndarray | None = None  # class indices (or regression targets) of real samples
    index: np.ndarray | None = None  # each real sample's item number in its split

    @property
    def real(self) -> bool:
        return self.dataset is not None

    @property
    def labelled(self) -> bool:
        """Real, with class labels: top-1 can be measured on them."""
        return self.real and self.labels is not None and self.labels.ndim == 1

    def __len__(self) -> int:
        return len(self.raw)

    def per_class(self, classes: tuple[str, ...]) -> dict[str, int]:
        """How many of the samples each class has (none for unlabelled or regression ones)."""
        if not self.labelled or self.labels is None:
            return {}
        counts = np.bincount(self.labels.astype(np.int64), minlength=len(classes))
        names = [*classes, *map(str, range(len(classes), len(counts)))]
        return {name: int(count) for name, count in zip(names, counts, strict=True)}

    def take(self, count: int) -> Samples:
        """The first ``count`` (balanced, for a stratified sample)."""
        if count >= len(self):
            return self
        return self.subset(np.arange(count), f"the first {count} of {self.origin}")

    def subset(self, index: np.ndarray, origin: str) -> Samples:
        return replace(
            self,
            raw=self.raw[index],
            inputs=self.inputs[index],
            labels=None if self.labels is None else self.labels[index],
            index=None if self.index is None else self.index[index],
            origin=origin,
        )

    def fit(self, batch: int | None) -> Samples:
        """For a fixed batch size, a whole number of batches (repeating samples if there are too
        few); for a dynamic one, at least two samples."""
        count = len(self)
        wanted = max(count, 2) if batch is None else max(batch, count // batch * batch)
        if wanted == count:
            return self
        return self.subset(np.resize(np.arange(count), wanted), self.origin)


def stratified(labels: np.ndarray, count: int, seed: int) -> np.ndarray:
    """Indices of ``count`` items, every class equally where its items allow, drawn with the seed
    and interleaved class by class. Asked for all of them or more, every item: the same order
    for any such count (``zoo verify`` draws again as many as the export measured on)."""
    generator = np.random.default_rng(seed)
    classes, sizes = np.unique(labels, return_counts=True)
    quota = -(-count // max(1, len(classes)))
    if count >= len(labels):  # every item, in the same order whatever the count asked for
        quota = int(sizes.max(initial=0))
    picked = [generator.permutation(np.flatnonzero(labels == c))[:quota] for c in classes]
    order = [group[i] for i in range(quota) for group in picked if i < len(group)]
    return np.asarray(order[:count], dtype=np.int64)


def dataset_labels(data: Any) -> np.ndarray | None:
    """Every item's label without reading the items, when the dataset keeps them."""
    targets = getattr(data, "targets", None)
    if targets is None and hasattr(data, "as_tensors"):
        targets = data.as_tensors()[1]
    if targets is None:
        return None
    labels = np.asarray(targets.tolist() if hasattr(targets, "tolist") else targets)
    return labels if labels.ndim == 1 and labels.dtype.kind in "iu" else None


def real_samples(
    dataset: DatasetRef,
    data_dir: str | None,
    preprocessing: Preprocessing,
    count: int,
    seed: int,
) -> Samples:
    """``count`` items of the dataset's split, stratified by class when it keeps labels."""
    data = create_dataset(
        dataset.name, root=data_dir, train=dataset.split == "train", **dict(dataset.args)
    )
    if not len(data):
        raise ZooError(f"the {dataset.split} split of {dataset.name} is empty")
    labels = dataset_labels(data)
    if labels is not None:
        index, sampling = stratified(labels, count, seed), STRATIFIED
    else:
        generator = np.random.default_rng(seed)
        index, sampling = generator.permutation(len(data))[:count], RANDOM_ITEMS
    if hasattr(data, "as_tensors"):
        inputs, targets = (np.asarray(t) for t in data.as_tensors())
        raw, found = inputs[index], targets[index]
    else:
        items = [data[int(i)] for i in index]
        raw = np.stack([as_array(item[0], preprocessing) for item in items])
        found = np.asarray([np.asarray(item[1]) for item in items])
    shape = preprocessing.input_shape
    if tuple(raw.shape[1:]) != shape:
        raise ZooError(f"samples have shape {tuple(raw.shape[1:])}, the model takes {shape}")
    every = "all " if len(index) == len(data) else ""
    origin = (
        f"{every}{len(index):,} real {dataset.split} samples of {dataset.name}, {sampling} "
        f"(seed {seed})"
    )
    normalised = preprocessing.normalise(raw)
    return Samples(raw, normalised, origin, dataset, sampling, seed, found, np.asarray(index))


def random_samples(preprocessing: Preprocessing, count: int, seed: int, reason: str) -> Samples:
    """Random raw inputs: uint8 pixels for images (what an image could hold, unlike N(0, 1)
    tensors, on which trained models answer near-ties), else rows that normalise to N(0, 1)."""
    generator = np.random.default_rng(seed)
    shape = (count, *preprocessing.input_shape)
    if preprocessing.image:
        raw = generator.integers(0, 256, shape, dtype=np.uint8)
        kind = "uniform random images"
    else:
        normalised = generator.standard_normal(shape).astype(np.float32)
        multiplier, offset = (np.asarray(v, np.float32) for v in preprocessing.affine())
        raw = (normalised - offset) / multiplier  # the rows that normalise to ``normalised``
        kind = "random inputs"
    origin = f"{count} {kind}, seed {seed} ({reason})"
    return Samples(raw, preprocessing.normalise(raw), origin, None, RANDOM_INPUTS, seed)


def load_samples(
    preprocessing: Preprocessing,
    dataset: DatasetRef | None,
    data_dir: str | None,
    count: int,
    seed: int = 0,
    named: bool = False,
) -> Samples:
    """Real samples of ``dataset`` when its data is here, else random inputs saying why; a
    ``data_dir`` the user ``named`` must hold the data (else one line saying why not)."""
    if dataset is None:
        return random_samples(preprocessing, count, seed, "no dataset")
    try:
        return real_samples(dataset, data_dir, preprocessing, count, seed)
    except ZooError as exc:
        if named:
            raise ZooError(f"--data-dir {data_dir}: {exc}") from None
        reason = f"{dataset.name} is not available here; {missing_data_hint(dataset)}"
        return random_samples(preprocessing, count, seed, reason)


def evaluation_samples(source: Source, request: SourceRequest, count: int) -> Samples:
    """``count`` test samples of the dataset named, else the one ``source`` was verified or
    trained on, from --data-dir or the source's own data folder; a --data-dir the user named
    must hold them."""
    data_dir = request.data_dir or source.data_dir
    named = request.data_dir is not None
    dataset = request.dataset_for(source)
    return load_samples(source.preprocessing, dataset, data_dir, count, request.seed, named)


def calibration_samples(source: Source, request: SourceRequest, count: int) -> Samples:
    """``count`` inputs of the same dataset's training split, which static int8 quantisation
    calibrates on (random inputs, saying why, when they are not here)."""
    data_dir = request.data_dir or source.data_dir
    dataset = request.dataset_for(source, split="train")
    return load_samples(source.preprocessing, dataset, data_dir, count, request.seed)


def missing_data_hint(dataset: DatasetRef) -> str:
    """What to pass so that a dataset is found: exactly the options that name it."""
    return f"pass --data-dir DIR where {dataset.name}'s files are"


def as_array(item: Any, preprocessing: Preprocessing) -> np.ndarray:
    """A dataset item (PIL image or tensor) as numpy, images converted as `zoo predict` does."""
    if hasattr(item, "getbands"):
        return preprocessing.image_to_array(item)
    return np.asarray(item)
