"""``zoo sweep``: parse and print; the work is in zoo.sweep.

Its options are ``zoo train``'s (from :class:`zoo.train.config.TrainConfig`'s fields, each a value
every run shares) and the sweep's own, declared below once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from zoo import options
from zoo.errors import ArgumentError, ZooError
from zoo.train import config as train_config

PANEL = "Sweep options"


def sweep_flag(*names: str, help: str, kind: Any = str | None) -> Any:
    return options.flag(*names, help=help, kind=kind, rich_help_panel=PANEL)


@options.with_options(train_config.cli_parameters())
def sweep(
    model: Annotated[
        str | None,
        typer.Argument(help="A registered model (or set 'model' in --config).", show_default=False),
    ] = None,
    *,
    grid: sweep_flag(
        "--grid",
        help="KEY=V1,V2,... : values to sweep (repeatable; a grid is their product). KEY is a "
        "training option (lr, batch_size, optimizer, ...) or model.NAME, opt.NAME, dataset.NAME "
        "for a model, optimizer or dataset argument. With --search, also KEY=LOW..HIGH or "
        "KEY=LOW..HIGH:log (a range).",
        kind=list[str] | None,
    ) = None,
    search: sweep_flag(
        "--search", help="grid (every combination), or Optuna's random or tpe sampler."
    ) = None,
    trials: sweep_flag(
        "--trials", help="Runs to sample with --search random|tpe (default: 20).", kind=int | None
    ) = None,
    max_runs: sweep_flag(
        "--max-runs", help="Refuse a sweep of more runs than this (default: 100).", kind=int | None
    ) = None,
    jobs: sweep_flag(
        "--jobs",
        "-j",
        help="Runs at a time, in parallel processes that divide the CPU cores (default: 1). "
        "The processes are fresh: they see entries installed through entry points.",
        kind=int | None,
    ) = None,
    storage: sweep_flag(
        "--storage",
        help="Optuna storage URL for the study, shared by every worker that names it "
        "(default: study.db in the sweep directory).",
    ) = None,
    study: sweep_flag(
        "--study", help="Optuna study name in the storage (default: MODEL-DATASET)."
    ) = None,
    pruner: sweep_flag(
        "--pruner",
        help="median: Optuna's MedianPruner stops runs whose epoch metric lags; none (default: "
        "median).",
    ) = None,
    startup_trials: sweep_flag(
        "--startup-trials",
        help="Trials that finish before the pruner stops any (default: 5).",
        kind=int | None,
    ) = None,
    warmup_epochs: sweep_flag(
        "--warmup-epochs",
        help="Epochs of each trial the pruner never stops (default: 0).",
        kind=int | None,
    ) = None,
    config: options.flag(
        "--config",
        help="A TOML file of training options and a [sweep] table of values to sweep.",
        kind=Path | None,
    ) = None,
    resume: options.flag(
        "--resume",
        help="Finish a sweep directory: unfinished runs continue from their checkpoint.",
        kind=Path | None,
    ) = None,
    **values: Any,
) -> None:
    """Train a model over a grid of hyper-parameters, or search them with Optuna, and rank the runs.

    Every combination is an ordinary run directory inside `OUT/sweep-<model>-<dataset>-<time>/`
    (eval, export and bench work on each). Any `zoo train` option is a value all runs share;
    --config FILE.toml may hold them and a `[sweep]` table of lists (`lr = [0.01, 0.001]`,
    `opt.momentum = [0, 0.9]`) or ranges (`lr = {low = 1e-4, high = 0.1, log = true}`).

    Runs are ranked by the validation metric of the weights each keeps, on items held out of
    the train split: a sweep holds out 10 % (--val-split 0.1) unless told otherwise;
    --val-split 0 ranks by the test split, with a warning. The ranked table is printed and
    written as results.csv/.json, with plots/sweep.png. Runs write TensorBoard events when
    the tensorboard package is installed (`tensorboard --logdir` the sweep directory; the
    HParams tab compares them). Ctrl-C stops after the epoch; --resume finishes the sweep
    without training a finished run again.

    Examples:

    - `zoo sweep mnist-mlp3 -d mnist-5k --grid lr=0.01,0.001 --grid batch_size=100,1000`
    - `zoo sweep mnist-mlp -d mnist-5k --optimizer sgd --grid opt.momentum=0,0.9 --jobs 2`
    - `zoo sweep fashion-cnn -d mnist-5k --search tpe --trials 30 --grid lr=1e-4..0.1:log`
    - `zoo sweep --resume runs/sweep-mnist-mlp3-mnist-5k-20250101-120000`
    """
    from zoo.console import console
    from zoo.sweep import drive
    from zoo.sweep.results import show

    settings = {
        "search": search,
        "trials": trials,
        "max_runs": max_runs,
        "jobs": jobs,
        "storage": storage,
        "study": study,
        "pruner": pruner,
        "startup_trials": startup_trials,
        "warmup_epochs": warmup_epochs,
    }
    if resume is not None:
        given = [k for k, v in (values | settings).items() if v is not None and k != "jobs"]
        if model or config or grid or given:
            raise ArgumentError(
                "--resume finishes the sweep as it was planned: give it alone (or with --jobs)"
            )
        report = drive.resume(resume, jobs, console)
    else:
        report = drive.start(model, values, grid or [], config, settings, console)
    title = f"{report.sweep.name}: {len(report.ranked)} runs, best first"
    show(report.sweep.plan, report.ranked, title, console)
    for path in report.files:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
    if report.failure:
        raise ZooError(report.failure)
    if report.interrupted:
        console.print(
            f"[yellow]stopped[/yellow]; finish it with:\n  zoo sweep --resume {report.sweep.path}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130)
