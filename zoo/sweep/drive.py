"""Starting and resuming a sweep: plan, sweep directory, runs, results. ``zoo sweep`` calls
:func:`start` or :func:`resume` and prints what they return."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from zoo.sweep import results, state
from zoo.sweep.execute import Job, Monitor, execute
from zoo.sweep.plan import Plan, make_plan
from zoo.sweep.results import Result
from zoo.sweep.state import Sweep


@dataclass(frozen=True)
class SweepReport:
    """How a sweep ended: its runs ranked, the files written, and whether it stopped early."""

    sweep: Sweep
    ranked: list[Result]
    files: list[Path]
    interrupted: bool
    failure: str | None


def start(
    model: str | None,
    flags: dict[str, Any],
    grid: list[str],
    config_file: Path | None,
    settings: dict[str, Any],
    console: Console,
) -> SweepReport:
    """Check everything, make the sweep directory, train its runs."""
    from zoo.train import tensorboard

    plan = make_plan(model, flags, grid, config_file, settings, tensorboard.available())
    if plan.base.get("tensorboard"):
        tensorboard.require()
    if plan.settings.search != "grid":
        from zoo.sweep import search

        search.require()
        if plan.settings.storage:  # a shared storage must open before anything starts
            search.open_study(plan, plan.settings.storage)
    sweep = state.create(plan)
    announce(sweep, console, tensorboard.available(), tensorboard.INSTALL)
    return drive(sweep, console, resumed=False)


def resume(path: Path, jobs: int | None, console: Console) -> SweepReport:
    """Finish a sweep: unfinished runs continue from their last checkpoint, finished ones stay."""
    sweep = state.load(path)
    if jobs is not None:
        settings = dataclasses.replace(sweep.plan.settings, jobs=jobs).check()
        sweep = dataclasses.replace(sweep, plan=dataclasses.replace(sweep.plan, settings=settings))
    console.print(f"resuming the sweep {sweep.path}", highlight=False, soft_wrap=True)
    return drive(sweep, console, resumed=True)


def drive(sweep: Sweep, console: Console, resumed: bool) -> SweepReport:
    plan = sweep.plan
    with state.lock(sweep.path):
        done = results.records(sweep)
        if plan.settings.search == "grid":
            jobs: list[Job] | None = [
                Job(r.number, r.name, r.params)
                for r in done
                if state.status_of(sweep.path / r.name, r, epochs(sweep, r)) not in state.FINAL
            ]
        else:
            from zoo.sweep import search

            jobs = None
            search.open_study(plan, search.storage_url(sweep.path, plan))  # before any worker
            if resumed:
                queued = search.requeue(sweep)
                if queued:
                    console.print(f"{queued} unfinished trial(s) queued again", highlight=False)
        monitor = Monitor(sweep, console, done)
        if jobs == []:
            console.print("every run of the sweep is finished", highlight=False)
        else:
            execute(sweep, monitor, jobs)
        ranked = results.rank(plan, results.collect(sweep))
        files = results.write(sweep, ranked)
    failure = monitor.failure.message if monitor.failure else None
    interrupted = monitor.stop.is_set() and failure is None
    return SweepReport(sweep, ranked, files, interrupted, failure)


def epochs(sweep: Sweep, record: state.RunRecord) -> int:
    return results.epochs_of(sweep.path / record.name, sweep.plan, record.params)


def announce(sweep: Sweep, console: Console, available: bool, install: str) -> None:
    """What the sweep will do, and what ranks its runs."""
    plan = sweep.plan
    axes = "; ".join(axis.describe() for axis in plan.axes)
    how = "grid" if plan.settings.search == "grid" else f"{plan.settings.search} search"
    jobs = f", {plan.settings.jobs} at a time" if plan.settings.jobs > 1 else ""
    say = console.print
    say(
        f"[bold]sweep[/bold] of {plan.model} on {plan.dataset}: {plan.runs} runs by {how} "
        f"({axes}){jobs}",
        highlight=False,
        soft_wrap=True,
    )
    say(ranking(plan), highlight=False, soft_wrap=True)
    if not plan.held_out:
        say(
            "[yellow]warning: these runs validate on the test split (--val-split 0), so the "
            "best run's test metric is optimistic: it chose the run. Hold items out with "
            "--val-split 0.1 to keep the test split for the end.[/yellow]",
            highlight=False,
            soft_wrap=True,
        )
    if plan.base.get("tensorboard"):
        say(f"TensorBoard: tensorboard --logdir {sweep.path}", highlight=False, soft_wrap=True)
    elif not available:
        say(f"TensorBoard logging is off: the tensorboard package is missing ({install})")
    say(f"sweep directory: {sweep.path}", highlight=False, soft_wrap=True)


def ranking(plan: Plan) -> str:
    """Which metric ranks the runs, and on what data."""
    split = plan.config({}).val_split  # the shared options alone
    if not plan.held_out:
        data = "the test split"
    elif isinstance(split, float):
        data = f"{100 * split:g} % of the train split held out"
    else:
        data = f"{split} items held out of the train split" if split else "held-out items"
    best = "best epoch" if plan.held_out else "last epoch"
    return f"ranked by {plan.metric_label()} of each run's kept weights ({best}), on {data}"
