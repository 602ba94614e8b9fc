"""One run of a sweep, and what the workers say about it: a run started, an epoch ended, a run
ended, a worker crashed. The driving process turns these events into the sweep's state and
hands them on to whoever shows the sweep (:mod:`zoo.sweep.execute`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from zoo.artifacts.run import EpochMetrics, RunDir
from zoo.errors import ZooError
from zoo.sweep import state
from zoo.sweep.plan import SweepPlan
from zoo.sweep.results import kept_value
from zoo.sweep.state import RunRecord, Sweep
from zoo.train.report import LogObserver

LOG_FILE = "train.log"


@dataclass(frozen=True)
class Job:
    """One run to train: its number (grid index, or Optuna trial), directory name, parameters."""

    number: int
    name: str
    params: dict[str, Any]
    trial: int | None = None


@dataclass(frozen=True)
class JobStarted:
    job: Job
    epoch: int  # resumed after this epoch; 0 when fresh
    epochs: int


@dataclass(frozen=True)
class JobEpoch:
    job: Job
    epoch: int
    epochs: int
    value: float


@dataclass(frozen=True)
class JobEnded:
    record: RunRecord


@dataclass(frozen=True)
class Crashed:
    """A worker failed outside a run: a refusal (one line), or a bug (a traceback)."""

    message: str


@dataclass(frozen=True)
class Stopping:
    """Ctrl-C: runs in progress finish their epoch and save (a second one stops now)."""


SweepEvent = JobStarted | JobEpoch | JobEnded | Crashed | Stopping


Send = Callable[[Any], None]
ShouldStop = Callable[[], bool]
Report = Callable[[int, float], "str | None"]  # an epoch's metric to Optuna; "pruned" stops


def train_job(
    sweep: Sweep, job: Job, send: Send, should_stop: ShouldStop, report: Report | None = None
) -> RunRecord:
    """Train (or continue) one run in its directory; its record, also written there."""
    from zoo.train.loop import train

    plan, run_dir = sweep.plan, sweep.path / job.name
    run_dir.mkdir(exist_ok=True)
    config = plan.config(job.params, out=sweep.path)
    run = RunDir(run_dir)
    done = run.saved_epoch()
    record = RunRecord(job.number, job.name, job.params, "running", done, trial=job.trial)
    if done >= config.epochs:  # trained, but stopped before it could record so
        return finish(run_dir, record, "finished", "", run.history(done), plan, 0.0)
    state.write_record(run_dir, record)
    send(JobStarted(job, done, config.epochs))

    def on_epoch(metrics: EpochMetrics) -> str | None:
        send(JobEpoch(job, metrics.epoch, config.epochs, metrics.value))
        status = report(metrics.epoch, metrics.value) if report else None
        return "interrupted" if should_stop() else status

    started = time.perf_counter()
    log = run_dir / LOG_FILE
    try:
        outcome = train(config, [LogObserver(log)], resume_dir=run_dir, on_epoch=on_epoch)
    except ZooError as exc:
        with open(log, "a") as file:
            file.write(f"error: {exc}\n")
        record = replace(record, status="failed", message=str(exc))
        state.write_record(run_dir, record)
        return record
    seconds = time.perf_counter() - started
    return finish(run_dir, record, outcome.status, outcome.message, outcome.history, plan, seconds)


def finish(
    run_dir: Path,
    record: RunRecord,
    status: str,
    message: str,
    history: list[EpochMetrics],
    plan: SweepPlan,
    seconds: float,
) -> RunRecord:
    record = replace(
        record,
        status=status,
        message=message,
        epoch=history[-1].epoch if history else record.epoch,
        value=kept_value(plan, history),
        seconds=round(seconds, 3),
        epoch_seconds=round(sum(row.seconds for row in history), 3),
    )
    state.write_record(run_dir, record)
    return record


def grid_worker(sweep: Sweep, jobs: Iterable[Job], send: Send, should_stop: ShouldStop) -> None:
    """Train grid runs until none is left or the sweep stops; datasets opened once."""
    from zoo.train.data import reuse_datasets

    with reuse_datasets():
        for job in jobs:
            if should_stop():
                return
            send(JobEnded(train_job(sweep, job, send, should_stop)))
