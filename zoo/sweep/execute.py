"""Training a sweep's runs: one after another in this process (each dataset opened once for all
of them), or in ``--jobs N`` spawned processes that divide the cores between them (torch threads).

Workers send small events (:mod:`zoo.sweep.jobs`: a run started, an epoch ended, a run ended)
that the driving process's :class:`Tracker` turns into the sweep's state (the best run so far,
whether to stop) and hands on to an observer (the CLI shows progress). Ctrl-C stops every run
after its epoch (the checkpoint saved; twice: now); a run refused with a
:class:`~zoo.errors.ZooError` stops the sweep.
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
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.sweep import search, state
from zoo.sweep.jobs import (
    Crashed,
    Job,
    JobEnded,
    Stopping,
    SweepEvent,
    grid_worker,
)
from zoo.sweep.state import RunRecord, Sweep

PR_SET_PDEATHSIG = 1
JOIN_SECONDS = 120  # how long a second Ctrl-C waits for worker processes to save and stop


def search_worker(sweep: Sweep, worker: int, send: Any, should_stop: Any) -> None:
    """Train Optuna trials until the study holds ``--trials`` or the sweep stops."""
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
        events.put(Crashed(traceback.format_exc()))
        raise


# -- the driving process ---------------------------------------------------------------------


SweepObserver = Callable[[SweepEvent, "Tracker"], None]


class Tracker:
    """The sweep's state as its events arrive: the best run so far, runs done, whether to stop
    (a run interrupted or refused); each event is handed on to ``observer`` with it."""

    def __init__(self, sweep: Sweep, records: list[RunRecord], observer: SweepObserver) -> None:
        self.plan, self.observer = sweep.plan, observer
        self.stop = threading.Event()
        self.failure: Crashed | None = None
        self.best: RunRecord | None = None
        for record in records:
            self.consider(record)
        self.done = sum(r.status in state.FINAL for r in records)

    def consider(self, record: RunRecord) -> None:
        if record.value is None or record.status == "failed":
            return
        if self.best is None or self.plan.better(record.value, self.best.value):  # type: ignore[arg-type]
            self.best = record

    def handle(self, event: SweepEvent) -> None:
        if isinstance(event, JobEnded):
            record = event.record
            self.consider(record)
            self.done += record.status in state.FINAL
            if record.status == "failed":
                self.failure = Crashed(f"{record.name}: {record.message}")
            if record.status in ("interrupted", "failed"):
                self.stop.set()
        elif isinstance(event, Crashed):
            self.failure = event
            self.stop.set()
        self.observer(event, self)


@contextlib.contextmanager
def ctrl_c(tracker: Tracker) -> Iterator[None]:
    """Ctrl-C once: stop after the epochs in progress; twice: stop now."""

    def handle(_signum: int, _frame: Any) -> None:
        if tracker.stop.is_set():
            raise KeyboardInterrupt
        tracker.stop.set()
        tracker.handle(Stopping())

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def execute(sweep: Sweep, tracker: Tracker, jobs: list[Job] | None) -> None:
    """Train ``jobs`` (a grid's runs still to do), or Optuna trials when None, with
    ``--jobs`` workers; returns when all are done or the sweep stops."""
    settings = sweep.plan.settings
    workers = settings.jobs if jobs is None else min(settings.jobs, len(jobs))
    with ctrl_c(tracker):
        if workers <= 1:
            if jobs is None:
                search_worker(sweep, 0, tracker.handle, tracker.stop.is_set)
            else:
                grid_worker(sweep, jobs, tracker.handle, tracker.stop.is_set)
        else:
            in_processes(sweep, tracker, jobs, workers)


def in_processes(sweep: Sweep, tracker: Tracker, jobs: list[Job] | None, workers: int) -> None:
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
                tracker.handle(events.get(timeout=0.2))
            if tracker.stop.is_set():
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
            tracker.handle(events.get(timeout=0.5))
    crashed = [p for p in processes if p.exitcode not in (0, None)]
    if crashed and tracker.failure is None and not tracker.stop.is_set():
        codes = ", ".join(str(p.exitcode) for p in crashed)
        tracker.handle(Crashed(f"a worker process ended unexpectedly (exit code {codes})"))
