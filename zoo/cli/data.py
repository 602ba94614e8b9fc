"""``zoo data``: what people do first with a new dataset (the work is in zoo.dataset_report)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from zoo import flags
from zoo.cli.params import Json, opt

if TYPE_CHECKING:
    from zoo.dataset_report import DatasetReport


def data(
    name: Annotated[str, typer.Argument(help="A registered dataset, or distribution:name.")],
    data_dir: opt(flags.DATA_DIR) = None,
    download: Annotated[
        bool, typer.Option("--download", help="Download missing files (online).")
    ] = False,
    out: Annotated[Path, typer.Option(help="Folder for the PNG plots.")] = Path("zoo-data"),
    dataset_arg: opt(flags.DATASET_ARG) = None,
    as_json: Json = False,
) -> None:
    """Look at a dataset: split sizes, class balance, a grid of samples.

    Its split sizes, class balance, input shape and normalisation, and PNGs of sample images and
    of the class counts (a scatter plot for regression tables).

    Example: `zoo data mnist-5k --out zoo-data`
    """
    from zoo.cli.output import console, print_json
    from zoo.dataset_report import dataset_report

    args = flags.parse_assignments(dataset_arg, "--dataset-arg")
    report = dataset_report(name, data_dir, download, args, out)
    if as_json:
        print_json(report.to_json())
    else:
        render(report, console)


def render(report: DatasetReport, console: Any) -> None:
    """Print the report for people."""
    from rich.table import Table

    console.print(f"[bold]{report.name}[/bold]: {report.description}", highlight=False)
    sizes = " · ".join(f"{split.name} {split.size:,}" for split in report.splits)
    shape = report.input_shape
    if report.regression:
        shown = f"{shape[0]} features" if shape else "unknown"
    else:
        shown = "×".join(map(str, shape)) if shape else "unknown"
    console.print(f"  splits: {sizes}", highlight=False)
    console.print(f"  input shape: {shown}", highlight=False)
    if report.mean and report.std:
        console.print(f"  normalisation: mean {fmt(report.mean)}, std {fmt(report.std)}")
    else:
        console.print("  normalisation: not declared")
    if report.regression:
        table = Table("Column", "Role", "Min", "Mean", "Std", "Max", box=None, header_style="bold")
        for c in report.columns:
            stats = (f"{value:.2f}" for value in (c.min, c.mean, c.std, c.max))
            table.add_row(c.name, c.role, *stats)
        console.print(table)
    else:
        render_counts(report, console)
    for path in report.files:
        console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)


def render_counts(report: DatasetReport, console: Any) -> None:
    """The per-class count table and a note on balance."""
    from rich.table import Table

    from zoo.dataset_report import BALANCED_RATIO

    classes, train_split, test_split = report.classes, report.train, report.test
    table = Table("Class", "Train", "Test", box=None, header_style="bold")
    for name, in_train, in_test in zip(classes, train_split.counts, test_split.counts, strict=True):
        table.add_row(name, str(in_train), str(in_test))
    table.add_row("[dim]total[/dim]", str(train_split.size), str(test_split.size))
    console.print(f"  classes: {len(classes)}")
    console.print(table)
    train = train_split.counts
    largest, smallest = train.index(max(train)), train.index(min(train))
    if report.imbalance is None:
        console.print(f"[yellow]class '{classes[smallest]}' has no train items[/yellow]")
    elif report.imbalance <= BALANCED_RATIO:
        console.print(f"balanced: largest/smallest train class ratio {report.imbalance:.2f}")
    else:
        console.print(
            f"[yellow]imbalanced[/yellow]: '{classes[largest]}' has {train[largest]} train items, "
            f"'{classes[smallest]}' {train[smallest]} (ratio {report.imbalance:.2f}); "
            "consider class weights or resampling",
            highlight=False,
        )


def fmt(values: tuple[float, ...]) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ")"
