"""What ``zoo sweep`` shows while it runs: an observer of the sweep's events (run i of n started,
an epoch ended, a run ended, with the best so far) that draws a progress bar per run in flight on
a terminal and prints a line per run ended."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from zoo.cli.output import say
from zoo.sweep import state
from zoo.sweep.jobs import Job, JobEnded, JobEpoch, JobStarted, Stopping, SweepEvent
from zoo.sweep.plan import params_label
from zoo.sweep.state import RunRecord, Sweep


class SweepDisplay:
    """A sweep's events on a console."""

    def __init__(self, sweep: Sweep, console: Console) -> None:
        self.plan, self.console = sweep.plan, console
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
        self.overall: Any = None
        self.tasks: dict[int, Any] = {}

    def __enter__(self) -> SweepDisplay:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def best_text(self, tracker: Any) -> str:
        if tracker.best is None:
            return ""
        value = self.plan.metric_text(tracker.best.value)
        return f"best so far: {value} ({params_label(tracker.best.params)})"

    def title(self, job: Job) -> str:
        """``run 2 of 4``; a trial by its number in the study (a retried one gets a new one)."""
        if self.plan.settings.search == "grid":
            return f"run {job.number + 1} of {self.plan.runs}"
        return f"trial {job.number}"

    def __call__(self, event: SweepEvent, tracker: Any) -> None:
        if self.overall is None:
            self.overall = self.progress.add_task(
                "sweep", total=self.plan.runs, completed=tracker.done, note=self.best_text(tracker)
            )
        if isinstance(event, JobStarted):
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
        elif isinstance(event, JobEpoch):
            task = self.tasks.get(event.job.number)
            if task is not None:
                note = f"epoch {event.epoch}: {self.plan.metric_text(event.value)}"
                self.progress.update(task, completed=event.epoch, note=note)
        elif isinstance(event, JobEnded):
            self.ended(event.record, tracker)
        elif isinstance(event, Stopping):
            self.say(
                "[yellow]stopping: runs in progress finish their epoch and save; "
                "Ctrl-C again to stop now[/yellow]",
                markup=True,
            )

    def ended(self, record: RunRecord, tracker: Any) -> None:
        task = self.tasks.pop(record.number, None)
        if task is not None:
            self.progress.remove_task(task)
        if record.status in state.FINAL:
            self.progress.advance(self.overall)
        self.progress.update(self.overall, note=self.best_text(tracker))
        job = Job(record.number, record.name, record.params)
        result = (
            f"{self.plan.metric_text(record.value)} (epoch {record.epoch})"
            if record.value is not None
            else "no metric"
        )
        title = self.title(job)
        if self.word == "trial":
            title += f" ({tracker.done} of {self.plan.runs} done)"
        line = f"{title} {record.status}: {params_label(record.params)}: {result}"
        if record.seconds:
            line += f", {record.seconds:.1f} s"
        if record.status == "failed":
            line += f"\n  {record.message}"
        best = self.best_text(tracker)
        self.say(f"{line}; {best}" if best else line)

    def say(self, text: str, markup: bool = False) -> None:
        say(self.console, text if markup else escape(text))
