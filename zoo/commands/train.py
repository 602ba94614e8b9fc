"""``zoo train``, ``zoo eval`` and ``zoo runs``: parse and print; the work is in zoo.train.

``zoo train``'s options are not written here: they come from the fields of
:class:`zoo.train.config.TrainConfig`, where each is declared once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from zoo import options
from zoo.console import print_json, show_table
from zoo.errors import ArgumentError, ZooError
from zoo.train import config as train_config


def rank_console() -> Console:
    """The console; quiet on every process but rank 0 under torchrun."""
    return Console(quiet=int(os.environ.get("RANK", "0")) != 0)


@options.with_options(train_config.cli_parameters())
def train(
    model: Annotated[
        str | None,
        typer.Argument(help="A registered model (or set 'model' in --config).", show_default=False),
    ] = None,
    *,
    config: options.flag(
        "--config",
        help="A TOML file holding any of these options (as config.toml).",
        kind=Path | None,
    ) = None,
    resume: options.flag(
        "--resume",
        help="Continue a run directory from its last checkpoint, as configured.",
        kind=Path | None,
    ) = None,
    print_config: Annotated[
        bool, typer.Option("--print-config", help="Print the resolved configuration as TOML, exit.")
    ] = False,
    **values: Any,
) -> None:
    """Train a model on a dataset: recipe defaults, progress, checkpoints, plots, resume.

    Defaults come from the model's published recipe; --config FILE.toml and then flags override
    them. Each run gets a directory `OUT/<model>-<dataset>-<time>` with config.json/.toml,
    metrics.jsonl, checkpoints/last.safetensors (and best.safetensors when validating on items held
    out of the train split), plots/*.png and per_class.json/.csv. Ctrl-C finishes the epoch, saves
    and stops (twice: stops now); --resume continues exactly. Under torchrun, trains with
    DistributedDataParallel, rank 0 writing the run directory.

    Examples:

    - `zoo train cifar10-cnn -d imagefolder --data-dir /tmp/cifar10 --epochs 20`
    - `zoo train mnist-mlp --opt-arg weight_decay=1e-4 --val-split 0.1`
    - `zoo train --resume runs/cifar10-cnn-imagefolder-20250101-120000`
    - `torchrun --nproc-per-node 2 -m zoo train mnist-mlp --device cpu`
    """
    if resume is not None:
        if model is not None or config is not None:
            raise ArgumentError("--resume takes the run's saved model and configuration alone")
        resolved = train_config.resume_config(resume, values)
    else:
        resolved = train_config.resolve(model, train_config.flags_layer(values), config)
    if print_config:
        typer.echo(resolved.to_toml(), nl=False)
        return
    from zoo.train.loop import train as run_training

    console = rank_console()
    outcome = run_training(resolved, console, resume_dir=resume)
    console.print(f"run directory: {outcome.run_dir}", highlight=False, soft_wrap=True)
    if outcome.status == "diverged":
        raise ZooError(f"{outcome.message} (run directory: {outcome.run_dir})")
    if outcome.status == "interrupted":
        saved = f"after epoch {outcome.epoch}" if outcome.epoch else "before the first epoch ended"
        launcher = "torchrun ... -m zoo" if os.environ.get("TORCHELASTIC_RUN_ID") else "zoo"
        console.print(
            f"[yellow]stopped {saved}[/yellow]; resume with:\n"
            f"  {launcher} train --resume {outcome.run_dir}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130)


def eval_(
    run: Annotated[
        str | None,
        typer.Argument(
            metavar="[RUN_DIR|CHECKPOINT|MODEL]",
            help="A run directory (its kept checkpoint), a .safetensors checkpoint, or a model "
            "(its --weights, default: its default weights) (default: the newest run in --runs).",
            show_default=False,
        ),
    ] = None,
    weights: options.Weights = None,
    dataset: options.Dataset = None,
    dataset_arg: options.DatasetArg = None,
    data_dir: options.DataDir = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Batch size.")] = 256,
    device: options.Device = None,
    out: Annotated[
        str | None,
        typer.Option(help="Where the results go (default: `RUN_DIR/eval/<dataset>-<split>`)."),
    ] = None,
    runs_folder: options.Runs = None,
    as_json: options.Json = False,
) -> None:
    """Evaluate a checkpoint: overall and per-class accuracy, confusion matrix and plots.

    Regression checkpoints report MSE and MAE per target. --split val re-creates the run's
    held-out validation items (or uses the test split, which such runs validated on). A model's
    trained weights are evaluated on the dataset they were trained on (its test split) unless
    --dataset says otherwise; results go to eval/MODEL-WEIGHTS.

    Examples:

    - `zoo eval runs/cifar10-cnn-imagefolder-20250101-120000 --split test`
    - `zoo eval mnist-mlp3 --weights default`
    """
    from zoo.train.evaluation import evaluate_checkpoint
    from zoo.train.runs import newest_run
    from zoo.weights import DEFAULT_WEIGHTS, locate, names_model, results_folder

    if weights is not None or (run is not None and names_model(run)):
        if run is not None and not names_model(run):
            raise ArgumentError("--weights goes with a model name, not a run or checkpoint")
        located = locate(run, weights or DEFAULT_WEIGHTS)
        spec, out = str(located.path), out or results_folder(located, dataset, split)
    else:
        spec = run or str(newest_run(Path(runs_folder or "runs"), announce=not as_json))
    summary = evaluate_checkpoint(
        spec,
        Console(quiet=as_json),
        dataset=dataset,
        dataset_args=options.parse_assignments(dataset_arg, "--dataset-arg"),
        data_dir=data_dir,
        split=split,
        batch_size=batch_size,
        device=device or "auto",
        out=out,
    )
    if as_json:
        print_json(summary)


def runs(
    folder: Annotated[
        Path, typer.Argument(help="The folder runs went to (--out of zoo train).")
    ] = Path("runs"),
    as_json: options.Json = False,
) -> None:
    """List training runs, oldest first, with their progress and the metric of the kept weights;
    a sweep's runs together, under their sweep.

    Example: `zoo runs runs/ --json`
    """
    from zoo.console import console
    from zoo.train.runs import list_runs

    rows = list_runs(folder)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(f"no runs in {folder}")
        return
    groups: dict[str | None, list[list[str]]] = {}
    for row in rows:
        epochs = f"{row['epochs_done']}/{row['epochs']}"
        if not row["finished"]:
            epochs += " (unfinished)"
        cells = [row["run"], row["model"], row["dataset"], epochs, row["kept"]]
        groups.setdefault(row["sweep"], []).append(cells)
    for sweep, cells in groups.items():
        title = f"sweep {sweep} ({len(cells)} runs)" if sweep else None
        columns = ["Run", "Model", "Dataset", "Epochs", "Kept weights"]
        show_table(columns, cells, right=("Epochs",), title=title)
