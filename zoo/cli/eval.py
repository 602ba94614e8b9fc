"""``zoo eval``: a checkpoint, a run or a model's trained weights on a dataset split (the work
is :mod:`zoo.train.evaluation`'s)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from zoo.cli.params import Json, parameters, with_options
from zoo.flags import build
from zoo.train.eval_request import EvalRequest


@with_options(parameters(EvalRequest))
def eval_(
    run: Annotated[
        str | None,
        typer.Argument(
            metavar="RUN_DIR|CHECKPOINT|MODEL|hf://OWNER/REPO",
            help="What to evaluate (default: the newest run in --runs).",
            show_default=False,
        ),
    ] = None,
    *,
    as_json: Json = False,
    **values: Any,
) -> None:
    """Evaluate a checkpoint: overall and per-class accuracy, confusion matrix and plots.

    Regression checkpoints report MSE and MAE per target. --split val re-creates the run's
    held-out validation items (or uses the test split, which such runs validated on). Weights
    are evaluated on the dataset they were trained on (its test split) with the test-time
    augmentation their card records (a run's --tta), however they are named, unless --dataset
    or --tta say otherwise (the title then says which TTA was used). A model's declared weights'
    results go to eval/MODEL-WEIGHTS.

    Examples:

    - `zoo eval runs/cifar10-cnn-imagefolder-20250101-120000 --split test`
    - `zoo eval mnist-mlp3 --weights default`
    - `zoo eval cifar10-fast --weights default --data-dir /tmp/cifar10 --tta none`
    """
    run_eval(build(EvalRequest, values, spec=run), as_json)


def run_eval(request: EvalRequest, as_json: bool) -> None:
    """Plan (the weights found, the results folder checked), evaluate, print the table and the
    headline, then save them."""
    from zoo.cli.output import interruptible, print_json, progress_bar, saving, say
    from zoo.cli.runs import announce_newest
    from zoo.cli.train_display import print_rows
    from zoo.train import evaluation

    job = evaluation.plan(request)
    if job.newest is not None and not as_json:
        announce_newest(job.newest)
    with (
        interruptible(f"the evaluation of {job.label} stopped", "no results were written"),
        progress_bar("evaluating") as progress,
    ):
        result = evaluation.run(
            job,
            lambda done, total: progress(f"evaluating: batch {done} of {total}", done / total),
        )  # shown first: a failed write never costs the measurement
    console = Console()
    if as_json:
        print_json(result.summary.to_json())
    else:
        print_rows(result.rows, console, result.title)
        say(console, result.headline, markup=False)
    saved = saving(result.folder, lambda: evaluation.save_results(result))
    if not as_json:
        console.print(f"results in {saved}", highlight=False, soft_wrap=True)
