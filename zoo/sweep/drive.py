"""Starting and resuming a sweep: plan, sweep directory, runs, results. ``zoo sweep`` calls
:func:`start` (or :func:`resume`), prints :func:`announcement`, then :func:`run` with an
observer that shows progress, and prints what it returns."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from zoo.errors import ArgumentError
from zoo.files import check_folder
from zoo.sweep import results, state
from zoo.sweep.execute import SweepObserver, Tracker, execute
from zoo.sweep.jobs import Job
from zoo.sweep.plan import SweepPlan, SweepRequest, make_plan
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
    requeued: int = 0  # a resumed search's unfinished trials queued again
    nothing_to_do: bool = False  # every run was already finished


def start(request: SweepRequest) -> Sweep:
    """Check everything and make the sweep directory (nothing trains yet)."""
    from zoo.train import tensorboard

    plan = make_plan(
        request.model,
        request.options,
        list(request.grid),
        request.config,
        request.settings,
        tensorboard.available(),
    )
    check_folder(Path(plan.shared.out), "--out")
    if plan.shared.tensorboard:
        tensorboard.require()
    if plan.settings.search != "grid":
        from zoo.sweep import search

        search.require()
        if plan.settings.storage:  # a shared storage must open before anything starts
            search.open_study(plan, plan.settings.storage)
    return state.create(plan)


def resume(request: SweepRequest) -> Sweep:
    """An existing sweep to finish, as planned (with ``--jobs`` workers, if given)."""
    assert request.resume is not None
    jobs = request.settings.get("jobs")
    changed = [key for key in {**request.options, **request.settings} if key != "jobs"]
    if request.model or request.config or request.grid or changed:
        raise ArgumentError(
            "--resume finishes the sweep as it was planned: give it alone (or with --jobs)"
        )
    check_folder(request.resume, "the sweep directory")
    sweep = state.load(request.resume)
    if jobs is not None:
        settings = dataclasses.replace(sweep.plan.settings, jobs=jobs).check()
        sweep = dataclasses.replace(sweep, plan=dataclasses.replace(sweep.plan, settings=settings))
    return sweep


def run(sweep: Sweep, observer: SweepObserver, resumed: bool) -> SweepReport:
    """Train the sweep's runs still to do: unfinished runs continue from their last checkpoint,
    finished ones stay; rank them and write the results."""
    plan = sweep.plan
    with state.lock(sweep.path):
        done = results.records(sweep)
        queued = 0
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
        tracker = Tracker(sweep, done, observer)
        if jobs != []:
            execute(sweep, tracker, jobs)
        ranked = results.rank(plan, results.collect(sweep))
        files = results.write(sweep, ranked)
    failure = tracker.failure.message if tracker.failure else None
    interrupted = tracker.stop.is_set() and failure is None
    return SweepReport(sweep, ranked, files, interrupted, failure, queued, jobs == [])


def epochs(sweep: Sweep, record: state.RunRecord) -> int:
    return results.epochs_of(sweep.path / record.name, sweep.plan, record.params)


def announcement(sweep: Sweep, available: bool, install: str) -> list[str]:
    """What the sweep will do, what ranks its runs, and where it writes (``available``: the
    tensorboard package is installed)."""
    plan = sweep.plan
    axes = "; ".join(axis.text() for axis in plan.axes)
    how = "grid" if plan.settings.search == "grid" else f"{plan.settings.search} search"
    jobs = f", {plan.settings.jobs} at a time" if plan.settings.jobs > 1 else ""
    lines = [
        f"sweep of {plan.model} on {plan.dataset}: {plan.runs} runs by {how} ({axes}){jobs}",
        ranking(plan),
    ]
    if not plan.held_out:
        lines.append(
            "warning: these runs validate on the test split (--val-split 0), so the best run's "
            "test metric is optimistic: it chose the run. Hold items out with --val-split 0.1 to "
            "keep the test split for the end."
        )
    if plan.shared.tensorboard:
        lines.append(f"TensorBoard: tensorboard --logdir {sweep.path}")
    elif not available:
        lines.append(f"TensorBoard logging is off: the tensorboard package is missing ({install})")
    lines.append(f"sweep directory: {sweep.path}")
    return lines


def ranking(plan: SweepPlan) -> str:
    """Which metric ranks the runs, and on what data."""
    split = plan.config({}).val_split  # the shared options alone
    if not plan.held_out:
        data = "the test split"
    elif isinstance(split, float):
        data = f"{100 * split:.4g} % of the train split held out"
    else:
        data = f"{split} items held out of the train split" if split else "held-out items"
    best = "best epoch" if plan.held_out else "last epoch"
    return f"ranked by {plan.metric_label()} of each run's kept weights ({best}), on {data}"
