"""``zoo runs``: the run directories under a folder, with their progress and the metric of the
weights each keeps (JSON only, no torch), and the newest run for commands given none."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

STAMP = re.compile(r"-(\d{8}-\d{6})")


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def metric_text(metrics: dict[str, Any]) -> str:
    """``val accuracy 85.20 %`` / ``test mae 0.4120`` for the monitored metric of an epoch."""
    for split in ("val", "test"):
        if f"{split}_accuracy" in metrics:
            return f"{split} accuracy {100 * metrics[f'{split}_accuracy']:.2f} %"
        if f"{split}_mae" in metrics:
            return f"{split} mae {metrics[f'{split}_mae']:.4f}"
    return ""


def describe_run(run_dir: Path) -> dict[str, Any]:
    """One run: what it trains, how far it got, and which weights it keeps with their metric."""
    config = read_json(run_dir / "config.json")
    last = read_json(run_dir / "checkpoints" / "last.json")
    best = read_json(run_dir / "checkpoints" / "best.json")
    done, epochs = last.get("epoch", 0), config.get("epochs")
    kept = best or last
    kind = "best on held-out validation" if best else "last"
    metrics = kept.get("metrics") or {}
    text = f"epoch {kept['epoch']} ({kind}): {metric_text(metrics)}" if kept else "none yet"
    return {
        "run": run_dir.name,
        "path": str(run_dir),
        "sweep": run_dir.parent.name if (run_dir.parent / "sweep.json").is_file() else None,
        "model": config.get("model"),
        "dataset": config.get("dataset"),
        "epochs_done": done,
        "epochs": epochs,
        "finished": bool(epochs) and done >= epochs,
        "kept": text,
        "kept_epoch": kept.get("epoch"),
        "kept_metrics": metrics,
    }


def started(run_dir: Path) -> tuple[str, float]:
    """When a run started: the time in its name (or its sweep's), else its modification time."""
    match = STAMP.search(run_dir.name) or STAMP.search(run_dir.parent.name)  # a sweep's run
    return (match.group(1) if match else "", run_dir.stat().st_mtime)


def run_dirs(folder: Path) -> list[Path]:
    """Every run directory (one with a config.json) in ``folder`` or one level below (sweeps),
    oldest first."""
    if not folder.is_dir():
        raise ZooError(f"no runs folder '{folder}' (runs go to runs/ or to zoo train's --out DIR)")
    found = [p for p in folder.glob("*/config.json")] + [p for p in folder.glob("*/*/config.json")]
    return sorted((p.parent for p in found), key=started)


def list_runs(folder: Path) -> list[dict[str, Any]]:
    """:func:`describe_run` of every run in ``folder``, oldest first."""
    return [describe_run(path) for path in run_dirs(folder)]


def newest_run(folder: Path, announce: bool = True) -> Path:
    """The most recently started run in ``folder`` that has a checkpoint (for commands run
    without one); says which on stderr."""
    candidates = [p for p in run_dirs(folder) if (p / "checkpoints" / "last.safetensors").is_file()]
    if not candidates:
        raise ZooError(
            f"no trained run in '{folder}': name a run directory, a checkpoint or a model "
            "(or train one with 'zoo train')"
        )
    if announce:
        from zoo.console import error_console

        error_console.print(f"using the newest run: {candidates[-1]}", highlight=False)
    return candidates[-1]
