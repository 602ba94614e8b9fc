"""``zoo sweep``: parse and print; the work is in zoo.sweep.

Its options are ``zoo train``'s (from :class:`zoo.artifacts.config.TrainConfig`'s fields, each a
value every run shares), the sweep's settings (:class:`zoo.sweep.plan.Settings`) and its request's
(:class:`zoo.sweep.plan.SweepRequest`: ``--grid``, ``--config``, ``--resume``), each declared
once where it belongs.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from zoo.artifacts.config import TrainConfig
from zoo.cli.params import parameters, with_options
from zoo.errors import ZooError
from zoo.flags import build, given
from zoo.sweep.plan import Settings, SweepRequest
from zoo.train.config import flags_layer


@with_options([*parameters(TrainConfig), *parameters(Settings), *parameters(SweepRequest)])
def sweep(
    model: Annotated[
        str | None,
        typer.Argument(
            metavar="MODEL",
            help="A registered model (or set 'model' in --config).",
            show_default=False,
        ),
    ] = None,
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
    request = build(
        SweepRequest,
        values,
        model=model,
        settings=given(Settings, values),
        options=flags_layer(values),
    )
    run_sweep(request)


def run_sweep(request: SweepRequest) -> None:
    """Plan (or resume) the sweep, show it run, print the ranked table."""
    from zoo.cli.output import console, say, show_table, stop_said
    from zoo.cli.sweep_display import SweepDisplay
    from zoo.sweep import drive
    from zoo.sweep.results import table
    from zoo.train import tensorboard

    if request.resume is not None:
        plan = drive.resume(request)
        console.print(f"resuming the sweep {plan.path}", highlight=False, soft_wrap=True)
    else:
        plan = drive.start(request)
        for line in drive.announcement(plan, tensorboard.available(), tensorboard.INSTALL):
            say(console, line, markup=False)
    display = SweepDisplay(plan, console)
    with display:
        report = drive.run(plan, display, resumed=request.resume is not None)
    if report.requeued:
        console.print(f"{report.requeued} unfinished trial(s) queued again", highlight=False)
    if report.nothing_to_do:
        console.print("every run of the sweep is finished", highlight=False)
    title = f"{report.sweep.name}: {len(report.ranked)} runs, best first"
    columns, rows, right = table(report.sweep.plan, report.ranked)
    show_table(columns, rows, right=right, title=title, out=console, keys=2)
    for path in report.files:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
    if report.failure:
        raise ZooError(report.failure)
    if report.interrupted:
        stop_said()
        console.print(
            f"[yellow]stopped[/yellow]; finish it with:\n  zoo sweep --resume {report.sweep.path}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130)
