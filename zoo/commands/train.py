"""``zoo train``, ``zoo eval`` and ``zoo runs``: light imports here, the work in zoo.train."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from zoo.errors import ArgumentError, ZooError

DataDirOpt = Annotated[
    str | None,
    typer.Option(help="Where datasets live (default: $ZOO_DATA_DIR or ~/.cache/zoo/data)."),
]
DatasetArgOpt = Annotated[
    list[str] | None,
    typer.Option("--dataset-arg", help="Dataset argument name=value (repeatable)."),
]
DeviceOpt = Annotated[
    str | None, typer.Option(help="auto, cpu, cuda (or cuda:N) or mps (default: auto).")
]


def rank_console() -> Console:
    """The console; quiet on every process but rank 0 under torchrun."""
    return Console(quiet=int(os.environ.get("RANK", "0")) != 0)


def train(
    model: Annotated[
        str | None,
        typer.Argument(help="A registered model (or set 'model' in --config).", show_default=False),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", "-d", help="Dataset (default: the model's default dataset)."),
    ] = None,
    optimizer: Annotated[
        str | None, typer.Option("--optimizer", "-o", help="Optimizer (default: recipe's).")
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate (default: recipe's).")] = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", "-e", help="Epochs (default: recipe's).")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", "-b", help="Batch size per process (default: recipe's)."),
    ] = None,
    device: DeviceOpt = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: 0).")] = None,
    val_split: Annotated[
        str | None,
        typer.Option(
            help="Hold out this fraction (0.1) or count (5000) of the train split for validation; "
            "0 validates on the test split (default: recipe's)."
        ),
    ] = None,
    model_arg: Annotated[
        list[str] | None,
        typer.Option("--model-arg", "-m", help="Model hyper-parameter name=value (repeatable)."),
    ] = None,
    opt_arg: Annotated[
        list[str] | None,
        typer.Option("--opt-arg", help="Optimizer argument name=value (repeatable)."),
    ] = None,
    dataset_arg: DatasetArgOpt = None,
    data_dir: DataDirOpt = None,
    out: Annotated[
        str | None,
        typer.Option(help="Where runs go; each gets its own sub-directory (default: runs)."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="A TOML file holding any of these options (config.toml).")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(help="Continue a run directory from its last checkpoint, as configured."),
    ] = None,
    amp: Annotated[
        bool | None, typer.Option("--amp/--no-amp", help="bfloat16 autocast (default: off).")
    ] = None,
    compile_: Annotated[
        bool | None,
        typer.Option("--compile/--no-compile", help="torch.compile the model (default: off)."),
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="Learning-rate schedule: none or cosine (default: none).")
    ] = None,
    augment: Annotated[
        str | None,
        typer.Option(help="Per-batch augmentation: none, flip or crop-flip (default: none)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="DataLoader workers for datasets not held in memory (default: 2)."),
    ] = None,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the resolved configuration as TOML, exit.")
    ] = False,
) -> None:
    """Train a model on a dataset: recipe defaults, progress, checkpoints, plots, resume.

    Defaults come from the model's published recipe; --config FILE.toml and then flags override
    them. Each run gets a directory `OUT/<model>-<dataset>-<time>` with config.json/.toml,
    metrics.jsonl, checkpoints/{last,best}.safetensors, plots/*.png and per_class.json/.csv.
    Ctrl-C finishes the epoch, saves and stops (twice: stops now); --resume continues exactly.
    Under torchrun, trains with DistributedDataParallel, rank 0 writing the run directory.

    Examples:

    - `zoo train cifar10-cnn -d imagefolder --data-dir /tmp/cifar10 --epochs 20`
    - `zoo train mnist-mlp --opt-arg weight_decay=1e-4 --val-split 0.1`
    - `zoo train --resume runs/cifar10-cnn-imagefolder-20250101-120000`
    - `torchrun --nproc-per-node 2 -m zoo train mnist-mlp --device cpu`
    """
    from zoo.factory import parse_assignments
    from zoo.train import config as train_config

    flags = {
        "dataset": dataset,
        "optimizer": optimizer,
        "lr": lr,
        "epochs": epochs,
        "batch_size": batch_size,
        "device": device,
        "seed": seed,
        "val_split": train_config.parse_val_split(val_split) if val_split is not None else None,
        "model_args": parse_assignments(model_arg or [], "--model-arg"),
        "opt_args": parse_assignments(opt_arg or [], "--opt-arg"),
        "dataset_args": parse_assignments(dataset_arg or [], "--dataset-arg"),
        "data_dir": data_dir,
        "out": out,
        "amp": amp,
        "compile": compile_,
        "scheduler": scheduler,
        "augment": augment,
        "workers": workers,
    }
    if resume is not None:
        if model is not None or config is not None:
            raise ArgumentError("--resume takes the run's saved model and configuration alone")
        resolved = train_config.resume_config(resume, flags)
    else:
        resolved = train_config.resolve(model, flags, config)
    if print_config:
        sys.stdout.write(resolved.to_toml())
        return
    from zoo.train.loop import train as run_training

    console = rank_console()
    outcome = run_training(resolved, console, resume_dir=resume)
    console.print(f"run directory: {outcome.run_dir}", highlight=False, soft_wrap=True)
    if outcome.status == "diverged":
        raise ZooError(f"{outcome.message} (run directory: {outcome.run_dir})")
    if outcome.status == "interrupted":
        saved = f"after epoch {outcome.epoch}" if outcome.epoch else "before the first epoch ended"
        console.print(
            f"[yellow]stopped {saved}[/yellow]; resume with:\n"
            f"  zoo train --resume {outcome.run_dir}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130)


def eval_(
    run: Annotated[
        str,
        typer.Argument(
            metavar="RUN_DIR|CHECKPOINT",
            help="A run directory (its best checkpoint) or a .safetensors checkpoint.",
        ),
    ],
    dataset: Annotated[
        str | None, typer.Option("--dataset", "-d", help="Dataset (default: the run's).")
    ] = None,
    dataset_arg: DatasetArgOpt = None,
    data_dir: DataDirOpt = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Batch size.")] = 256,
    device: DeviceOpt = None,
    out: Annotated[
        str | None,
        typer.Option(help="Where the results go (default: `RUN_DIR/eval/<dataset>-<split>`)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Evaluate a checkpoint: overall and per-class accuracy, confusion matrix and plots.

    Regression checkpoints report MSE and MAE per target. --split val re-creates the run's
    held-out validation items (or uses the test split, which such runs validated on).

    Example: `zoo eval runs/cifar10-cnn-imagefolder-20250101-120000 --split test`
    """
    from zoo.factory import parse_assignments
    from zoo.train.evaluation import evaluate_checkpoint

    console = Console(quiet=as_json)
    summary = evaluate_checkpoint(
        run,
        console,
        dataset=dataset,
        dataset_args=parse_assignments(dataset_arg or [], "--dataset-arg"),
        data_dir=data_dir,
        split=split,
        batch_size=batch_size,
        device=device or "auto",
        out=out,
    )
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")


def runs(
    folder: Annotated[
        Path, typer.Argument(help="The folder runs went to (--out of zoo train).")
    ] = Path("runs"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """List training runs with their progress and best validation metric.

    Example: `zoo runs runs/ --json`
    """
    from zoo.train.runs import list_runs

    rows = list_runs(folder)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    console = Console()
    if not rows:
        console.print(f"no runs in {folder}")
        return
    table = Table(box=None, header_style="bold")
    for column in ("Run", "Model", "Dataset", "Epochs", "Best", "At epoch"):
        table.add_column(column, justify="right" if column in ("Epochs", "At epoch") else "left")
    for row in rows:
        best = "–"
        if row["best_value"] is not None and row["best_metric"] == "val_accuracy":
            best = f"val accuracy {100 * row['best_value']:.2f} %"
        elif row["best_value"] is not None:
            best = f"val mae {row['best_value']:.4f}"
        epochs = f"{row['epochs_done']}/{row['epochs']}"
        if not row["finished"]:
            epochs += " [yellow](unfinished)[/yellow]"
        table.add_row(
            row["run"], row["model"], row["dataset"], epochs, best, str(row["best_epoch"] or "–")
        )
    console.print(table)
