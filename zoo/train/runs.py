"""Run directories: a new one for each run (unique, atomic), the one a torchrun job started
(found again after an elastic restart), the newest for commands given none, and ``zoo runs``'s
listing (JSON only, no torch)."""

from __future__ import annotations

import contextlib
import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from zoo.artifacts.config import TrainConfig
from zoo.artifacts.run import EpochMetrics, RunDir
from zoo.errors import ZooError
from zoo.files import write_json

JOB_FILE = "torchrun.json"  # which torchrun job started a run, to find it again after a restart
SWEEP_FILE = "sweep.json"


def new_run_dir(out: Path, model: str, dataset: str) -> Path:
    """``out/<model>-<dataset>-<time>``, made unique with a suffix when needed."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{model}-{dataset}")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        path = out / f"{stem}-{stamp}" if attempt == 1 else out / f"{stem}-{stamp}-{attempt}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise ZooError(f"cannot make a new run directory in {out}")


def job_run_dir(out: Path, job: str, config: TrainConfig) -> Path | None:
    """The newest run in ``out`` that torchrun job ``job`` started with this configuration."""
    wanted = json.loads(config.to_json())
    found = []
    for marker in out.glob(f"*/{JOB_FILE}"):
        try:
            started = json.loads(marker.read_text())
        except (OSError, ValueError):
            continue
        if started.get("job") == job and started.get("config") == wanted:
            found.append((started.get("time", 0), marker.parent))
    return max(found)[1] if found else None


def run_directory(config: TrainConfig, job: str | None, restart: int) -> Path:
    """A new run directory; after a torchrun restart, the one this torchrun job started (the
    restarted processes then resume it)."""
    out = Path(config.out)
    if job and restart:
        found = job_run_dir(out, job, config)
        if found is not None:
            return found
    path = new_run_dir(out, config.model, config.dataset)
    if job:
        write_json(path / JOB_FILE, {"job": job, "time": time.time(), "config": config.to_dict()})
    return path


def run_row(run: RunDir) -> dict[str, Any]:
    """One run: what it trains, how far it got, and which weights it keeps with their metric
    (read from the kept checkpoint's card)."""
    try:
        config = run.config()
        model, dataset, epochs = config.model, config.dataset, config.epochs
    except ZooError:
        model = dataset = epochs = None
    last, best = run.card("last"), run.card("best")
    kept = best or last
    done = (last.epoch or 0) if last else 0
    text = "none yet"
    if kept is not None:
        which = "best on held-out validation" if best else "last"
        text = f"epoch {kept.epoch} ({which})"
        with contextlib.suppress(KeyError, TypeError, ValueError):  # a card not from a run
            metrics = EpochMetrics.from_json(dict(kept.metrics))
            text += f": {metrics.split} {metrics.kind.text(metrics.value)}"
    return {
        "run": run.name,
        "path": str(run.path),
        "sweep": run.path.parent.name if (run.path.parent / SWEEP_FILE).is_file() else None,
        "model": model,
        "dataset": dataset,
        "epochs_done": done,
        "epochs": epochs,
        "finished": bool(epochs) and done >= epochs,
        "kept": text,
        "kept_epoch": kept.epoch if kept else None,
        "kept_metrics": dict(kept.metrics) if kept else {},
    }


def run_dirs(folder: Path) -> list[RunDir]:
    """Every run directory (one with a config.json) in ``folder`` or one level below (sweeps),
    oldest first."""
    if not folder.is_dir():
        raise ZooError(f"no runs folder '{folder}' (runs go to runs/ or to zoo train's --out DIR)")
    found = [*folder.glob("*/config.json"), *folder.glob("*/*/config.json")]
    return sorted((RunDir(p.parent) for p in found), key=RunDir.started)


def list_runs(folder: Path) -> list[dict[str, Any]]:
    """:func:`run_row` of every run in ``folder``, oldest first."""
    return [run_row(run) for run in run_dirs(folder)]


def newest_run(folder: Path) -> Path:
    """The most recently started run in ``folder`` that has a checkpoint (for commands run
    without one)."""
    candidates = [run for run in run_dirs(folder) if run.checkpoint("last").is_file()]
    if not candidates:
        raise ZooError(
            f"no trained run in '{folder}': name a run directory, a checkpoint or a model "
            "(or train one with 'zoo train')"
        )
    return candidates[-1].path
