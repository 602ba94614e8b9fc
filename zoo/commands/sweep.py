"""``zoo sweep``: parse and print; the work is in zoo.sweep.

Its options are ``zoo train``'s (from :class:`zoo.train.config.TrainConfig`'s fields, each a value
every run shares) and the sweep's own, declared below once.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from zoo import options
from zoo.errors import ArgumentError, ZooError
from zoo.train import config as train_config

SWEEP_OPTIONS = {
    "grid": options.flag(
        "--grid",
        help="KEY=V1,V2,... : a value list to sweep (repeatable; a grid is their product). KEY is "
        "a training option (lr, batch_size, optimizer, ...) or model.NAME, opt.NAME, "
        "dataset.NAME for a model, optimizer or dataset argument. With --search, also "
        "KEY=LOW..HIGH or KEY=LOW..HIGH:log (a range).",
        kind=list[str] | None,
    ),
    "search": options.flag(
        "--search", help="grid (every combination), or Optuna's random or tpe sampler."
    ),
    "trials": options.flag(
        "--trials", help="Runs to sample with --search random|tpe (default: 20).", kind=int | None
    ),
    "max_runs": options.flag(
        "--max-runs", help="Refuse a sweep of more runs than this (default: 100).", kind=int | None
    ),
    "jobs": options.flag(
        "--jobs",
        "-j",
        help="Runs at a time, in parallel processes that divide the CPU cores (default: 1). "
        "The processes are fresh: they see entries installed through entry points.",
        kind=int | None,
    ),
    "storage": options.flag(
        "--storage",
        help="Optuna storage URL for the study, shared by every worker that names it "
        "(default: study.db in the sweep directory).",
    ),
    "study": options.flag(
        "--study", help="Optuna study name in the storage (default: MODEL-DATASET)."
    ),
    "pruner": options.flag(
        "--pruner",
        help="median: Optuna's MedianPruner stops runs whose epoch metric lags; none (default: "
        "median).",
    ),
    "startup_trials": options.flag(
        "--startup-trials",
        help="Trials that finish before the pruner stops any (default: 5).",
        kind=int | None,
    ),
    "warmup_epochs": options.flag(
        "--warmup-epochs",
        help="Epochs of each trial the pruner never stops (default: 0).",
        kind=int | None,
    ),
}


def sweep(**values: Any) -> None:
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
    model, config_file = values.pop("model"), values.pop("config")
    resume, grid = values.pop("resume"), values.pop("grid") or []
    settings = {key: values.pop(key) for key in SWEEP_OPTIONS if key != "grid"}
    from zoo.console import console
    from zoo.sweep import drive

    if resume is not None:
        given = [k for k, v in values.items() if v is not None] + [
            k for k, v in settings.items() if v is not None and k != "jobs"
        ]
        if model or config_file or grid or given:
            raise ArgumentError(
                "--resume finishes the sweep as it was planned: give it alone (or with --jobs)"
            )
        report = drive.resume(resume, settings["jobs"], console)
    else:
        report = drive.start(model, values, grid, config_file, settings, console)
    from zoo.sweep.results import rich_table

    plan = report.sweep.plan
    title = f"{report.sweep.name}: {len(report.ranked)} runs, best first"
    console.print(rich_table(plan, report.ranked, title))
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


def keyword(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
    )


sweep.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter(
            "model",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=None,
            annotation=Annotated[
                str | None,
                typer.Argument(
                    help="A registered model (or set 'model' in --config).", show_default=False
                ),
            ],
        ),
        *[keyword(name, annotation) for name, annotation in SWEEP_OPTIONS.items()],
        *train_config.cli_parameters(),
        keyword(
            "config",
            options.flag(
                "--config",
                help="A TOML file of training options and a [sweep] table of values to sweep.",
                kind=Path | None,
            ),
        ),
        keyword(
            "resume",
            options.flag(
                "--resume",
                help="Finish a sweep directory: unfinished runs continue from their checkpoint.",
                kind=Path | None,
            ),
        ),
    ]
)
sweep.__annotations__ = {}
