"""What a run or an evaluation leaves behind and says: curves and confusion matrix as PNG, the
per-class (regression: per-target) table as JSON and CSV, and the plain-text lines every observer
of a run shows (the console, a sweep's run log)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch

from zoo.artifacts.run import ClassResult, DetailRow, EpochMetrics, TargetResult, metric_text
from zoo.files import save_figure, write_json, write_text
from zoo.train.events import EpochEnded, Event, Kept, RunEnded, RunStarted, StopRequested
from zoo.train.objective import BestEpoch, Evaluation

PLOTS = "plots"
ANNOTATE_UP_TO = 20  # classes; bigger confusion matrices are drawn without numbers
CONFUSION = Path(PLOTS) / "confusion_matrix.png"
SPLIT_LABELS = {"train": "train", "val": "validation (held out)", "test": "test split"}


def epoch_line(metrics: EpochMetrics, epochs: int) -> str:
    """``epoch  3/20  train loss 1.2345 accuracy 55.12 %  val loss … │ 1,150 img/s  41.2 s``
    (``test`` instead of ``val`` when the run validates on the test split)."""
    width = len(str(epochs))

    def pair(name: str, measured: Any) -> str:
        return f"{name} loss {measured.loss:.4f} {metric_text(metrics.metric, measured.value)}"

    return (
        f"epoch {metrics.epoch:>{width}}/{epochs}  {pair('train', metrics.train)}  "
        f"{pair(metrics.split, metrics.held)}  "
        f"│ {metrics.images_per_second:,.0f} img/s  {metrics.seconds:.1f} s"
    )


def start_lines(event: RunStarted) -> list[str]:
    """What a run says when it starts: what it trains, on what, how, and where it writes."""
    config = event.config
    resumed = event.resumed_after
    plural = "epoch" if config.epochs == 1 else "epochs"
    span = (
        f"resuming at epoch {resumed + 1} of {config.epochs} epochs"
        if resumed
        else f"training for {config.epochs} {plural}"
    )
    batch = f"batch {config.batch_size}"
    world = ""
    if event.world > 1:
        world = f" × {event.world} processes"
        batch += f" per process, {config.batch_size * event.world} in all"
    again = f" (torchrun restart {event.restart})" if event.restart else ""
    precision = " in bf16 autocast" if event.precision == "bf16" else ""
    return [
        *event.notes,
        f"{config.model} on {config.dataset} ({event.train_items:,} train items; validation: "
        f"{event.validation}) on {event.device}{world}{precision}; {config.optimizer} lr "
        f"{config.lr:g}, {batch}; {span}{again}",
        f"run directory: {event.run_dir}",
    ]


def kept_line(kept: Kept) -> str:
    """``kept the best epoch's weights (epoch 7): val accuracy 85.20 %``."""
    which = "best" if kept.held_out else "last"
    value = metric_text(kept.metrics.metric, kept.metrics.value)
    return f"kept the {which} epoch's weights (epoch {kept.epoch}): {kept.metrics.split} {value}"


def event_lines(event: Event) -> list[str]:
    """An event as plain text lines (progress steps have none: a display draws them)."""
    if isinstance(event, RunStarted):
        return start_lines(event)
    if isinstance(event, EpochEnded):
        best = "  best" if event.kept and event.metrics.split == "val" else ""
        return [epoch_line(event.metrics, event.epochs) + best]
    if isinstance(event, StopRequested):
        return ["stopping after this epoch (its checkpoint is saved); Ctrl-C again to stop now"]
    if isinstance(event, RunEnded) and event.kept is not None:
        augmented = event.kept.augmented
        if augmented is None:
            return [kept_line(event.kept)]
        return [
            kept_line(event.kept),
            f"{augmented.headline} ({augmented.seconds:.1f} s; results in {augmented.folder})",
        ]
    return []


class LogObserver:
    """A run's events as plain text appended to a file (a sweep's ``train.log``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, event: Event) -> None:
        lines = event_lines(event)
        if isinstance(event, RunEnded) and event.kept is not None:
            lines = [table_text(event.kept.rows, event.kept.title), *lines]
        if lines:
            with open(self.path, "a") as log:
                log.write("".join(line + "\n" for line in lines))


def table_text(rows: list[DetailRow], title: str) -> str:
    """The per-class or per-target table as aligned text."""
    if not rows:
        return title
    columns = list(rows[0].to_json())
    cells = [[format_cell(value) for value in row.to_json().values()] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = [title, "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def format_cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


# -- files -------------------------------------------------------------------------------------


def per_class_rows(confusion: torch.Tensor, names: list[str]) -> list[ClassResult]:
    """Accuracy of each true class from a [true, predicted] confusion matrix."""
    rows = []
    for index, name in enumerate(names):
        total = int(confusion[index].sum())
        correct = int(confusion[index, index])
        rows.append(ClassResult(name, correct, total, correct / total if total else None))
    return rows


def per_target_rows(mse: torch.Tensor, mae: torch.Tensor, names: list[str]) -> list[TargetResult]:
    """MSE and MAE of each regression target."""
    return [TargetResult(name, float(mse[i]), float(mae[i])) for i, name in enumerate(names)]


def save_table(rows: list[DetailRow], folder: Path, stem: str = "per_class") -> None:
    """``stem.json`` and ``stem.csv``."""
    table = [row.to_json() for row in rows]
    write_json(folder / f"{stem}.json", table)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(table[0]) if table else ["class"])
    writer.writeheader()
    writer.writerows(table)
    write_text(folder / f"{stem}.csv", text.getvalue())


def plot_curves(
    history: list[EpochMetrics], folder: Path, *, title: str, kept: int, best: bool
) -> list[Path]:
    """``loss.png`` and ``accuracy.png`` (regression: ``mae.png``): train and validation (or
    test) curves, titled, whole epochs on the x axis, the epoch whose weights the run keeps
    marked."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in ("loss", history[0].metric):
        figure = curve_figure(history, name, title=title, kept=kept, best=best)
        path = folder / f"{name}.png"
        save_figure(figure, path)
        paths.append(path)
    return paths


