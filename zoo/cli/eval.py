"""``zoo eval``: a checkpoint, a run or a model's trained weights on a dataset split (the work
is :mod:`zoo.train.evaluation`'s)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from zoo import flags
from zoo.cli.params import Json, opt
from zoo.errors import ArgumentError


def eval_(
    run: Annotated[
        str | None,
        typer.Argument(
            metavar="[RUN_DIR|CHECKPOINT|MODEL|hf://OWNER/REPO]",
            help="A run directory (its kept checkpoint), a .safetensors checkpoint, a model "
            "(its --weights, default: its default weights), or a release 'zoo publish' put on "
            "the Hub (default: the newest run in --runs).",
            show_default=False,
        ),
    ] = None,
    weights: opt(flags.WEIGHTS) = None,
    dataset: opt(flags.DATASET) = None,
    dataset_arg: opt(flags.DATASET_ARG) = None,
    data_dir: opt(flags.DATA_DIR) = None,
    split: Annotated[str, typer.Option(help="train, val or test.")] = "test",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Batch size.")] = 256,
    device: opt(flags.DEVICE) = None,
    out: Annotated[
        str | None,
        typer.Option(help="Where the results go (default: `RUN_DIR/eval/<dataset>-<split>`)."),
    ] = None,
    runs_folder: opt(flags.RUNS) = None,
    as_json: Json = False,
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
    run_eval(
        run,
        weights,
        dataset,
        dataset_arg,
        data_dir,
        split,
        batch_size,
        device,
        out,
        runs_folder,
        as_json,
    )


def run_eval(
    run: str | None,
    weights: str | None,
    dataset: str | None,
    dataset_arg: list[str] | None,
    data_dir: str | None,
    split: str,
    batch_size: int,
    device: str | None,
    out: str | None,
    runs_folder: str | None,
    as_json: bool,
) -> None:
    """Find the weights, evaluate them, print the table and the headline."""
    from zoo.cli.output import print_json
    from zoo.cli.runs import newest
    from zoo.cli.train_display import print_rows
    from zoo.published import is_hub_spec
    from zoo.published import locate as locate_published
    from zoo.train.evaluation import evaluate_checkpoint
    from zoo.weights import DEFAULT_WEIGHTS, locate, names_model, results_folder

    if is_hub_spec(run):
        if weights is not None:
            raise ArgumentError(f"{run} publishes one set of weights: leave out --weights")
        located = locate_published(str(run))
        spec, out = str(located.path), out or results_folder(located, dataset, split)
    elif weights is not None or (run is not None and names_model(run)):
        if run is not None and not names_model(run):
            raise ArgumentError("--weights goes with a model name, not a run or checkpoint")
        located = locate(run, weights or DEFAULT_WEIGHTS)
        spec, out = str(located.path), out or results_folder(located, dataset, split)
    else:
        spec = run or str(newest(runs_folder, announce=not as_json))
    result = evaluate_checkpoint(
        spec,
        dataset=dataset,
        dataset_args=flags.parse_assignments(dataset_arg, "--dataset-arg"),
        data_dir=data_dir,
        split=split,
        batch_size=batch_size,
        device=device or "auto",
        out=out,
    )
    if as_json:
        print_json(result.summary)
        return
    console = Console()
    print_rows(result.rows, console, result.title)
    console.print(result.headline, highlight=False)
    console.print(f"results in {result.folder}", highlight=False, soft_wrap=True)
