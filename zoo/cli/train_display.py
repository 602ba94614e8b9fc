"""What ``zoo train`` shows while a run trains: an observer of the run's events that draws a
progress bar per epoch on a terminal and prints each event's lines (:mod:`zoo.train.report`), the
kept weights' per-class table at the end."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from zoo.artifacts.run import ClassResult, DetailRow, TargetResult
from zoo.cli.output import say, show_table
from zoo.train.events import EpochEnded, Event, RunEnded, Steps, StopRequested
from zoo.train.report import event_lines


class TrainDisplay:
    """A run's events on a console."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task: Any = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, Steps):
            self.steps(event)
            return
        if isinstance(event, (EpochEnded, RunEnded)):
            self.close_bar()
        if isinstance(event, RunEnded) and event.kept is not None:
            print_rows(event.kept.rows, self.console, event.kept.title)
        for line in event_lines(event):
            self.say(line, event)

    def say(self, line: str, event: Event) -> None:
        text = escape(line)
        if isinstance(event, StopRequested):
            text = f"[yellow]{text}[/yellow]"
        elif isinstance(event, EpochEnded) and line.endswith("  best"):
            text = text.removesuffix("best") + "[green]best[/green]"
        say(self.console, text)

    def steps(self, event: Steps) -> None:
        """The epoch's progress bar (on a terminal only)."""
        if not self.console.is_terminal:
            return
        if self.progress is None:
            self.progress = Progress(
                TextColumn("epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[speed]} img/s"),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
                refresh_per_second=4,
            )
            self.progress.start()
            self.task = self.progress.add_task(
                "train", total=event.steps, epoch="", loss="…", speed="…"
            )
        self.progress.update(
            self.task,
            completed=event.step,
            total=event.steps,
            epoch=f"{event.epoch}/{event.epochs}",
            loss=f"{event.loss:.4f}",
            speed=f"{event.images_per_second:,.0f}",
        )

    def close_bar(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


def print_rows(rows: list[DetailRow], console: Console, title: str) -> None:
    """The per-class (or per-target) table of an evaluation."""
    targets = [row for row in rows if isinstance(row, TargetResult)]
    classes = [row for row in rows if isinstance(row, ClassResult)]
    if targets:
        columns = ["Target", "MSE", "MAE"]
        cells = [[escape(r.name), f"{r.mse:.4f}", f"{r.mae:.4f}"] for r in targets]
    else:
        columns = ["Class", "Correct", "Total", "Accuracy"]
        cells = [
            [
                escape(row.name),
                f"{row.correct:,}",
                f"{row.total:,}",
                "–" if row.accuracy is None else f"{100 * row.accuracy:.2f} %",
            ]
            for row in classes
        ]
    show_table(columns, cells, right=tuple(columns[1:]), title=title, out=console)