def curve_figure(
    history: list[EpochMetrics], name: str, *, title: str, kept: int, best: bool
) -> Any:
    """One curve plot (``name``: loss, or the run's metric): train and validation (or test)."""
    from matplotlib.figure import Figure

    epochs = [row.epoch for row in history]
    figure = Figure(figsize=(6, 4), dpi=100)
    axes = figure.add_subplot()
    scale = 100 if name == "accuracy" else 1
    for part in ("train", history[0].split):
        values = []
        for row in history:
            measured = row.train if part == "train" else row.held
            values.append(scale * (measured.loss if name == "loss" else measured.value))
        axes.plot(epochs, values, marker="o", label=SPLIT_LABELS[part])
    axes.axvline(kept, color="grey", linestyle="--", label=f"kept: epoch {kept}")
    epoch_axis(axes, epochs)
    axes.set_ylabel("accuracy (%)" if name == "accuracy" else name)
    axes.set_title(f"{title}\n{name}, {'best' if best else 'last'} epoch kept", fontsize=9)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    return figure


def epoch_axis(axes: Any, epochs: list[int]) -> None:
    """Whole epochs on the x axis, half an epoch of margin each side: a run of one epoch too
    (matplotlib's own limits around one point would tick 0.945, 0.96, ... 1.05)."""
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes.set_xlim(min(epochs, default=1) - 0.5, max(epochs, default=1) + 0.5)
    axes.set_xlabel("epoch")


def plot_confusion(confusion: torch.Tensor, names: list[str], path: Path, title: str) -> Path:
    """The confusion matrix, rows (true classes) coloured by share, counts written when small."""
    from matplotlib.figure import Figure

    count = len(names)
    size = min(16.0, max(5.0, 0.45 * count + 2))
    figure = Figure(figsize=(size, size), dpi=100)
    axes = figure.add_subplot()
    shares = confusion.double() / confusion.sum(1, keepdim=True).clamp_min(1)
    axes.imshow(shares.numpy(), cmap="Blues", vmin=0, vmax=1)
    if count <= ANNOTATE_UP_TO:
        axes.set_xticks(range(count), names, rotation=45, ha="right")
        axes.set_yticks(range(count), names)
        for true in range(count):
            for predicted in range(count):
                value = int(confusion[true, predicted])
                colour = "white" if shares[true, predicted] > 0.5 else "black"
                axes.text(predicted, true, str(value), ha="center", va="center", color=colour)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(figure, path)
    return path


def detail_rows(found: Evaluation, names: list[str]) -> list[DetailRow]:
    """The per-class rows (from the confusion matrix), or the per-target rows."""
    if found.confusion is not None:
        return per_class_rows(found.confusion, names)
    assert found.target_mse is not None and found.target_mae is not None
    return per_target_rows(found.target_mse, found.target_mae, names)


def write_details(found: Evaluation, names: list[str], folder: Path, title: str) -> list[DetailRow]:
    """The per-class table and confusion matrix plot, or the per-target table, saved; the rows."""
    rows = detail_rows(found, names)
    if found.confusion is not None:
        plot_confusion(found.confusion, names, folder / CONFUSION, title)
    save_table(rows, folder)
    return rows


def write_run_report(
    run_dir: Path, history: list[EpochMetrics], best: BestEpoch, names: list[str]
) -> Kept:
    """Curves of every epoch, and the kept epoch's per-class table and confusion matrix."""
    held_out, epoch = best.held_out, best.epoch
    plot_curves(history, run_dir / PLOTS, title=run_dir.name, kept=epoch, best=held_out)
    split = "held-out validation items" if held_out else "the test split"
    title = f"kept weights: epoch {epoch} ({'best' if held_out else 'last'}), on {split}"
    rows = write_details(best.evaluation, names, run_dir, title)
    metrics = next(row for row in history if row.epoch == epoch)
    return Kept(epoch, metrics, held_out, rows, title)
