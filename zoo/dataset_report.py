"""What ``zoo data`` shows of a dataset: split sizes, class balance, column statistics, and PNGs
of sample images and class counts. Heavy imports stay inside functions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.files import save_figure

GRID_ROWS, GRID_COLUMNS = 4, 8
BALANCED_RATIO = 1.5  # a max/min class-count ratio above this is reported as imbalanced
LABEL_CHARS = 14


@dataclass(frozen=True)
class Column:
    """A feature or target column of a regression table, summarised."""

    role: str  # "feature" or "target"
    name: str
    min: float
    mean: float
    std: float
    max: float


@dataclass(frozen=True)
class Split:
    """One split of a dataset: its items, and (classification) how many of each class."""

    name: str  # "train" or "test"
    size: int
    counts: tuple[int, ...] = ()  # per class, in the order of the report's classes


@dataclass(frozen=True)
class DatasetReport:
    """What ``zoo data`` found: both splits' sizes, and the class counts (classification) or the
    column statistics (regression), with the PNGs written."""

    name: str
    description: str
    task: str
    input_shape: tuple[int, ...] | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    train: Split
    test: Split
    columns: tuple[Column, ...] = ()  # regression
    classes: tuple[str, ...] = ()  # classification (each split then counts its items by class)
    imbalance: float | None = None  # largest over smallest train class (None: one is empty)
    files: tuple[Path, ...] = ()

    @property
    def regression(self) -> bool:
        return self.task == "regression"

    @property
    def splits(self) -> tuple[Split, Split]:
        return self.train, self.test

    def to_json(self) -> dict[str, Any]:
        """``zoo data --json``."""
        data: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "task": self.task,
            "input_shape": list(self.input_shape) if self.input_shape else None,
            "mean": list(self.mean) if self.mean else None,
            "std": list(self.std) if self.std else None,
            "sizes": {split.name: split.size for split in self.splits},
        }
        if self.regression:
            data["columns"] = [asdict(column) for column in self.columns]
        else:
            counts = {split.name: list(split.counts) for split in self.splits}
            data |= {"classes": list(self.classes), "counts": counts}
            data["imbalance"] = self.imbalance
        return data | {"files": [str(path) for path in self.files]}


def dataset_report(
    name: str, data_dir: Path | None, download: bool, args: dict[str, str], out: Path
) -> DatasetReport:
    """The report of both splits, its PNGs written into ``out``."""
    from zoo.factory import complete_info, create_dataset
    from zoo.registry import get_dataset_info

    info = get_dataset_info(name)
    splits = {
        split: create_dataset(name, data_dir, train=split == "train", download=download, **args)
        for split in ("train", "test")
    }
    info = complete_info(splits["train"], info)
    report = DatasetReport(
        name=name.rpartition(":")[2],
        description=info.description,
        task=info.task,
        input_shape=tuple(info.input_shape) if info.input_shape else None,
        mean=tuple(info.mean) if info.mean else None,
        std=tuple(info.std) if info.std else None,
        train=Split("train", len(splits["train"])),
        test=Split("test", len(splits["test"])),
    )
    if info.task == "regression":
        report = replace(report, columns=column_stats(splits["train"], info.targets))
    else:
        classes = tuple(info.classes or ())
        if not classes:
            raise ZooError(f"dataset '{name}' has no classes list")
        train, test = (
            replace(split, counts=class_counts(splits[split.name], len(classes)))
            for split in report.splits
        )
        report = replace(
            report, classes=classes, train=train, test=test, imbalance=imbalance(train.counts)
        )
    return replace(report, files=tuple(plot(report, splits, out)))


def labels_of(dataset: Any) -> list[int]:
    """Every label: from ``targets`` or ``as_tensors`` if there, else item by item."""
    targets = getattr(dataset, "targets", None)
    if targets is None and hasattr(dataset, "as_tensors"):
        targets = dataset.as_tensors()[1]
    if targets is None:
        targets = [dataset[index][1] for index in range(len(dataset))]
    return [int(t) for t in (targets.tolist() if hasattr(targets, "tolist") else targets)]


def class_counts(dataset: Any, num_classes: int) -> tuple[int, ...]:
    """How many items of each class."""
    counts = [0] * num_classes
    for label in labels_of(dataset):
        if not 0 <= label < num_classes:
            raise ZooError(f"label {label} is outside the {num_classes} classes")
        counts[label] += 1
    return tuple(counts)


def imbalance(counts: tuple[int, ...]) -> float | None:
    """Largest over smallest class count (None when a class is empty)."""
    return round(max(counts) / min(counts), 2) if min(counts) > 0 else None


def column_stats(dataset: Any, target_names: tuple[str, ...] | None) -> tuple[Column, ...]:
    """Min, mean, std and max of each feature and target of a regression table."""
    features, targets = table_of(dataset)
    feature_names = getattr(dataset, "feature_names", None) or [
        f"x{i}" for i in range(features.shape[1])
    ]
    target_names = target_names or getattr(dataset, "target_names", None)
    target_names = target_names or [f"y{i}" for i in range(targets.shape[1])]
    columns = [("feature", n, features[:, i]) for i, n in enumerate(feature_names)]
    columns += [("target", n, targets[:, i]) for i, n in enumerate(target_names)]
    return tuple(
        Column(
            role,
            column_name,
            float(values.min()),
            float(values.mean()),
            float(values.std()),
            float(values.max()),
        )
        for role, column_name, values in columns
    )


def table_of(dataset: Any) -> tuple[Any, Any]:
    """Features N×F and targets N×T as float numpy arrays."""
    import numpy as np

    if hasattr(dataset, "as_tensors"):
        features, targets = dataset.as_tensors()
    else:
        items = [dataset[index] for index in range(len(dataset))]
        features, targets = [x for x, _ in items], [y for _, y in items]
    features = np.asarray(features, dtype=np.float64).reshape(len(dataset), -1)
    return features, np.asarray(targets, dtype=np.float64).reshape(len(dataset), -1)


def plot(report: DatasetReport, splits: dict[str, Any], out: Path) -> list[Path]:
    """Write the report's PNGs into ``out``; the paths written."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZooError(f"cannot create {out}: {exc.strerror}") from None
    stem = out / report.name
    if report.regression:
        return [scatter_plot(report, splits, Path(f"{stem}-scatter.png"))]
    written = [count_plot(report, Path(f"{stem}-class-counts.png"))]
    samples = sample_grid(report, splits["train"], Path(f"{stem}-samples.png"))
    return ([samples] if samples else []) + written


