"""What a run or an evaluation shows and leaves behind: the epoch line, curves and confusion
matrix as PNG, and the per-class (regression: per-target) table, printed and saved."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table

from zoo.files import save_figure, write_json, write_text
from zoo.train.data import Description

PLOTS = "plots"
ANNOTATE_UP_TO = 20  # classes; bigger confusion matrices are drawn without numbers


def epoch_line(metrics: dict[str, Any], epochs: int, best: bool) -> str:
    """``epoch  3/20  train loss 1.2345 acc 55.12 %  val loss … │ 1,150 img/s  41.2 s  best``
    (``test`` instead of ``val`` when the run validates on the test split)."""
    split = "val" if "val_loss" in metrics else "test"
    width = len(str(epochs))

    def pair(prefix: str) -> str:
        loss = f"{prefix} loss {metrics[f'{prefix}_loss']:.4f}"
        if f"{prefix}_accuracy" in metrics:
            return f"{loss} acc {100 * metrics[f'{prefix}_accuracy']:6.2f} %"
        return f"{loss} mae {metrics[f'{prefix}_mae']:.4f}"

    return (
        f"epoch {metrics['epoch']:>{width}}/{epochs}  {pair('train')}  {pair(split)}  "
        f"│ {metrics['images_per_second']:,.0f} img/s  {metrics['seconds']:.1f} s"
        + ("  [green]best[/green]" if best else "")
    )


def per_class_rows(confusion: torch.Tensor, names: list[str]) -> list[dict[str, Any]]:
    """Accuracy of each true class from a [true, predicted] confusion matrix."""
    rows = []
    for index, name in enumerate(names):
        total = int(confusion[index].sum())
        correct = int(confusion[index, index])
        accuracy = correct / total if total else None
        rows.append({"class": name, "correct": correct, "total": total, "accuracy": accuracy})
    return rows


def per_target_rows(mse: torch.Tensor, mae: torch.Tensor, names: list[str]) -> list[dict[str, Any]]:
    """MSE and MAE of each regression target."""
    return [
        {"target": name, "mse": float(mse[i]), "mae": float(mae[i])} for i, name in enumerate(names)
    ]


def save_table(rows: list[dict[str, Any]], folder: Path, stem: str = "per_class") -> None:
    """``stem.json`` and ``stem.csv``."""
    write_json(folder / f"{stem}.json", rows)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["class"])
    writer.writeheader()
    writer.writerows(rows)
    write_text(folder / f"{stem}.csv", text.getvalue())


def print_table(rows: list[dict[str, Any]], console: Console, title: str) -> None:
    table = Table(title=title, box=None, header_style="bold", title_justify="left")
    if rows and "target" in rows[0]:
        for column in ("Target", "MSE", "MAE"):
            table.add_column(column, justify="left" if column == "Target" else "right")
        for row in rows:
            table.add_row(row["target"], f"{row['mse']:.4f}", f"{row['mae']:.4f}")
    else:
        for column in ("Class", "Correct", "Total", "Accuracy"):
            table.add_column(column, justify="left" if column == "Class" else "right")
        for row in rows:
            accuracy = "–" if row["accuracy"] is None else f"{100 * row['accuracy']:.2f} %"
            table.add_row(row["class"], f"{row['correct']:,}", f"{row['total']:,}", accuracy)
    console.print(table)


def plot_curves(
    history: list[dict[str, Any]], folder: Path, *, title: str, kept: int, best: bool
) -> list[Path]:
    """``loss.png`` and ``accuracy.png`` (regression: ``mae.png``): train and validation (or
    test) curves, titled, with the epoch whose weights the run keeps marked."""
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    first = history[0]
    split = "val" if any(key.startswith("val_") for key in first) else "test"
    metric = "accuracy" if f"{split}_accuracy" in first else "mae"
    epochs = [row["epoch"] for row in history]
    labels = {"train": "train", "val": "validation (held out)", "test": "test split"}
    paths = []
    for name in ("loss", metric):
        figure = Figure(figsize=(6, 4), dpi=100)
        axes = figure.add_subplot()
        scale = 100 if name == "accuracy" else 1
        for part in ("train", split):
            values = [scale * row[f"{part}_{name}"] for row in history]
            axes.plot(epochs, values, marker="o", label=labels[part])
        axes.axvline(kept, color="grey", linestyle="--", label=f"kept: epoch {kept}")
        axes.set_xlabel("epoch")
        axes.set_ylabel("accuracy (%)" if name == "accuracy" else name)
        axes.set_title(f"{title}\n{name}, {'best' if best else 'last'} epoch kept", fontsize=9)
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        path = folder / f"{name}.png"
        save_figure(figure, path)
        paths.append(path)
    return paths


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


def write_details(
    details: dict[str, Any], names: list[str], folder: Path, console: Console, title: str
) -> list[dict[str, Any]]:
    """The per-class table (and confusion matrix plot), or the per-target table: printed, saved."""
    if details.get("confusion") is not None:
        rows = per_class_rows(details["confusion"], names)
        plot_confusion(details["confusion"], names, folder / PLOTS / "confusion_matrix.png", title)
    else:
        rows = per_target_rows(details["target_mse"], details["target_mae"], names)
    save_table(rows, folder)
    print_table(rows, console, title)
    return rows


def write_run_report(
    run_dir: Path,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    description: Description,
    console: Console,
) -> None:
    """Curves of every epoch, and the best epoch's per-class table and confusion matrix."""
    held_out = best["metric"].startswith("val_")
    plot_curves(history, run_dir / PLOTS, title=run_dir.name, kept=best["epoch"], best=held_out)
    split = "held-out validation items" if held_out else "the test split"
    kept = "best" if held_out else "last"
    title = f"kept weights: epoch {best['epoch']} ({kept}), on {split}"
    write_details(best, description.names, run_dir, console, title)
    accuracy = best["metric"].endswith("accuracy")
    shown = f"{100 * best['value']:.2f} %" if accuracy else f"{best['value']:.4g}"
    console.print(
        f"kept the {kept} epoch's weights (epoch {best['epoch']}): "
        f"{best['metric'].replace('_', ' ')} {shown}",
        highlight=False,
    )
