"""A sweep's results: every run with its parameters, how it ended and the ranking metric of the
weights it keeps, sorted best first; written as results.csv and results.json, drawn as
plots/sweep.png (the metric against each swept parameter, and every run's validation curve).
Read from the run directories, so a table can be made again at any time."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.artifacts.config import load_run_config
from zoo.artifacts.run import EpochMetrics, RunDir
from zoo.errors import ZooError
from zoo.files import save_figure, write_json, write_text
from zoo.sweep import state
from zoo.sweep.plan import SweepPlan, format_value
from zoo.sweep.state import RunRecord, Sweep

PLOT = Path("plots") / "sweep.png"
LEGEND_UP_TO = 12  # runs named in the curves' legend


@dataclass(frozen=True)
class Result:
    """One run as the results table shows it."""

    number: int
    run: str
    params: dict[str, Any]
    status: str
    epochs_done: int
    epochs: int
    value: float | None  # the ranking metric of the kept weights
    seconds: float
    curve: tuple[tuple[int, float], ...]  # (epoch, metric) of every epoch trained
    trial: int | None = None

    def row(self, plan: SweepPlan) -> dict[str, Any]:
        """A flat row for CSV and JSON."""
        return {
            "rank": None,
            "run": self.run,
            **self.params,
            "status": self.status,
            "epochs": f"{self.epochs_done}/{self.epochs}",
            plan.metric: self.value,
            "seconds": self.seconds,
            "trial": self.trial,
        }


def kept_value(plan: SweepPlan, history: list[EpochMetrics]) -> float | None:
    """The ranking metric of the weights a run keeps: the best epoch on held-out items, the
    last epoch when validating on the test split (as the trainer keeps)."""
    values = [row.value for row in history if row.key == plan.metric]
    if not values:
        return None
    if not plan.held_out:
        return values[-1]
    return max(values) if plan.direction == "maximize" else min(values)


def records(sweep: Sweep) -> list[RunRecord]:
    """Every run of the sweep: a grid's in order, pending ones included; a search's trials in
    the order they were made."""
    found = {}
    for path in sorted(p for p in sweep.path.iterdir() if p.is_dir()):
        record = state.read_record(path)
        if record is not None:
            found[record.name] = record
    if sweep.plan.settings.search != "grid":
        return sorted(found.values(), key=lambda r: r.number)
    return [found.get(run.name, run) for run in sweep.runs]


def collect(sweep: Sweep) -> list[Result]:
    """The results of every run, as its directory says now."""
    plan = sweep.plan
    results = []
    for record in records(sweep):
        run = RunDir(sweep.path / record.name)
        epochs = epochs_of(run.path, plan, record.params)
        status = state.status_of(run.path, record, epochs)
        done = run.saved_epoch()
        history = run.history(done)
        curve = tuple((row.epoch, row.value) for row in history if row.key == plan.metric)
        results.append(
            Result(
                number=record.number,
                run=record.name,
                params=record.params,
                status=status,
                epochs_done=done,
                epochs=epochs,
                value=kept_value(plan, history),
                seconds=record.seconds,
                curve=curve,
                trial=record.trial,
            )
        )
    return results


def epochs_of(run_dir: Path, plan: SweepPlan, params: dict[str, Any]) -> int:
    """The epochs a run is meant to train (its config.json, else as planned)."""
    try:
        return load_run_config(run_dir).epochs
    except ZooError:
        return plan.config(params).epochs


def rank(plan: SweepPlan, results: list[Result]) -> list[Result]:
    """Best first by the ranking metric; runs without one last, in their order."""
    scored = [r for r in results if r.value is not None and not math.isnan(r.value)]
    sign = -1 if plan.direction == "maximize" else 1
    scored.sort(key=lambda r: sign * r.value)  # type: ignore[operator]
    return scored + [r for r in results if r not in scored]


def rows(plan: SweepPlan, ranked: list[Result]) -> list[dict[str, Any]]:
    out = []
    for position, result in enumerate(ranked, 1):
        row = result.row(plan)
        row["rank"] = position if result.value is not None else None
        out.append(row)
    return out


def write(sweep: Sweep, ranked: list[Result]) -> list[Path]:
    """results.json, results.csv and plots/sweep.png in the sweep directory."""
    plan = sweep.plan
    data = rows(plan, ranked)
    paths = [write_json(sweep.path / "results.json", data)]
    text = io.StringIO()
    columns = list(dict.fromkeys(key for row in data for key in row))
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows(data)
    paths.append(write_text(sweep.path / "results.csv", text.getvalue()))
    if any(r.curve for r in ranked):
        paths.append(plot(sweep, ranked))
    return paths


def table(
    plan: SweepPlan, ranked: list[Result]
) -> tuple[list[str], list[list[str]], tuple[str, ...]]:
    """Every run, best first: its parameters, status, epochs and metric, as the header, the
    rows and the right-aligned columns of a table."""
    keys = list(dict.fromkeys(key for r in ranked for key in r.params))
    metric = plan.metric_label()
    columns = ["#", "Run", *keys, "Status", "Epochs", metric, "Seconds"]
    rows = []
    for position, result in enumerate(ranked, 1):
        value = plan.metric_text(result.value).removeprefix(f"{metric} ")
        rows.append(
            [
                str(position) if result.value is not None else "",
                result.run,
                *(format_value(result.params.get(key, "")) for key in keys),
                result.status,
                f"{result.epochs_done}/{result.epochs}",
                value,
                f"{result.seconds:.1f}" if result.seconds else "",
            ]
        )
    return columns, rows, ("#", *keys, "Epochs", metric, "Seconds")


def plot(sweep: Sweep, ranked: list[Result]) -> Path:
    """The metric against each swept parameter (one panel each), and the validation curves of
    every run, the best one drawn boldest, runs stopped early dashed."""
    from matplotlib.figure import Figure

    from zoo.train.report import epoch_axis

    plan = sweep.plan
    keys = [axis.key for axis in plan.axes]
    scale = 100 if plan.metric.endswith("accuracy") else 1
    label = plan.metric_label() + (" (%)" if scale == 100 else "")
    panels = len(keys) + 1
    figure = Figure(figsize=(4.2 * panels, 4), dpi=100)
    scored = [r for r in ranked if r.value is not None and not math.isnan(r.value)]
    for index, key in enumerate(keys):
        axes = figure.add_subplot(1, panels, index + 1)
        parameter_panel(axes, key, scored, scale)
        axes.set_ylabel(label)
    axes = figure.add_subplot(1, panels, panels)
    for result in reversed(ranked):  # the best drawn last, on top
        if result.curve:
            draw_curve(axes, result, best=bool(scored) and result is scored[0], scale=scale)
    epoch_axis(axes, [epoch for result in ranked for epoch, _ in result.curve])
    axes.set_ylabel(label)
    axes.grid(alpha=0.3)
    if len(ranked) <= LEGEND_UP_TO:
        axes.legend(fontsize=7)
    figure.suptitle(
        f"{sweep.name}: {label} (points: each run's kept weights; dashed, ×: stopped early)",
        fontsize=10,
    )
    figure.tight_layout()
    path = sweep.path / PLOT
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(figure, path)


def parameter_panel(axes: Any, key: str, scored: list[Result], scale: float) -> None:
    """The metric of each run against one swept parameter (a log axis for wide numeric ranges,
    categories as ticks)."""
    values = [r.params.get(key) for r in scored]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and values:
        axes.scatter(values, [scale * r.value for r in scored])  # type: ignore[operator]
        if min(values) > 0 and max(values) / min(values) >= 10:  # type: ignore[operator]
            axes.set_xscale("log")
    else:
        labels = sorted({format_value(v) for v in values})
        positions = [labels.index(format_value(v)) for v in values]
        axes.scatter(positions, [scale * r.value for r in scored])  # type: ignore[operator]
        axes.set_xticks(range(len(labels)), labels)
    axes.set_xlabel(key)
    axes.grid(alpha=0.3)


def draw_curve(axes: Any, result: Result, *, best: bool, scale: float) -> None:
    """One run's validation curve; a run cut short (pruned, diverged, interrupted) dashed."""
    stopped = result.status != "finished"
    epochs, values = zip(*result.curve, strict=True)
    params = " ".join(f"{k}={format_value(v)}" for k, v in result.params.items())
    axes.plot(
        epochs,
        [scale * v for v in values],
        marker="x" if stopped else "o",
        markersize=5 if stopped else 3,
        linestyle="--" if stopped else "-",
        linewidth=2.5 if best else 1,
        alpha=1 if best else 0.7,
        label=f"{params} ({result.status})" if stopped else params,
    )
