"""Training a sweep's runs: one after another in this process (each dataset opened once for all
of them), or in ``--jobs N`` spawned processes that divide the cores between them (torch threads).

Workers send small events (a run started, an epoch ended, a run ended) that the driving process
shows as progress: run i of n, and the best so far. Ctrl-C stops every run after its epoch (the
checkpoint saved; twice: now); a run refused with a :class:`~zoo.errors.ZooError` stops the sweep.
Worker processes die with the driving process, even under SIGKILL (Linux), so ``--resume`` never
races a run that is still going. They are spawned, not forked (no threads or accelerator state
copied): they see the models, datasets and optimizers installed through entry points, not ones
registered at run time by the calling script.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zoo.errors import ZooError
from zoo.sweep import state
from zoo.sweep.plan import Plan, params_label
from zoo.sweep.results import format_metric, kept_value, read_history
from zoo.sweep.state import RunRecord, Sweep

PR_SET_PDEATHSIG = 1
JOIN_SECONDS = 120  # how long a second Ctrl-C waits for worker processes to save and stop


@dataclass(frozen=True)
class Job:
    """One run to train: its number (grid index, or Optuna trial), directory name, parameters."""

    number: int
    name: str
    params: dict[str, Any]
    trial: int | None = None


@dataclass(frozen=True)
class Started:
    job: Job
    epoch: int  # resumed after this epoch; 0 when fresh
    epochs: int


@dataclass(frozen=True)
class EpochEnded:
    job: Job
    epoch: int
    epochs: int
    value: float


@dataclass(frozen=True)
class Ended:
    record: RunRecord


@dataclass(frozen=True)
class Crashed:
    """A worker failed outside a run: a refusal (one line), or a bug (a traceback)."""

    message: str
    bug: bool = False


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
    done = state.saved_epoch(run_dir)
    record = RunRecord(job.number, job.name, job.params, "running", done, trial=job.trial)
    if done >= config.epochs:  # trained, but stopped before it could record so
        return finish(run_dir, record, "finished", "", read_history(run_dir, done), plan, 0.0)
    state.write_record(run_dir, record)
    send(Started(job, done, config.epochs))

    def on_epoch(metrics: dict[str, Any]) -> str | None:
        value = float(metrics[plan.metric])
        send(EpochEnded(job, metrics["epoch"], config.epochs, value))
        status = report(metrics["epoch"], value) if report else None
        return "interrupted" if should_stop() else status

    started = time.perf_counter()
    with open(run_dir / "train.log", "a") as log:
        console = Console(file=log, width=120, color_system=None, soft_wrap=True)
        try:
            outcome = train(config, console, resume_dir=run_dir, on_epoch=on_epoch)
        except ZooError as exc:
            console.print(f"error: {exc}", highlight=False)
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
    history: list[dict[str, Any]],
    plan: Plan,
    seconds: float,
) -> RunRecord:
    record = replace(
        record,
        status=status,
        message=message,
        epoch=history[-1]["epoch"] if history else record.epoch,
        value=kept_value(plan, history),
        seconds=round(seconds, 3),
        epoch_seconds=round(sum(row.get("seconds", 0.0) for row in history), 3),
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
            send(Ended(train_job(sweep, job, send, should_stop)))


def search_worker(sweep: Sweep, worker: int, send: Send, should_stop: ShouldStop) -> None:
    from zoo.sweep import search
    from zoo.train.data import reuse_datasets

    with reuse_datasets():
        search.work(sweep, worker, send, should_stop)


# -- worker processes ------------------------------------------------------------------------


def cores() -> int:
    """The CPU cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux), and leave now if the
    parent is already gone."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def worker_process(
    sweep_path: str,
    worker: int,
    jobs: Any,
    events: Any,
    stop: Any,
    threads: int,
    parent: int,
) -> None:
    """A worker process's body: grid jobs from ``jobs`` (None ends them), or Optuna trials when
    ``jobs`` is None. Ctrl-C is the driving process's to handle, except within a run, where
    training stops after the epoch as ``zoo train`` does."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(threads)
    try:
        sweep = state.load(Path(sweep_path))
        if jobs is None:
            search_worker(sweep, worker, events.put, stop.is_set)
        else:
            grid_worker(sweep, iter(jobs.get, None), events.put, stop.is_set)
    except ZooError as exc:
        events.put(Crashed(str(exc)))
    except BaseException:
        events.put(Crashed(traceback.format_exc(), bug=True))
        raise


# -- the driving process ---------------------------------------------------------------------


class Monitor:
    """Progress of the whole sweep: a bar per run in flight, a line per run ended with the best
    so far; stops the sweep when a run is interrupted or refused."""

    def __init__(self, sweep: Sweep, console: Console, records: list[RunRecord]) -> None:
        self.plan, self.console = sweep.plan, console
        self.stop = threading.Event()
        self.failure: Crashed | None = None
        self.best: RunRecord | None = None
        for record in records:
            self.consider(record)
        self.word = "run" if self.plan.settings.search == "grid" else "trial"
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.done = sum(r.status in state.FINAL for r in records)
        self.overall = self.progress.add_task(
            "sweep", total=self.plan.runs, completed=self.done, note=self.best_text()
        )
        self.tasks: dict[int, Any] = {}

    def __enter__(self) -> Monitor:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def consider(self, record: RunRecord) -> None:
        if record.value is None or record.status == "failed":
            return
        if self.best is None or self.plan.better(record.value, self.best.value):  # type: ignore[arg-type]
            self.best = record

    def best_text(self) -> str:
        if self.best is None:
            return ""
        value = format_metric(self.plan, self.best.value)
        return f"best so far: {value} ({params_label(self.best.params)})"

    def title(self, job: Job) -> str:
        """``run 2 of 4``; a trial by its number in the study (a retried one gets a new one)."""
        if self.plan.settings.search == "grid":
            return f"run {job.number + 1} of {self.plan.runs}"
        return f"trial {job.number}"

    def handle(self, event: Any) -> None:
        if isinstance(event, Started):
            resumed = f", resuming after epoch {event.epoch}" if event.epoch else ""
            if not self.console.is_terminal:
                self.say(
                    f"{self.title(event.job)} started: {params_label(event.job.params)}{resumed}"
                )
            self.tasks[event.job.number] = self.progress.add_task(
                f"{self.title(event.job)} {params_label(event.job.params)}",
                total=event.epochs,
                completed=event.epoch,
                note="",
            )
        elif isinstance(event, EpochEnded):
            task = self.tasks.get(event.job.number)
            if task is not None:
                note = f"epoch {event.epoch}: {format_metric(self.plan, event.value)}"
                self.progress.update(task, completed=event.epoch, note=note)
        elif isinstance(event, Ended):
            self.ended(event.record)
        elif isinstance(event, Crashed):
            self.failure = event
            self.stop.set()

    def ended(self, record: RunRecord) -> None:
        task = self.tasks.pop(record.number, None)
        if task is not None:
            self.progress.remove_task(task)
        self.consider(record)
        if record.status in state.FINAL:
            self.done += 1
            self.progress.advance(self.overall)
        self.progress.update(self.overall, note=self.best_text())
        job = Job(record.number, record.name, record.params)
        result = (
            f"{format_metric(self.plan, record.value)} (epoch {record.epoch})"
            if record.value is not None
            else "no metric"
        )
        title = self.title(job)
        if self.word == "trial":
            title += f" ({self.done} of {self.plan.runs} done)"
        line = f"{title} {record.status}: {params_label(record.params)}: {result}"
        if record.seconds:
            line += f", {record.seconds:.1f} s"
        if record.status == "failed":
            line += f"\n  {record.message}"
        self.say(f"{line}; {self.best_text()}" if self.best else line)
        if record.status in ("interrupted", "failed"):
            if record.status == "failed":
                self.failure = Crashed(f"{record.name}: {record.message}")
            self.stop.set()

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def ctrl_c(monitor: Monitor) -> Iterator[None]:
    """Ctrl-C once: stop after the epochs in progress; twice: stop now."""

    def handle(_signum: int, _frame: Any) -> None:
        if monitor.stop.is_set():
            raise KeyboardInterrupt
        monitor.stop.set()
        monitor.say(
            "[yellow]stopping: runs in progress finish their epoch and save; "
            "Ctrl-C again to stop now[/yellow]"
        )

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def execute(sweep: Sweep, monitor: Monitor, jobs: list[Job] | None) -> None:
    """Train ``jobs`` (a grid's runs still to do), or Optuna trials when None, with
    ``--jobs`` workers; returns when all are done or the sweep stops."""
    settings = sweep.plan.settings
    workers = settings.jobs if jobs is None else min(settings.jobs, len(jobs))
    with ctrl_c(monitor), monitor:
        if workers <= 1:
            if jobs is None:
                search_worker(sweep, 0, monitor.handle, monitor.stop.is_set)
            else:
                grid_worker(sweep, jobs, monitor.handle, monitor.stop.is_set)
        else:
            in_processes(sweep, monitor, jobs, workers)


def in_processes(sweep: Sweep, monitor: Monitor, jobs: list[Job] | None, workers: int) -> None:
    """``workers`` spawned processes (a clean interpreter each: no forked threads or CUDA
    state), the cores divided between them."""
    context = multiprocessing.get_context("spawn")
    events, stop = context.Queue(), context.Event()
    tasks = None
    if jobs is not None:
        tasks = context.Queue()
        for job in [*jobs, *[None] * workers]:
            tasks.put(job)
    threads = max(1, cores() // workers)
    processes = [
        context.Process(
            target=worker_process,
            args=(str(sweep.path), index, tasks, events, stop, threads, os.getpid()),
            name=f"zoo-sweep-worker-{index}",
        )
        for index in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        while any(p.is_alive() for p in processes):
            with contextlib.suppress(queue.Empty):
                monitor.handle(events.get(timeout=0.2))
            if monitor.stop.is_set():
                stop.set()
    except KeyboardInterrupt:  # the second Ctrl-C: the workers got it too and stop now
        stop.set()
        for process in processes:
            process.join(JOIN_SECONDS)
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
            process.join()
    with contextlib.suppress(queue.Empty):
        while True:
            monitor.handle(events.get(timeout=0.5))
    crashed = [p for p in processes if p.exitcode not in (0, None)]
    if crashed and monitor.failure is None and not monitor.stop.is_set():
        codes = ", ".join(str(p.exitcode) for p in crashed)
        monitor.handle(Crashed(f"a worker process ended unexpectedly (exit code {codes})"))