def new_figure(width: float, height: float) -> Any:
    """A matplotlib figure drawn by the Agg backend (no pyplot, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def as_picture(sample: Any) -> Any:
    """A PIL image or C×H×W tensor as an H×W or H×W×3 array; None when it is not an image."""
    import numpy as np

    if hasattr(sample, "getbands"):
        return np.asarray(sample.convert("L" if sample.mode in ("1", "L", "I", "F") else "RGB"))
    array = np.asarray(sample, dtype=np.float64)
    if array.ndim == 2:
        return array
    if array.ndim != 3:
        return None
    array = array[0] if array.shape[0] != 3 else array.transpose(1, 2, 0)
    low, high = array.min(), array.max()
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def sample_grid(report: DatasetReport, dataset: Any, path: Path) -> Path | None:
    """A 4×8 grid of seeded random train images, each labelled with its class."""
    import numpy as np

    count = min(GRID_ROWS * GRID_COLUMNS, len(dataset))
    picked = sorted(np.random.default_rng(0).choice(len(dataset), count, replace=False).tolist())
    items = [dataset[index] for index in picked]
    pictures = [as_picture(image) for image, _ in items]
    if any(picture is None for picture in pictures):
        return None
    rows = -(-count // GRID_COLUMNS)
    figure = new_figure(GRID_COLUMNS * 1.3, rows * 1.55 + 0.35)
    for position, (picture, (_, label)) in enumerate(zip(pictures, items, strict=True), 1):
        axes = figure.add_subplot(rows, GRID_COLUMNS, position)
        top = 255 if picture.dtype == np.uint8 else 1
        axes.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=top)
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_xlabel(shorten(report.classes[label]), fontsize=8)
    figure.suptitle(f"{report.name}: {count} train samples")
    figure.tight_layout()
    save_figure(figure, path)
    return path


def shorten(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def count_plot(report: DatasetReport, path: Path) -> Path:
    """A bar chart of each class's train and test counts, side by side."""
    classes = report.classes
    positions = range(len(classes))
    figure = new_figure(max(6.0, 0.4 * len(classes) + 1.5), 4.5)
    axes = figure.add_subplot()
    for offset, split, colour in (
        (-0.2, report.train, "tab:blue"),
        (0.2, report.test, "tab:orange"),
    ):
        bars = [p + offset for p in positions]
        label = f"{split.name} ({split.size:,})"
        axes.bar(bars, split.counts, width=0.4, color=colour, label=label)
    axes.set_xticks(list(positions), [shorten(c) for c in classes])
    upright = len(classes) > 20
    for tick in axes.get_xticklabels():
        tick.set(rotation=90 if upright else 45, ha="center" if upright else "right", fontsize=8)
    axes.set_ylim(0, max(*report.train.counts, *report.test.counts, 1) * 1.2)
    axes.set_ylabel("items")
    axes.set_title(f"{report.name}: items per class")
    axes.legend(loc="upper center", ncols=2)
    figure.tight_layout()
    save_figure(figure, path)
    return path


def scatter_plot(report: DatasetReport, splits: dict[str, Any], path: Path) -> Path:
    """Each target against each feature, train and test."""
    features = [c.name for c in report.columns if c.role == "feature"]
    targets = [c.name for c in report.columns if c.role == "target"]
    figure = new_figure(3.2 * len(features), 2.8 * len(targets))
    tables = {split: table_of(dataset) for split, dataset in splits.items()}
    for row, target in enumerate(targets):
        for column, feature in enumerate(features):
            axes = figure.add_subplot(len(targets), len(features), row * len(features) + column + 1)
            for split, colour in (("train", "tab:blue"), ("test", "tab:orange")):
                x, y = tables[split]
                axes.scatter(x[:, column], y[:, row], s=4, alpha=0.5, color=colour, label=split)
            axes.set_xlabel(feature)
            axes.set_ylabel(target)
    figure.axes[0].legend(markerscale=3)
    figure.suptitle(f"{report.name}: targets against features")
    figure.tight_layout()
    save_figure(figure, path)
    return path
